package storetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

const brokenEnv = "STORETEST_BROKEN"

// brokenStore is Herald's SQLite store with one plausible bug planted.
type brokenStore struct {
	*store.Store
	flaw string
}

// SetRead: "clears-for-everyone" clears a broadcast's read state for every
// user, as an UPDATE without its user condition would.
func (b brokenStore) SetRead(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error {
	if err := b.Store.SetRead(ctx, user, ids, at, now); err != nil || b.flaw != "clears-for-everyone" || at != nil {
		return err
	}
	_, err := b.DB().ExecContext(ctx, "UPDATE broadcast_user_status SET read = NULL WHERE broadcast_id IN (?)", bun.List(ids))
	return err
}

func (b brokenStore) List(ctx context.Context, q notifications.Query) ([]notifications.Notification, error) {
	switch b.flaw {
	case "zero-is-no-bound": // the zero time taken for "no bound"
		if q.Filter.CreatedBefore != nil && q.Filter.CreatedBefore.IsZero() {
			q.Filter.CreatedBefore = nil
		}
	case "case-sensitive-search":
		if q.Filter.Search != "" {
			ns, err := b.Store.List(ctx, notifications.Query{User: q.User, Filter: q.Filter})
			if err != nil {
				return nil, err
			}
			return slices.DeleteFunc(ns, func(n notifications.Notification) bool {
				return !strings.Contains(n.Payload.Title, q.Filter.Search) && !strings.Contains(n.Payload.Description, q.Filter.Search)
			}), nil
		}
	case "skips-tie": // a page after a position loses rows tied with it
		if q.After != nil {
			q.After.Created = q.After.Created.Add(-time.Millisecond)
		}
	}
	return b.Store.List(ctx, q)
}

// SaveNotifications: "not-atomic" writes the rows one call at a time.
func (b brokenStore) SaveNotifications(ctx context.Context, ns []notifications.Notification, w *notifications.DeliveryWrite) ([]notifications.Notification, error) {
	if b.flaw != "not-atomic" {
		return b.Store.SaveNotifications(ctx, ns, w)
	}
	out := make([]notifications.Notification, 0, len(ns))
	for _, n := range ns {
		got, err := b.Store.SaveNotifications(ctx, []notifications.Notification{n}, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// DeleteOlderThan: "cutoff-exclusive" keeps rows changed exactly at the
// cutoff.
func (b brokenStore) DeleteOlderThan(ctx context.Context, cutoff time.Time, batchSize int) (int, error) {
	if b.flaw == "cutoff-exclusive" {
		cutoff = cutoff.Add(-time.Millisecond)
	}
	return b.Store.DeleteOlderThan(ctx, cutoff, batchSize)
}

// SettingRows: "settings-unordered" returns each user's rows reversed.
func (b brokenStore) SettingRows(ctx context.Context, users []string) (map[string][]notifications.SettingRow, error) {
	rows, err := b.Store.SettingRows(ctx, users)
	if b.flaw == "settings-unordered" {
		for _, rs := range rows {
			slices.Reverse(rs)
		}
	}
	return rows, err
}

// ClaimDeliveries: "claims-early" takes deliveries due within the next
// minute, as a claimer that pads its clock would.
func (b brokenStore) ClaimDeliveries(ctx context.Context, o notifications.ClaimOptions) ([]notifications.DeliveryClaim, error) {
	if b.flaw == "claims-early" {
		o.Now = o.Now.Add(time.Minute)
	}
	return b.Store.ClaimDeliveries(ctx, o)
}

// FinishDelivery: "stale-outcome-kept" records an outcome whose lease
// was lost, as an UPDATE without the token in its condition would.
func (b brokenStore) FinishDelivery(ctx context.Context, o notifications.DeliveryOutcome) (notifications.Delivery, error) {
	d, err := b.Store.FinishDelivery(ctx, o)
	if b.flaw == "stale-outcome-kept" && errors.Is(err, notifications.ErrLeaseLost) {
		return b.GetDelivery(ctx, o.ID)
	}
	return d, err
}

// ClaimSchedules: "schedule-claims-early" takes schedules due within the
// next minute.
func (b brokenStore) ClaimSchedules(ctx context.Context, o notifications.ClaimOptions) ([]notifications.ScheduleClaim, error) {
	if b.flaw == "schedule-claims-early" {
		o.Now = o.Now.Add(time.Minute)
	}
	return b.Store.ClaimSchedules(ctx, o)
}

// KeyedSend: "result-forgotten" keeps the key but not what the send
// returned, as a store that re-read nothing would.
func (b brokenStore) KeyedSend(ctx context.Context, origin, key string) (notifications.KeyedSend, error) {
	k, err := b.Store.KeyedSend(ctx, origin, key)
	if b.flaw == "result-forgotten" {
		k.Result = []notifications.Notification{}
	}
	return k, err
}

// HoldDelivery: "hold-counts-attempt" leaves the claim's attempt
// counted, as a hold done with FinishDelivery would.
func (b brokenStore) HoldDelivery(ctx context.Context, h notifications.DeliveryHold) (notifications.Delivery, error) {
	if b.flaw != "hold-counts-attempt" {
		return b.Store.HoldDelivery(ctx, h)
	}
	return b.FinishDelivery(ctx, notifications.DeliveryOutcome{ID: h.ID, Token: h.Token, Status: notifications.DeliveryRetrying, NextAttempt: &h.Until, Now: h.Now})
}

// Counts: "counts-misplaced" packs the counts of filters that match
// something first, as a store that skipped the others' columns without
// keeping their places would.
func (b brokenStore) Counts(ctx context.Context, user string, fs []notifications.Filter) ([]int, error) {
	counts, err := b.Store.Counts(ctx, user, fs)
	if err != nil || b.flaw != "counts-misplaced" {
		return counts, err
	}
	packed := slices.DeleteFunc(slices.Clone(counts), func(n int) bool { return n == 0 })
	return append(packed, make([]int, len(counts)-len(packed))...), nil
}

// SetArchived: "archive-not-counted" leaves an archived row in the
// maintained counts, as a counter trigger that missed the archived
// column would.
func (b brokenStore) SetArchived(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error {
	if err := b.Store.SetArchived(ctx, user, ids, at, now); err != nil || b.flaw != "archive-not-counted" || at == nil {
		return err
	}
	_, err := b.DB().ExecContext(ctx, `UPDATE inbox_count SET visible = visible + 1 WHERE "user" = ?`, user)
	return err
}

// TestSuiteCatchesBrokenStores runs the suite, in a child process, against
// stores that each break one rule, and checks that the subtest guarding
// that rule fails: a suite that cannot fail proves nothing.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	if os.Getenv(brokenEnv) != "" {
		t.Skip("running as the child")
	}
	tests := []struct{ flaw, wantFailure string }{
		{"clears-for-everyone", "BroadcastClearIsPerUser"},
		{"zero-is-no-bound", "TimeBoundsOutOfRange"},
		{"case-sensitive-search", "Search"},
		{"skips-tie", "CursorPagination"},
		{"not-atomic", "FailedSendWritesNothing"},
		{"cutoff-exclusive", "DeleteOlderThan"},
		{"settings-unordered", "SettingsOrderAndReplace"},
		{"claims-early", "RetryScheduling"},
		{"stale-outcome-kept", "ClaimLeaseExpiry"},
		{"schedule-claims-early", "ScheduleLease"},
		{"result-forgotten", "KeyedSendResult"},
		{"hold-counts-attempt", "HoldDelivery"},
		{"counts-misplaced", "CountsMatchCount"},
		{"archive-not-counted", "CountersFollowEveryWrite"},
	}
	// The control: with no flaw the wrapper passes the whole suite, so the
	// failures below are the flaws'.
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenStore$")
		cmd.Env = append(os.Environ(), brokenEnv+"=none")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("the suite fails the store without a flaw (err %v):\n%s", err, out)
		}
	})
	for _, tc := range tests {
		t.Run(tc.flaw+"/"+tc.wantFailure, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenStore$/^"+tc.wantFailure+"$", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tc.flaw)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--- FAIL: TestBrokenStore/"+tc.wantFailure+" ") {
				t.Errorf("the suite did not catch a store that %s (err %v):\n%s", tc.flaw, err, out)
			}
		})
	}
}

// TestBrokenStore is the child of TestSuiteCatchesBrokenStores.
func TestBrokenStore(t *testing.T) {
	flaw := os.Getenv(brokenEnv)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesBrokenStores")
	}
	storetest.Run(t, func(t *testing.T) notifications.Store {
		s, err := store.OpenSQLite(context.Background(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return brokenStore{Store: s, flaw: flaw}
	})
}
