package main

import (
	"strings"
	"testing"
)

// TestRun keeps the example working: it runs to the end, and its output
// shows the refused webhook call retried and sent.
func TestRun(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	if err := run(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`delivery retried: Webhook, attempt 1 failed: webhook: notification `,
		`webhook: notification.created "Build 42 failed" link="/ci/builds" (a retry with the same webhook-id: true)`,
		`Webhook  "Build 42 failed"        sent after 2 attempt(s)`,
		`audit    "CI maintenance at noon" sent after 1 attempt(s)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
