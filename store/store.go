// Package store is Herald's notifications.Store on bun, for SQLite (the
// default, also in memory for tests) and PostgreSQL.
//
// Open a store with OpenSQLite or OpenPostgres, or hand New a *bun.DB you
// configured yourself; each applies Herald's embedded migrations before
// returning, tracked in Herald's own tables (herald_migrations and
// herald_migration_locks) so they never collide with a host's bun
// migrations. Several processes may open one database at once: migrating
// is serialised by a lock (SQLite's write lock, a PostgreSQL advisory
// lock) and runs in one transaction, so nobody sees a half-migrated schema.
//
// The schema follows Backstage's notifications backend: tables
// notification, broadcast, broadcast_user_status and user_settings, plus
// slack_message_timestamps for the Slack processor, and Herald's durable
// delivery: herald_send (one row per send with deliveries: its canonical
// options and trace parent) and delivery (one row per notification and
// post-processor). Times are kept to the millisecond (INTEGER epoch
// milliseconds on SQLite, timestamptz on PostgreSQL) and come back in
// UTC; empty optional strings are stored as NULL.
//
// Deliveries are written in the send's own transaction, batched like the
// notification rows. A delivery is leased by a claim: a lease token, and
// its next attempt moved to the lease's end, so a delivery is due exactly
// when it is pending or retrying with its next attempt at or before the
// claimer's clock, and a lease that runs out makes it due again, for any
// claimer. The token fences the attempt: only the claim holding it may
// renew the lease or record the outcome. On PostgreSQL, claimers of
// several processes share the work with FOR UPDATE SKIP LOCKED; their
// clocks must agree to well within the lease. Every time comes from the
// caller (ClaimOptions.Now, DeliveryOutcome.Now), never from the store.
//
// On a SQLite file, each Store holds an exclusive lock (flock) on a file
// beside the database, "<database>-herald-<owner>.lock", for as long as
// it is open, and stamps its claims with its owner id. A claim looks,
// every five seconds of its clock at most, for leases whose owner's lock
// it can take: that owner's process is gone (the system drops a dead
// process's locks), so its deliveries are due at once rather than when
// their leases end, and its lock file is removed. A live Store's lock
// cannot be taken, so two Stores on one file never take each other's
// leases. Close removes the Store's lock file, or, while it still holds
// leases, leaves it for the next claim to find. Where flock is missing
// (Windows) and on an in-memory database, leases simply run out.
//
// The common views' counts (a page's total, Count, Counts, Status) read
// per-user counters that triggers keep in every write's transaction
// (migration 20261206000001), so they cost the same whatever the size of
// the inbox; any other filter is counted off the tables. Concurrent
// one-user sends and plain broadcasts share a commit (groupcommit.go).
//
// The Slack processor's table is here, not in package slack, on purpose:
// Store implements slack.TimestampStore (SlackTimestamp, PutSlackTimestamp,
// DeleteSlackTimestampsBefore) by method set, without importing the
// processor, so the Slack processor of a host that opened a Store can
// update its scoped messages across restarts with nothing more to set up.
// Moving the table into package slack would give that package migrations
// of its own, with their own bookkeeping table and lock: a second
// migration track for one table.
//
// Both databases keep the same range of times, years 1 to 9999: a time
// outside it is refused with notifications.ErrInvalid when written, and a
// time bound of a read (a Filter bound, a Position, a retention cutoff) is
// clamped to it, so a bound before year 1 selects from the beginning, one
// after 9999 to the end, and a position past the end gives an empty page.
// Text must be valid UTF-8 without NUL bytes (ErrInvalid otherwise), which
// PostgreSQL requires and SQLite is held to as well.
//
// A call whose connection dies under it (PostgreSQL restarting, a backend
// terminated, the network cut) is run again on a fresh connection where
// nothing can be written twice: reads, and transactions that failed before
// COMMIT, up to three attempts in all. A failure at COMMIT itself, or of a
// statement that commits on its own and may have run, is not retried.
// What still fails wraps notifications.ErrUnavailable, as does a SQLite
// database still locked when its busy timeout ends: the caller may try
// again later, and the REST API answers 503.
//
// A Store is safe for concurrent use.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	bundialect "github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Store is a notifications.Store on a bun database. Create one with
// OpenSQLite, OpenPostgres or New.
type Store struct {
	db *bun.DB
	d  dialect
	// owned: Close closes db (the Store opened it).
	owned bool
	// settingsOne is SettingRows' prepared statement for one user, once
	// prepared (see dialect.prepareHot).
	settingsOne atomic.Pointer[sql.Stmt]
	// keyedOne is KeyedSend's prepared lookup, likewise.
	keyedOne atomic.Pointer[sql.Stmt]
	// insertOne, broadcastOne, broadcastPlain and insertUnless are the
	// hot INSERTs (see hot.go).
	insertOne, broadcastOne, broadcastPlain, insertUnless atomic.Pointer[sql.Stmt]
	// reads are the prepared inbox reads (see readstmt.go).
	reads readStmts
	// groups batch concurrent hot INSERTs (see groupcommit.go).
	groups groupCommits
	// health is the pool's failure memory, for pools OpenPostgres made;
	// nil otherwise.
	health *poolHealth
	// owner is this Store's random id, the lease_owner of its claims.
	owner string
	// leases is the lock file of a Store on a SQLite file; nil otherwise.
	leases *leaseLocks
	// writers is the write gate of a Store on SQLite (nil on
	// PostgreSQL): its writes (run's opWrite and opTx) take turns here,
	// one at a time, in the order they came. SQLite has one writer at a
	// time anyway; without the gate the others wait in its busy handler,
	// which sleeps and retries with no queue, so under many concurrent
	// writers one could lose every retry and fail at the busy timeout
	// while the others went ahead (storetest CountsUnderConcurrency under
	// -race saw waits past 5 s). Writers of another process on the same
	// file still meet at the busy timeout.
	writers chan struct{}
}

// poolHealth remembers when a connection of the pool last failed, so that
// for a second afterwards every connection is pinged before it is reused
// (pgx's stdlib otherwise pings only those idle for over a second). A
// failure usually means the server dropped every connection at once (a
// restart, pg_terminate_backend); database/sql discards a connection that
// fails its ping and tries another, or a new one, so a call run again
// after the failure runs on a live connection rather than on the next
// dead one in the pool.
type poolHealth struct{ failedAt atomic.Int64 }

func (h *poolHealth) failed() { h.failedAt.Store(time.Now().UnixNano()) }

func (h *poolHealth) shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	return p.IdleDuration > time.Second || time.Now().UnixNano()-h.failedAt.Load() < int64(time.Second)
}

var (
	_ notifications.Store       = (*Store)(nil)
	_ notifications.PageCounter = (*Store)(nil)
)

// ErrUnsupportedDialect is returned by New for a bun.DB that is neither
// SQLite nor PostgreSQL.
var ErrUnsupportedDialect = errors.New("store: unsupported database dialect")

// idleConns is how many idle connections the pools OpenSQLite and
// OpenPostgres make keep (database/sql's default is 2, which makes a busy
// server open and close connections all the time). For other pool
// settings, configure a *sql.DB yourself and use New.
const idleConns = 8

// OpenSQLite opens (creating it if needed) the SQLite database at path and
// applies the migrations.
//
// path is a file path or a "file:" URI. The connection is set up for a
// server: WAL journal, synchronous=NORMAL, foreign keys on, a 5 s busy
// timeout, and write transactions that take the write lock when they
// begin (BEGIN IMMEDIATE), so concurrent writers queue instead of failing.
//
// The pool keeps up to 8 idle connections. A database file gets the
// Store's lock file beside it, in the same directory (see the package
// doc), so that directory must be writable, as SQLite's WAL requires
// anyway.
//
// ":memory:" opens a private in-memory database that lives until Close;
// every call gets its own. It runs on a single connection, so concurrent
// callers take turns, which suits tests.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open sqlite: empty path")
	}
	memory := path == ":memory:"
	var dsn string
	if memory {
		// Each connection to ":memory:" is its own database; the pool
		// below keeps exactly one.
		dsn = ":memory:?_pragma=foreign_keys(1)&_txlock=immediate"
	} else {
		sep := "?"
		if strings.HasPrefix(path, "file:") && strings.Contains(path, "?") {
			sep = "&"
		}
		dsn = path + sep + url.Values{
			"_pragma": {"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"},
			"_txlock": {"immediate"},
		}.Encode()
	}
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	if memory {
		// The database lives as long as its one connection: never let the
		// pool close it.
		sqldb.SetMaxOpenConns(1)
		sqldb.SetMaxIdleConns(1)
		sqldb.SetConnMaxLifetime(0)
		sqldb.SetConnMaxIdleTime(0)
	} else {
		sqldb.SetMaxIdleConns(idleConns)
	}
	if err := firstSQLiteConn(ctx, sqldb); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	s, err := newStore(ctx, bun.NewDB(sqldb, sqlitedialect.New()), true)
	if err != nil {
		sqldb.Close()
		return nil, err
	}
	if !memory {
		warmSQLitePool(ctx, sqldb, idleConns)
	}
	return s, nil
}

// warmSQLitePool opens n connections and reads the schema on each, then
// leaves them idle in the pool. Otherwise the pool grows during the first
// busy moments after a start, each new connection running its pragmas and
// loading the schema while others write: the first thousand requests of a
// server ran at about two thirds of the later rate (BenchmarkServer's cold
// phase). Best effort: a connection that cannot open now opens later.
func warmSQLitePool(ctx context.Context, db *sql.DB, n int) {
	conns := make([]*sql.Conn, 0, n)
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			break
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, "SELECT count(*) FROM sqlite_master"); err != nil {
			break
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

// firstSQLiteConn opens the pool's first connection, retrying while the
// database is busy. Only a brand-new file needs it: switching it to WAL
// takes an exclusive lock, and connections of several processes doing so
// at once are refused with SQLITE_BUSY at once rather than after the busy
// timeout (waiting could deadlock). Once the file is in WAL mode, which
// persists, the pragma changes nothing and never conflicts.
func firstSQLiteConn(ctx context.Context, db *sql.DB) error {
	const attempts = 50
	wait := 5 * time.Millisecond
	for i := 1; ; i++ {
		conn, err := db.Conn(ctx)
		if err == nil {
			return conn.Close()
		}
		if !isSQLiteBusy(err) || i == attempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// OpenPostgres connects to PostgreSQL with the pgx driver and applies the
// migrations. dsn is a URL or key=value string as libpq and pgx accept it;
// a search_path parameter selects the schema Herald's tables live in.
//
// Every connection is opened with standard_conforming_strings on,
// whatever dsn or the server's settings say.
//
// The pool keeps up to 8 idle connections. Because bun sends finished SQL
// with no parameters, the connection uses
// pgx's simple protocol unless dsn sets default_query_exec_mode: one round
// trip per query and no server-side prepared statement per distinct text.
// The statements every send and every inbox read run are the exception:
// the store prepares them itself, one per statement shape (a few dozen
// at most) on each connection that runs them, so a connection pooler in
// front of PostgreSQL must keep prepared statements per client (PgBouncer
// 1.21+ with max_prepared_statements, or session pooling).
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if !strings.Contains(dsn, "default_query_exec_mode") {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	// Statements carry their strings as literals quoted the standard way
	// (quotes doubled, backslashes plain), which needs this on whatever
	// the server, database, role or dsn says.
	cfg.RuntimeParams["standard_conforming_strings"] = "on"
	health := new(poolHealth)
	sqldb := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(health.shouldPing))
	sqldb.SetMaxIdleConns(idleConns)
	s, err := newStore(ctx, bun.NewDB(sqldb, pgdialect.New()), true)
	if err != nil {
		sqldb.Close()
		return nil, err
	}
	s.health = health
	return s, nil
}

// New returns a Store on db, a bun.DB with the sqlite or pg dialect, after
// applying the migrations. The caller keeps ownership of db: Close leaves
// it open.
//
// On SQLite, turn foreign keys on (broadcast statuses are deleted by
// cascade) and prefer _txlock=immediate, as OpenSQLite does; a database
// file gets a lock file beside it, as with OpenSQLite. On
// PostgreSQL, the connections must have standard_conforming_strings on
// (the server default since 9.1): bun's queries, and Herald's, carry
// their values as literals quoted the standard way, which that setting
// off would misread, so New refuses a database whose connection has it
// off. With pgx, prefer default_query_exec_mode=simple_protocol: the
// values are inline, so pgx's default statement cache would prepare
// every query. OpenPostgres's pool also pings every connection it reuses
// for a second after one has failed, so that a retry does not land on
// another dead one; a pool of your own retries on whatever connections it
// hands out.
func New(ctx context.Context, db *bun.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("store: nil bun.DB")
	}
	return newStore(ctx, db, false)
}

func newStore(ctx context.Context, db *bun.DB, owned bool) (*Store, error) {
	var d dialect
	switch db.Dialect().Name() {
	case bundialect.SQLite:
		d = sqliteDialect{}
	case bundialect.PG:
		d = postgresDialect{}
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedDialect, db.Dialect().Name())
	}
	if err := d.checkSession(ctx, db); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{db: db, d: d, owned: owned, owner: uuid.New()}
	if d.name() == "sqlite" {
		s.writers = make(chan struct{}, 1)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	if d.name() == "sqlite" {
		var err error
		if s.leases, err = openLeaseLocks(ctx, s); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return s, nil
}

// DB returns the bun database the Store runs on, for hosts that share it.
func (s *Store) DB() *bun.DB { return s.db }

// Close releases the Store's prepared statements and its lock file (see
// the package doc), and closes the database if the Store opened it
// (OpenSQLite, OpenPostgres); a Store from New leaves the caller's db
// open. Deliveries it still holds leases on are resumed by the next claim
// on the database, at once on a SQLite file, after the lease elsewhere.
func (s *Store) Close() error {
	var err error
	if stmt := s.settingsOne.Swap(nil); stmt != nil {
		err = stmt.Close()
	}
	for _, p := range []*atomic.Pointer[sql.Stmt]{&s.keyedOne, &s.insertOne, &s.broadcastOne, &s.broadcastPlain, &s.insertUnless} {
		if stmt := p.Swap(nil); stmt != nil {
			err = errors.Join(err, stmt.Close())
		}
	}
	err = errors.Join(err, s.reads.close(), s.groups.close())
	if s.leases != nil {
		err = errors.Join(err, s.leases.close(context.Background(), s))
		s.leases = nil
	}
	if !s.owned {
		return err
	}
	return errors.Join(err, s.db.Close())
}
