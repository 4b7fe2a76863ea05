package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
)

// TestPreparedReadsMatchText checks that the reads run prepared
// (readstmt.go) answer exactly what the same reads run as text answer:
// one store prepares them, another on the same database has its cache
// full and runs them all as text, on SQLite and on PostgreSQL.
func TestPreparedReadsMatchText(t *testing.T) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "herald.db")
		preparedReadsMatchText(t, func() (*Store, error) { return OpenSQLite(t.Context(), path) })
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		dsn := testdb.PostgresSchema(t)
		preparedReadsMatchText(t, func() (*Store, error) { return OpenPostgres(t.Context(), dsn) })
	})
}

// preparedReadsMatchText opens two stores on one database, one whose
// read cache is full (so its reads run as text), and checks that both
// read the same.
func preparedReadsMatchText(t *testing.T, open func() (*Store, error)) {
	ctx := t.Context()
	prepared, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Close()
	text, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	// Fill text's cache with statements no read has.
	for i := range maxReadStmts {
		filler, err := text.db.DB.PrepareContext(ctx, "SELECT 1")
		if err != nil {
			t.Fatal(err)
		}
		if text.reads.m == nil {
			text.reads.m = map[string]*sql.Stmt{}
		}
		text.reads.m[fmt.Sprint("filler ", i)] = filler
	}

	const u = "user:default/u1"
	now := time.Now().UTC().Truncate(time.Millisecond)
	ns := make([]notifications.Notification, 60)
	for i := range ns {
		ns[i] = notifications.Notification{User: u, Origin: "o", Created: now.Add(-time.Duration(i) * time.Minute),
			Payload: notifications.Payload{Title: fmt.Sprint("build ", i), Topic: fmt.Sprint("t", i%3), Severity: notifications.SeverityNormal}}
	}
	ns, err = prepared.SaveNotifications(ctx, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := prepared.SaveBroadcast(ctx, notifications.Notification{Origin: "o", Created: now.Add(-90 * time.Second),
		Payload: notifications.Payload{Title: "broadcast", Severity: notifications.SeverityNormal}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Minute)
	ids := func(from, step int) []string {
		var out []string
		for i := from; i < len(ns); i += step {
			out = append(out, ns[i].ID)
		}
		return out
	}
	for _, set := range []func() error{
		func() error { return prepared.SetRead(ctx, u, append(ids(1, 2), b.ID), &at, at) },
		func() error { return prepared.SetSeen(ctx, u, ids(0, 3), &at, at) },
		func() error { return prepared.SetArchived(ctx, u, ids(4, 7), &at, at) },
		func() error { return prepared.SetSnoozed(ctx, u, ids(5, 11), new(now.Add(time.Hour)), at) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}

	var filters []notifications.Filter
	for _, read := range []*bool{nil, new(false), new(true)} {
		for _, seen := range []*bool{nil, new(false), new(true)} {
			for _, archived := range []*bool{nil, new(true)} {
				filters = append(filters, notifications.Filter{Read: read, Seen: seen, Archived: archived},
					notifications.Filter{Read: read, Seen: seen, Archived: archived, Topic: "t1", Search: "BUILD"})
			}
		}
	}
	for _, f := range filters {
		for _, limit := range []int{0, 5} {
			q := notifications.Query{User: u, Filter: f, Limit: limit, Offset: 2}
			want, err := text.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := prepared.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("List(%+v): prepared %v, text %v", q, got, want)
			}
		}
		want, err := text.Count(ctx, u, f)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := prepared.Count(ctx, u, f); err != nil || got != want {
			t.Errorf("Count(%+v): prepared %d (%v), text %d", f, got, err, want)
		}
	}
	want, err := text.Counts(ctx, u, filters[:10])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := prepared.Counts(ctx, u, filters[:10]); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Counts: prepared %v (%v), text %v", got, err, want)
	}
	wantStatus, err := text.Status(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := prepared.Status(ctx, u); err != nil || got != wantStatus {
		t.Errorf("Status: prepared %+v (%v), text %+v", got, err, wantStatus)
	}
	if n := len(prepared.reads.m); n == 0 || n > maxReadStmts {
		t.Errorf("the prepared store keeps %d reads, want 1 to %d", n, maxReadStmts)
	}
	if n := len(text.reads.m); n != maxReadStmts {
		t.Errorf("the full cache holds %d reads, want %d", n, maxReadStmts)
	}
}
