package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/migrate"
	"github.com/uptrace/bun/schema"
)

// migrations holds one folder of bun SQL migrations per dialect. The files
// are plain (non-.tx) migrations because migrate runs all of them inside
// one transaction of its own.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Herald's bookkeeping tables; bun's defaults (bun_migrations) may belong
// to the host.
const (
	migrationsTable     = "herald_migrations"
	migrationLocksTable = "herald_migration_locks"
)

// migrate applies the missing migrations on one connection, in one
// transaction that first takes the dialect's migration lock: concurrent
// openers wait for each other, and a failure leaves the schema as it was.
//
// bun's Migrator works on a *bun.DB, so the connection is wrapped in a
// one-connection pool of its own (pinnedConnector) for the duration; the
// transaction is begun and ended with plain statements on it.
func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+s.d.name())
	if err != nil {
		return err
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return err
	}
	ms = s.withGoSteps(ms)

	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pinned := sql.OpenDB(pinnedConnector{conn: dc.(driver.Conn)})
		pinned.SetMaxOpenConns(1)
		defer pinned.Close()

		if err := s.d.beginMigrations(ctx, pinned); err != nil {
			return errors.Join(fmt.Errorf("lock: %w", err), rollback(pinned))
		}
		var d schema.Dialect = sqlitedialect.New()
		if s.d.name() == "postgres" {
			d = pgdialect.New()
		}
		m := migrate.NewMigrator(bun.NewDB(pinned, d), ms,
			migrate.WithTableName(migrationsTable),
			migrate.WithLocksTableName(migrationLocksTable),
			migrate.WithMarkAppliedOnSuccess(true),
		)
		if err := m.Init(ctx); err != nil {
			return errors.Join(fmt.Errorf("init: %w", err), rollback(pinned))
		}
		if _, err := m.Migrate(ctx); err != nil {
			return errors.Join(err, rollback(pinned))
		}
		if _, err := pinned.ExecContext(ctx, "COMMIT"); err != nil {
			return errors.Join(fmt.Errorf("commit: %w", err), rollback(pinned))
		}
		return nil
	})
}

func rollback(db *sql.DB) error {
	// The context may be the reason we are rolling back.
	_, err := db.ExecContext(context.Background(), "ROLLBACK")
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// pinnedConnector hands database/sql the same driver connection every time,
// never closing it: the real owner is the outer pool's *sql.Conn.
type pinnedConnector struct{ conn driver.Conn }

func (c pinnedConnector) Connect(context.Context) (driver.Conn, error) {
	return pinnedConn{c.conn}, nil
}

func (c pinnedConnector) Driver() driver.Driver { return pinnedDriver{} }

type pinnedDriver struct{}

func (pinnedDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("store: pinned connection cannot be opened by name")
}

// pinnedConn forwards to the driver connection and its optional
// interfaces, except Close.
type pinnedConn struct{ c driver.Conn }

func (p pinnedConn) Prepare(query string) (driver.Stmt, error) { return p.c.Prepare(query) }
func (p pinnedConn) Close() error                              { return nil }

// Begin is required by driver.Conn; database/sql calls BeginTx.
func (p pinnedConn) Begin() (driver.Tx, error) {
	return p.c.Begin() //nolint:staticcheck // forwarding the method driver.Conn still requires
}

func (p pinnedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := p.c.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return p.c.Begin() //nolint:staticcheck // the fallback for drivers without ConnBeginTx
}

func (p pinnedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if pc, ok := p.c.(driver.ConnPrepareContext); ok {
		return pc.PrepareContext(ctx, query)
	}
	return p.c.Prepare(query)
}

func (p pinnedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := p.c.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (p pinnedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := p.c.(driver.QueryerContext); ok {
		return q.QueryContext(ctx, query, args)
	}
	return nil, driver.ErrSkip
}

func (p pinnedConn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := p.c.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
