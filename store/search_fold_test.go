package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// unmigrateSearchFold takes s's database back to the schema before the
// search fold migration: its columns dropped, its record deleted. The
// rows keep everything else, as an older Herald wrote them.
func unmigrateSearchFold(t testing.TB, s *store.Store) {
	t.Helper()
	for _, q := range []string{
		"ALTER TABLE notification DROP COLUMN title_fold",
		"ALTER TABLE notification DROP COLUMN description_fold",
		"ALTER TABLE broadcast DROP COLUMN title_fold",
		"ALTER TABLE broadcast DROP COLUMN description_fold",
		"DELETE FROM herald_migrations WHERE name = '20261204000003'",
	} {
		if _, err := s.DB().ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// backfillRows is more than two of the backfill's batches (500 rows).
const backfillRows = 1201

// seedForBackfill writes backfillRows notifications of user "u" (title
// "ÄRGER <i>", every third with a description), one of user "v", and two
// broadcasts.
func seedForBackfill(t testing.TB, s *store.Store, rows int) {
	t.Helper()
	now := time.Now().UTC()
	ns := make([]notifications.Notification, 0, rows+1)
	for i := range rows {
		n := notifications.Notification{User: "u", Origin: "o", Created: now.Add(-time.Duration(i) * time.Second),
			Payload: notifications.Payload{Title: fmt.Sprintf("ÄRGER %d", i)}}
		if i%3 == 0 {
			n.Payload.Description = "ÜBER DEN BUILD"
		}
		ns = append(ns, n)
	}
	ns = append(ns, notifications.Notification{User: "v", Origin: "o", Created: now, Payload: notifications.Payload{Title: "ärger"}})
	if _, err := s.SaveNotifications(context.Background(), ns, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []notifications.Payload{{Title: "GRÜẞE", Description: "Straße"}, {Title: "plain"}} {
		if _, err := s.SaveBroadcast(context.Background(), notifications.Notification{Origin: "o", Created: now, Payload: p}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// testBackfill checks that rows written before the search fold migration
// are found by search once it has run on them, reopened with open.
func testBackfill(t *testing.T, open func() *store.Store) {
	s := open()
	seedForBackfill(t, s, backfillRows)
	unmigrateSearchFold(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	ctx := t.Context()
	expectMigrations(t, s)
	for _, c := range []struct {
		user, search string
		want         int
	}{
		{"u", "ärger", backfillRows},
		{"u", "ärger 1200", 1},
		{"u", "über den", (backfillRows + 2) / 3}, // every third, from the first
		{"u", "grüße", 1},
		{"u", "STRAẞE", 1},
		{"u", "PLAIN", 1},
		{"v", "ÄRGER", 1},
	} {
		n, err := s.Count(ctx, c.user, notifications.Filter{Search: c.search})
		if err != nil || n != c.want {
			t.Errorf("Count(%s, search %q) = %d, %v; want %d", c.user, c.search, n, err, c.want)
		}
	}
	var unfolded int
	if err := s.DB().QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM notification WHERE title_fold IS NULL) + "+
		"(SELECT COUNT(*) FROM broadcast WHERE title_fold IS NULL)").Scan(&unfolded); err != nil || unfolded != 0 {
		t.Errorf("rows without title_fold after the migration: %d, %v", unfolded, err)
	}
}

func TestSQLiteSearchFoldBackfill(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	testBackfill(t, func() *store.Store { return openSQLitePath(t, path) })
}

func TestPostgresSearchFoldBackfill(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	testBackfill(t, func() *store.Store { return openPostgresDSN(t, dsn) })
}

// BenchmarkSearchFoldBackfill times the search fold migration on 100,000
// notifications written before it (ns/op is one migration).
func BenchmarkSearchFoldBackfill(b *testing.B) {
	const rows = 100_000
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			var open func() *store.Store
			if db == "sqlite" {
				path := filepath.Join(b.TempDir(), "herald.db")
				open = func() *store.Store { return openSQLitePath(b, path) }
			} else {
				dsn := testdb.PostgresSchema(b)
				open = func() *store.Store { return openPostgresDSN(b, dsn) }
			}
			s := open()
			seedForBackfill(b, s, rows)
			for b.Loop() {
				b.StopTimer()
				unmigrateSearchFold(b, s)
				s.Close()
				b.StartTimer()
				s = open()
			}
			b.ReportMetric(float64(rows)/(b.Elapsed().Seconds()/float64(b.N)), "rows/s")
		})
	}
}
