package rest

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// writeMarshalers writes what writeJSON writes for the send response.
func TestWriteMarshalersMatchesWriteJSON(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	n := notifications.Notification{
		ID: "6f1c1b9e-0000-4000-8000-000000000001", User: "user:default/jane", Origin: "plugin:ci", Created: now,
		Payload: notifications.Payload{Title: "<b>&amp; \u2028 é</b>", Description: "a\nb\"c", Link: "/x?a=1&b=2",
			Severity: notifications.SeverityHigh, Metadata: map[string]any{"k": "<v>"}},
	}
	updated := n
	updated.Updated = &now
	for _, vs := range [][]json.Marshaler{{}, {n.Compact()}, {n.Compact(), updated}} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, 200, vs)
		writeMarshalers(got, 200, vs)
		if got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("writeMarshalers = %q, want %q", got.Body, want.Body)
		}
	}
}
