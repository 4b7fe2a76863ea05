package store_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

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

// TestPostgresStandardConformingStrings checks that OpenPostgres turns
// standard_conforming_strings on for every connection, even when the dsn
// asks for it off, and that a value with backslashes and quotes then
// round-trips.
func TestPostgresStandardConformingStrings(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("standard_conforming_strings", "off")
	u.RawQuery = q.Encode()
	s := openPostgresDSN(t, u.String())

	// Hold several connections at once, so the pool opens new ones.
	ctx := t.Context()
	for i := range 4 {
		conn, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var v string
		if err := conn.QueryRowContext(ctx, "SHOW standard_conforming_strings").Scan(&v); err != nil || v != "on" {
			t.Errorf("connection %d: standard_conforming_strings = %q, %v; want on", i, v, err)
		}
	}
	title := `a\' OR '1'='1 \\ \n '\'`
	if _, err := s.SaveBroadcast(ctx, notifications.Notification{Origin: "o", Payload: notifications.Payload{Title: title}}, nil); err != nil {
		t.Fatal(err)
	}
	ns, err := s.List(ctx, notifications.Query{User: "user:default/x", Filter: notifications.Filter{Search: `a\' OR`}})
	if err != nil || len(ns) != 1 || ns[0].Payload.Title != title {
		t.Errorf("List = %v, %v; want the broadcast titled %q", ns, err, title)
	}
}

// TestNewRefusesNonStandardStrings checks that New refuses a database
// whose connections have standard_conforming_strings off, naming it.
func TestNewRefusesNonStandardStrings(t *testing.T) {
	t.Parallel()
	cfg, err := pgx.ParseConfig(testdb.PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["standard_conforming_strings"] = "off"
	sqldb := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { sqldb.Close() })
	db := bun.NewDB(sqldb, pgdialect.New())
	s, err := store.New(t.Context(), db)
	if err == nil {
		s.Close()
		t.Fatal("New on a database with standard_conforming_strings off: no error")
	}
	if !strings.Contains(err.Error(), "standard_conforming_strings") {
		t.Errorf("New: %v; want an error naming standard_conforming_strings", err)
	}
	var tables int
	if err := sqldb.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("after the refusal the schema has %d tables (%v), want none: New must refuse before migrating", tables, err)
	}

	// The same database with the setting on is accepted.
	cfg.RuntimeParams["standard_conforming_strings"] = "on"
	sqldb2 := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { sqldb2.Close() })
	s, err = store.New(t.Context(), bun.NewDB(sqldb2, pgdialect.New()))
	if err != nil {
		t.Fatalf("New with standard_conforming_strings on: %v", err)
	}
	s.Close()
}
