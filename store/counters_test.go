package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// The inbox counters (migration 20261206000001): their backfill, the
// ON DELETE CASCADE firing the status rows' trigger, the one-statement
// send, and concurrent fan-outs on PostgreSQL.

const countersMigration = "20261206000001"

// counterViews are the views the counters answer.
var counterViews = []notifications.Filter{
	{}, {Read: new(false)}, {Read: new(true)}, {Saved: new(true)}, {Saved: new(false)}, {Seen: new(false)}, {Seen: new(true)},
}

// expectRecounted checks every counter view's Count, Counts and the
// Status of each user against List, which reads the rows themselves.
func expectRecounted(t *testing.T, s *store.Store, what string, users ...string) {
	t.Helper()
	ctx := t.Context()
	for _, u := range users {
		listed := make([]int, len(counterViews))
		for i, f := range counterViews {
			ns, err := s.List(ctx, notifications.Query{User: u, Filter: f})
			if err != nil {
				t.Fatalf("%s: List(%s, %+v): %v", what, u, f, err)
			}
			listed[i] = len(ns)
			if n, err := s.Count(ctx, u, f); err != nil || n != listed[i] {
				t.Errorf("%s: Count(%s, view %d) = %d, %v; List has %d", what, u, i, n, err, listed[i])
			}
		}
		if counts, err := s.Counts(ctx, u, counterViews); err != nil || !slices.Equal(counts, listed) {
			t.Errorf("%s: Counts(%s) = %v, %v; List has %v", what, u, counts, err, listed)
		}
		want := notifications.Status{Unread: listed[1], Read: listed[2], Unseen: listed[5]}
		if st, err := s.Status(ctx, u); err != nil || st != want {
			t.Errorf("%s: Status(%s) = %+v, %v; List has %+v", what, u, st, err, want)
		}
	}
}

// unmigrateCounters takes s's database back to the schema before the
// counters: their triggers, functions and tables dropped, the migration's
// record deleted.
func unmigrateCounters(t *testing.T, s *store.Store, postgres bool) {
	t.Helper()
	qs := []string{"DROP TABLE inbox_count", "DROP TABLE broadcast_count"}
	if postgres {
		for _, f := range []string{"herald_notification_count", "herald_broadcast_user_status_count", "herald_broadcast_count", "herald_truncate_count"} {
			qs = append(qs, "DROP FUNCTION "+f+"() CASCADE") // its triggers with it
		}
	} else {
		for _, table := range []string{"notification", "broadcast_user_status"} {
			for _, op := range []string{"insert", "update", "delete"} {
				qs = append(qs, "DROP TRIGGER "+table+"_count_"+op)
			}
		}
		qs = append(qs, "DROP TRIGGER broadcast_count_insert", "DROP TRIGGER broadcast_count_delete")
	}
	qs = append(qs, "DELETE FROM herald_migrations WHERE name = '"+countersMigration+"'")
	for _, q := range qs {
		if _, err := s.DB().ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var triggers int
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'"
	if postgres {
		q = "SELECT COUNT(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid " +
			"WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
	}
	if err := s.DB().QueryRowContext(t.Context(), q).Scan(&triggers); err != nil || triggers != 0 {
		t.Fatalf("after unmigrating: %d triggers (%v), want none", triggers, err)
	}
}

// inboxUsers are the users writeInboxes writes for: two with rows of
// their own, one with broadcasts only.
var inboxUsers = []string{"user:default/a", "user:default/b", "user:default/c"}

// writeInboxes writes notifications and broadcasts in every state for
// inboxUsers, through the store.
func writeInboxes(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ns []notifications.Notification
	for i := range 60 {
		ns = append(ns, notifications.Notification{User: inboxUsers[i%2], Origin: "o", Created: now.Add(-time.Duration(i) * time.Second),
			Payload: notifications.Payload{Title: fmt.Sprintf("n%d", i)}})
	}
	ns, err := s.SaveNotifications(ctx, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	var bs []string
	for i := range 12 {
		b, err := s.SaveBroadcast(ctx, notifications.Notification{Origin: "o", Created: now, Payload: notifications.Payload{Title: fmt.Sprintf("b%d", i)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b.ID)
	}
	until := now.Add(time.Hour)
	for k, u := range inboxUsers {
		var own []string
		for i, n := range ns {
			if n.User == u {
				own = append(own, ns[i].ID)
			}
		}
		if len(own) == 0 {
			own = make([]string, 12)
		}
		for _, step := range []struct {
			set func(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error
			at  *time.Time
			ids []string
		}{
			{s.SetRead, &now, append(own[0:6:6], bs[k:k+4]...)},
			{s.SetSaved, &now, append(own[4:9:9], bs[k+2:k+5]...)},
			{s.SetSeen, &now, append(own[8:10:10], bs[k+5])},
			{s.SetArchived, &now, append(own[3:5:5], bs[k+3], bs[k+6])},
			{s.SetSnoozed, &until, append(own[9:11:11], bs[k+7])},
		} {
			if err := step.set(ctx, u, step.ids, step.at, now); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testCountersBackfill checks that the counters migration counts the
// rows written before it, reopened with open.
func testCountersBackfill(t *testing.T, postgres bool, open func() *store.Store) {
	s := open()
	writeInboxes(t, s) // with the counters
	unmigrateCounters(t, s, postgres)
	writeInboxes(t, s) // before them
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	expectMigrations(t, s)
	expectRecounted(t, s, "after the migration", append(inboxUsers, "user:default/nobody")...)
	writeInboxes(t, s) // and once more, kept by the triggers
	expectRecounted(t, s, "after writing again", inboxUsers...)
}

func TestSQLiteCountersBackfill(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	testCountersBackfill(t, false, func() *store.Store { return openSQLitePath(t, path) })
}

func TestPostgresCountersBackfill(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	testCountersBackfill(t, true, func() *store.Store { return openPostgresDSN(t, dsn) })
}

// testRetentionCascade checks that deleting broadcasts (retention) takes
// their status rows' states out of the counters: the status rows go by
// the foreign key's ON DELETE CASCADE, which must fire their DELETE
// trigger on either database (SQLite runs foreign key actions as
// triggers; PostgreSQL runs the cascade as a statement of its own).
func testRetentionCascade(t *testing.T, s *store.Store) {
	ctx := t.Context()
	writeInboxes(t, s)
	var before int
	if err := s.DB().QueryRowContext(ctx, "SELECT SUM(b_hidden + b_not_unread + b_read + b_saved + b_not_unseen) FROM inbox_count").Scan(&before); err != nil || before == 0 {
		t.Fatalf("broadcast state counts before retention: %d, %v; want some", before, err)
	}
	if _, err := s.DeleteOlderThan(ctx, time.Now().Add(time.Hour), 5); err != nil {
		t.Fatal(err)
	}
	var statuses, left, broadcasts int
	err := s.DB().QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM broadcast_user_status), "+
		"(SELECT COALESCE(SUM(visible + unread + saved + unseen + b_hidden + b_not_unread + b_read + b_saved + b_not_unseen), 0) FROM inbox_count), "+
		"(SELECT SUM(n) FROM broadcast_count)").Scan(&statuses, &left, &broadcasts)
	if err != nil {
		t.Fatal(err)
	}
	if statuses != 0 || left != 0 || broadcasts != 0 {
		t.Errorf("after deleting everything: %d status rows, counters summing to %d, broadcast count %d; want all 0", statuses, left, broadcasts)
	}
	expectRecounted(t, s, "after retention", inboxUsers...)
}

func TestSQLiteRetentionCascadeCounted(t *testing.T) {
	t.Parallel()
	testRetentionCascade(t, openSQLite(t))
}

func TestPostgresRetentionCascadeCounted(t *testing.T) {
	t.Parallel()
	testRetentionCascade(t, openPostgres(t))
}

// testSaveUnlessSettingsCounted checks the one-statement send the
// Service uses for a user without settings: counted when it stores, not
// when the user's settings stop it.
func testSaveUnlessSettingsCounted(t *testing.T, s *store.Store) {
	ctx := t.Context()
	n := notifications.Notification{User: "user:default/a", Origin: "o", Payload: notifications.Payload{Title: "t"}}
	if _, ok, err := s.SaveUnlessSettings(ctx, n); err != nil || !ok {
		t.Fatalf("SaveUnlessSettings = %v, %v; want stored", ok, err)
	}
	if err := s.ReplaceSettings(ctx, "user:default/b", []notifications.SettingRow{{Channel: "Web", Origin: "o", Enabled: true}}); err != nil {
		t.Fatal(err)
	}
	n.User = "user:default/b"
	if _, ok, err := s.SaveUnlessSettings(ctx, n); err != nil || ok {
		t.Fatalf("SaveUnlessSettings for a user with settings = %v, %v; want not stored", ok, err)
	}
	expectRecounted(t, s, "SaveUnlessSettings", "user:default/a", "user:default/b")
	if st, _ := s.Status(ctx, "user:default/a"); st.Unread != 1 {
		t.Errorf("Status after one send = %+v, want 1 unread", st)
	}
}

func TestSQLiteSaveUnlessSettingsCounted(t *testing.T) {
	t.Parallel()
	testSaveUnlessSettingsCounted(t, openSQLite(t))
}

func TestPostgresSaveUnlessSettingsCounted(t *testing.T) {
	t.Parallel()
	testSaveUnlessSettingsCounted(t, openPostgres(t))
}

// TestPostgresConcurrentFanOutsExact runs fan-outs of more than one
// statement each (over maxBatchRows rows) to overlapping users at once,
// their recipients in the same order or in opposite orders. Each
// statement upserts its users' counters in user order, and the store
// writes a fan-out's rows in user order whatever order they came in
// (writeOrder), so every transaction takes those locks in one global
// order and none deadlocks: every fan-out must succeed, and the counts
// come out exact. (In input order, opposite fan-outs deadlocked.)
func TestPostgresConcurrentFanOutsExact(t *testing.T) {
	t.Parallel()
	for _, opposite := range []bool{false, true} {
		t.Run(fmt.Sprintf("opposite=%v", opposite), func(t *testing.T) {
			t.Parallel()
			testConcurrentFanOuts(t, opposite)
		})
	}
}

func testConcurrentFanOuts(t *testing.T, opposite bool) {
	s := openPostgres(t)
	ctx := t.Context()
	const users, senders, rounds = 1300, 4, 3
	all := make([]string, users)
	for i := range all {
		all[i] = fmt.Sprintf("user:default/u%04d", i)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stored int
	)
	errs := make(chan error, senders*rounds)
	for g := range senders {
		wg.Go(func() {
			order := slices.Clone(all)
			if opposite && g%2 == 1 {
				slices.Reverse(order)
			}
			for range rounds {
				ns := make([]notifications.Notification, len(order))
				for i, u := range order {
					ns[i] = notifications.Notification{User: u, Origin: "o", Payload: notifications.Payload{Title: "t"}}
				}
				if _, err := s.SaveNotifications(ctx, ns, nil); err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				stored++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	// The store writes a fan-out's rows in user order whatever the
	// input's (writeOrder), so no two of them deadlock on the counters.
	for err := range errs {
		t.Errorf("a fan-out failed: %v", err)
	}
	if stored != senders*rounds {
		t.Fatalf("%d fan-outs stored, want %d", stored, senders*rounds)
	}
	expectRecounted(t, s, "concurrent fan-outs", all[0], all[650], all[users-1])
	if n, err := s.Count(ctx, all[1], notifications.Filter{Read: new(false)}); err != nil || n != stored {
		t.Errorf("Count = %d, %v; want %d, one per fan-out stored", n, err, stored)
	}
}
