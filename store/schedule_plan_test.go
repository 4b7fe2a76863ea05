package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// TestSQLiteSchedulePlansUseIndexes checks with EXPLAIN QUERY PLAN, among
// 10,000 waiting schedules, that the scheduler's statements read indexes
// (the claim and the next-due poll herald_schedule_due_idx) and never
// scan herald_schedule or herald_send, and that a keyed send's lookup is
// one probe of herald_send_idempotency_idx. A send itself runs no
// statement on herald_schedule at all.
func TestSQLiteSchedulePlansUseIndexes(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	ctx := t.Context()
	now := time.Now().UTC()
	for i := range 10_000 {
		o := notifications.SendOptions{Origin: fmt.Sprintf("plugin:p%d", i%10), Recipients: notifications.Entity("user:default/u"),
			Payload: notifications.Payload{Title: "t", Severity: notifications.SeverityNormal}}
		if i%100 == 0 {
			o.IdempotencyKey = fmt.Sprintf("k%d", i)
		}
		if _, err := s.SaveSchedule(ctx, notifications.SaveScheduleOptions{Schedule: notifications.ScheduledSend{
			Options: o, At: now.Add(time.Duration(i) * time.Second), Created: now}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses

	var claims []notifications.ScheduleClaim
	calls := []struct {
		name string
		fn   func() error
	}{
		{"next due", func() error { _, _, err := s.NextScheduleDue(ctx); return err }},
		{"claim", func() error {
			var err error
			claims, err = s.ClaimSchedules(ctx, notifications.ClaimOptions{Now: now.Add(time.Minute), Lease: time.Minute, Limit: 16})
			return err
		}},
		{"run", func() error {
			c := claims[0]
			_, err := s.SaveNotifications(ctx, []notifications.Notification{{User: "user:default/u", Origin: c.Schedule.Options.Origin,
				Created: now, Payload: c.Schedule.Options.Payload}}, &notifications.DeliveryWrite{Send: notifications.SendRecord{
				Origin: c.Schedule.Options.Origin, Options: c.Schedule.Options, Created: now,
				Schedule: &notifications.ScheduleLease{ID: c.Schedule.ID, Token: c.Token}}})
			return err
		}},
		{"finish", func() error {
			return s.FinishSchedule(ctx, notifications.ScheduleOutcome{ID: claims[1].Schedule.ID, Token: claims[1].Token,
				Status: notifications.ScheduleFailed, Now: now})
		}},
		{"cancel", func() error { return s.CancelSchedule(ctx, claims[2].Schedule.ID, now) }},
		{"get", func() error { _, err := s.GetSchedule(ctx, claims[3].Schedule.ID); return err }},
		{"list", func() error {
			_, err := s.ListSchedules(ctx, notifications.ScheduleFilter{Origin: "plugin:p3", Limit: 20})
			return err
		}},
		{"keyed schedule", func() error {
			o := notifications.SendOptions{Origin: "plugin:p0", Recipients: notifications.Entity("user:default/u"),
				Payload: notifications.Payload{Title: "t"}, IdempotencyKey: "k0"}
			_, err := s.SaveSchedule(ctx, notifications.SaveScheduleOptions{Schedule: notifications.ScheduledSend{Options: o, At: now, Created: now},
				KeyExpiredBefore: now.Add(-time.Hour)})
			return err
		}},
		{"keyed send lookup", func() error {
			if _, err := s.KeyedSend(ctx, "plugin:p0", "k0"); !errors.Is(err, notifications.ErrNotFound) {
				return err
			}
			return nil
		}},
		{"send", func() error {
			_, err := s.SaveNotifications(ctx, []notifications.Notification{{User: "user:default/v", Origin: "o", Created: now,
				Payload: notifications.Payload{Title: "t"}}}, nil)
			return err
		}},
		{"key expiry", func() error { _, err := s.DeleteExpiredIdempotencyKeys(ctx, now, 10); return err }},
		{"schedule retention", func() error { _, err := s.DeleteFinishedSchedules(ctx, now, 10); return err }},
	}
	usedDue := map[string]bool{}
	for _, c := range calls {
		if err := c.fn(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, q := range log.take() {
			if q == "BEGIN" || q == "COMMIT" {
				continue
			}
			if c.name == "send" && strings.Contains(q, "herald_schedule") {
				t.Errorf("a send touches herald_schedule: %s", q)
			}
			plan := explainSQLite(t, s, q)
			for _, line := range plan {
				for _, table := range []string{"herald_schedule", "h", "herald_send"} {
					if (line == "SCAN "+table || strings.HasPrefix(line, "SCAN "+table+" ")) && !strings.Contains(line, " USING ") {
						t.Errorf("%s scans %s without an index:\n%s\nplan:\n  %s", c.name, table, q, strings.Join(plan, "\n  "))
					}
				}
				if strings.Contains(line, "herald_schedule_due_idx") {
					usedDue[c.name] = true
				}
			}
		}
	}
	// KeyedSend's statement is prepared once, out of the hook's sight.
	lookup := explainSQLite(t, s, `SELECT id, request_hash, created, result, options FROM herald_send WHERE origin = 'plugin:p0' AND idempotency_key = 'k0'`)
	if len(lookup) != 1 || !strings.Contains(lookup[0], "USING INDEX herald_send_idempotency_idx (origin=? AND idempotency_key=?)") {
		t.Errorf("the keyed send lookup is not one probe of herald_send_idempotency_idx:\n  %s", strings.Join(lookup, "\n  "))
	}
	for _, name := range []string{"next due", "claim"} {
		if !usedDue[name] {
			t.Errorf("%s does not read herald_schedule_due_idx", name)
		}
	}
}
