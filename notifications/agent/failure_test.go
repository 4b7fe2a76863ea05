package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/agent"
)

// failingStore fails the inbox's calls in the ways a store can.
type failingStore struct {
	notifications.Store
}

func (failingStore) Count(context.Context, string, notifications.Filter) (int, error) {
	return 0, fmt.Errorf("count: %w", notifications.ErrUnavailable)
}

func (failingStore) SetRead(context.Context, string, []string, *time.Time, time.Time) error {
	return errors.New("disk on fire: /var/lib/herald")
}

func (failingStore) MarkAllRead(context.Context, string, notifications.Filter, time.Time) ([]string, error) {
	panic("a store bug")
}

// TestFailures: a store failure is a tool error that says no more than
// the agent can act on, and is logged; a panic is contained.
func TestFailures(t *testing.T) {
	t.Parallel()
	f := setupWith(t, onSQLite, func(s notifications.Store) notifications.Store { return failingStore{s} })
	cs := f.session(t, aliceToken)
	toolError(t, cs, agent.ToolGetNotifications, nil, "unavailable; retry later")

	res := call(t, cs, agent.ToolMarkNotificationsRead, map[string]any{"ids": []string{"6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11"}})
	if !res.IsError || text(res) != "internal error" {
		t.Errorf("store error: %q, want a bare internal error", text(res))
	}
	res = call(t, cs, agent.ToolMarkNotificationsRead, map[string]any{"all": true})
	if !res.IsError || text(res) != "internal error" {
		t.Errorf("panic: %q, want a bare internal error", text(res))
	}
	logs := f.logs.String()
	for _, want := range []string{"disk on fire", "a store bug", "tool=mark-notifications-read"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// The server still serves.
	if status, res := f.rawCall(t, aliceToken, agent.ToolGetNotifications, []byte(`{}`)); status != http.StatusOK || res == nil {
		t.Errorf("after a panic: %d %v", status, res)
	}
}

// TestBehindProxy: a request forwarded to a loopback address under the
// public host name is served.
func TestBehindProxy(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	req, err := http.NewRequest(http.MethodPost, f.url, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get-notifications","arguments":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "herald.example.com"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
}
