package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/store"
)

// expectMigrations checks the bookkeeping: every migration recorded once,
// in Herald's table, and bun's default table untouched.
func expectMigrations(t *testing.T, s *store.Store) {
	t.Helper()
	var n int
	if err := s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM herald_migrations").Scan(&n); err != nil {
		t.Fatalf("herald_migrations: %v", err)
	}
	sqlite, _ := filepath.Glob("migrations/sqlite/*.up.sql")
	postgres, _ := filepath.Glob("migrations/postgres/*.up.sql")
	if len(sqlite) != len(postgres) || len(sqlite) == 0 {
		t.Fatalf("%d SQLite and %d PostgreSQL migrations: each change needs one of each", len(sqlite), len(postgres))
	}
	if n != len(sqlite) {
		t.Errorf("herald_migrations has %d rows, want %d (one per migration)", n, len(sqlite))
	}
	if _, err := s.DB().ExecContext(t.Context(), "SELECT 1 FROM bun_migrations"); err == nil {
		t.Errorf("bun_migrations exists; migrations must use Herald's own table")
	}
}

func testSlackTimestamps(t *testing.T, s *store.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, ok, err := s.SlackTimestamp(ctx, "o", "scope", "C1"); err != nil || ok {
		t.Fatalf("SlackTimestamp before any = %v, %v; want not found", ok, err)
	}
	if err := s.PutSlackTimestamp(ctx, "o", "scope", "C1", "1700000000.000100", now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSlackTimestamp(ctx, "o", "scope", "C2", "1700000000.000200", now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSlackTimestamp(ctx, "o", "scope", "C1", "1700000000.000300", now); err != nil {
		t.Fatalf("PutSlackTimestamp (replace): %v", err)
	}
	if ts, ok, err := s.SlackTimestamp(ctx, "o", "scope", "C1"); err != nil || !ok || ts != "1700000000.000300" {
		t.Errorf("SlackTimestamp = %q, %v, %v; want the replaced one", ts, ok, err)
	}
	n, err := s.DeleteSlackTimestampsBefore(ctx, now.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteSlackTimestampsBefore = %d, %v; want 1", n, err)
	}
	if _, ok, _ := s.SlackTimestamp(ctx, "o", "scope", "C2"); ok {
		t.Errorf("old timestamp kept")
	}
	if _, ok, _ := s.SlackTimestamp(ctx, "o", "scope", "C1"); !ok {
		t.Errorf("recent timestamp deleted")
	}
	if n, err := s.DeleteSlackTimestampsBefore(ctx, now); err != nil || n != 0 {
		t.Errorf("DeleteSlackTimestampsBefore(exactly at) = %d, %v; want 0 (strictly before)", n, err)
	}
}
