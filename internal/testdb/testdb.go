// Package testdb gives tests isolated PostgreSQL schemas, so that tests
// against one server run in parallel without seeing each other's rows.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// PostgresEnv names the environment variable holding the DSN of the test
// server, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "HERALD_TEST_POSTGRES_DSN"

// PostgresSkipMessage is what tests say when PostgresEnv is unset.
const PostgresSkipMessage = "HERALD_TEST_POSTGRES_DSN not set: PostgreSQL store tests skipped"

// RequireEnv names the environment variable that, when set (as .ci/run
// sets it), turns a missing PostgresEnv into a failure: a CI run that
// skipped the PostgreSQL tests is not a pass.
const RequireEnv = "HERALD_REQUIRE_SERVICES"

// PostgresDSN returns the server DSN from PostgresEnv, skipping t when it
// is unset (failing it when RequireEnv is set).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(PostgresEnv + " is not set but " + RequireEnv + " is: PostgreSQL tests must run")
		}
		t.Skip(PostgresSkipMessage)
	}
	return dsn
}

// PostgresSchema creates a fresh schema herald_test_<random> on the test
// server, drops it (with everything in it) when t ends, and returns a DSN
// whose search_path selects it. It skips t when PostgresEnv is unset.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	dsn := PostgresDSN(t)
	var b [8]byte
	rand.Read(b[:])
	schema := "herald_test_" + hex.EncodeToString(b[:])

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", PostgresEnv, err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(t, dsn, schema)
}

// WithSearchPath returns dsn (URL or key=value form) with search_path set
// to schema.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("testdb: parse %s: %v", PostgresEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
