package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// openSQLite opens a store on a fresh file in t's temporary directory.
func openSQLite(t testing.TB) *store.Store {
	t.Helper()
	return openSQLitePath(t, filepath.Join(t.TempDir(), "herald.db"))
}

func openSQLitePath(t testing.TB, path string) *store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLiteFile(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) notifications.Store { return openSQLite(t) })
}

func TestSQLiteMemory(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) notifications.Store { return openSQLitePath(t, ":memory:") })
}

func TestSQLiteMemoryIsPrivate(t *testing.T) {
	t.Parallel()
	a, b := openSQLitePath(t, ":memory:"), openSQLitePath(t, ":memory:")
	ctx := t.Context()
	if _, err := a.SaveBroadcast(ctx, notifications.Notification{Origin: "o", Payload: notifications.Payload{Title: "t"}}, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Count(ctx, "user:default/x", notifications.Filter{}); err != nil || n != 0 {
		t.Errorf("second in-memory store sees %d rows (%v), want 0", n, err)
	}
}

func TestSQLiteReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	ctx := t.Context()
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveBroadcast(ctx, notifications.Notification{Origin: "o", Payload: notifications.Payload{Title: "t"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSQLitePath(t, path)
	if n, err := s.Count(ctx, "user:default/x", notifications.Filter{}); err != nil || n != 1 {
		t.Errorf("after reopening: %d rows (%v), want 1", n, err)
	}
	expectMigrations(t, s)
}

func TestSQLiteConcurrentOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	stores := make([]*store.Store, 8)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = store.OpenSQLite(t.Context(), path) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("open %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { s.Close() })
	}
	if t.Failed() {
		return
	}
	expectMigrations(t, stores[0])
}

func TestSQLiteSlackTimestamps(t *testing.T) {
	t.Parallel()
	testSlackTimestamps(t, openSQLite(t))
}

func TestNewKeepsCallersDB(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	s2, err := store.New(t.Context(), s.DB())
	if err != nil {
		t.Fatalf("New on a migrated database: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().PingContext(t.Context()); err != nil {
		t.Errorf("Close of a Store from New closed the caller's db: %v", err)
	}
}

// TestSQLiteBusyIsUnavailable checks that a write still locked out when
// the busy timeout ends is ErrUnavailable (transient, worth retrying
// later), not a bare driver error.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	s := openSQLitePath(t, path)
	sqldb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqldb.Close() })
	impatient, err := store.New(t.Context(), bun.NewDB(sqldb, sqlitedialect.New()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { impatient.Close() })

	// Another connection holds the write lock.
	conn, err := s.DB().DB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	n := notifications.Notification{User: "user:default/u", Origin: "o", Payload: notifications.Payload{Title: "t"}}
	if _, err := impatient.SaveNotifications(t.Context(), []notifications.Notification{n}, nil); !errors.Is(err, notifications.ErrUnavailable) {
		t.Errorf("SaveNotifications while the database is locked = %v, want ErrUnavailable", err)
	}
	if err := impatient.ReplaceSettings(t.Context(), "user:default/u", nil); !errors.Is(err, notifications.ErrUnavailable) {
		t.Errorf("ReplaceSettings while the database is locked = %v, want ErrUnavailable", err)
	}
	// Reads go on in WAL mode.
	if _, err := impatient.Count(t.Context(), "user:default/u", notifications.Filter{}); err != nil {
		t.Errorf("Count while the database is locked: %v", err)
	}
}

// A file store opens its pool's connections at once, so the first busy
// moments after a start do not pay for growing it.
func TestSQLitePoolWarm(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	if idle := s.DB().Stats().Idle; idle != 8 {
		t.Errorf("%d idle connections after open, want 8", idle)
	}
}
