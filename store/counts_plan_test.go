package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// TestSQLiteCountsPlanUsesIndexes checks with EXPLAIN QUERY PLAN that
// Counts reads the user's notifications through an index, once, and
// never scans the notification table.
func TestSQLiteCountsPlanUsesIndexes(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	ctx := t.Context()
	now := time.Now()
	ns := make([]notifications.Notification, 1000)
	for i := range ns {
		ns[i] = notifications.Notification{User: fmt.Sprintf("user:default/u%03d", i%100), Origin: "o",
			Created: now.Add(-time.Duration(i) * time.Minute), Payload: notifications.Payload{Title: "t", Topic: "x"}}
	}
	if _, err := s.SaveNotifications(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses
	fs := []notifications.Filter{{Read: new(false)}, {Saved: new(true)}, {Topic: "x"}, {Search: "t", MinimumSeverity: notifications.SeverityHigh}}
	if _, err := s.Counts(ctx, "user:default/u001", fs); err != nil {
		t.Fatal(err)
	}
	qs := log.take()
	if len(qs) != 1 {
		t.Fatalf("Counts ran %d statements, want 1: %q", len(qs), qs)
	}
	plan := explainSQLite(t, s, qs[0])
	reads := 0
	for _, line := range plan {
		if strings.HasPrefix(line, "SCAN notification") {
			t.Errorf("Counts scans the notification table:\n%s\nplan:\n  %s", qs[0], strings.Join(plan, "\n  "))
		}
		if strings.HasPrefix(line, "SEARCH notification") {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("Counts reads the notification table %d times, want once:\n%s\nplan:\n  %s", reads, qs[0], strings.Join(plan, "\n  "))
	}
}
