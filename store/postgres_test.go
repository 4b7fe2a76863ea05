package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// openPostgres opens a store on a fresh schema of the test server.
func openPostgres(t testing.TB) *store.Store {
	t.Helper()
	return openPostgresDSN(t, testdb.PostgresSchema(t))
}

func openPostgresDSN(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	testdb.PostgresDSN(t)
	storetest.Run(t, func(t *testing.T) notifications.Store { return openPostgres(t) })
}

func TestPostgresReopenAndConcurrentOpen(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	stores := make([]*store.Store, 8)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = store.OpenPostgres(t.Context(), dsn) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("open %d: %v", i, errs[i])
			continue
		}
		s.Close()
	}
	if t.Failed() {
		return
	}
	s := openPostgresDSN(t, dsn)
	expectMigrations(t, s)
}

func TestPostgresSlackTimestamps(t *testing.T) {
	t.Parallel()
	testSlackTimestamps(t, openPostgres(t))
}
