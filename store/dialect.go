package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is the one seam through which SQL that differs between SQLite and
// PostgreSQL goes. Everything else in the package writes standard SQL that
// both accept (UNION ALL, INSERT ... ON CONFLICT ... RETURNING, NULLS
// FIRST/LAST, scalar subqueries).
type dialect interface {
	// name is "sqlite" or "postgres": the migrations folder.
	name() string
	// appendTime appends t as a time-column literal.
	appendTime(b []byte, t time.Time) []byte
	// timeArg is t as a stmt argument for a time column.
	timeArg(t time.Time) any
	// nullTime is a NULL usable where a time value is expected.
	nullTime() string
	// keyShare locks the rows of a SELECT feeding an INSERT that
	// references them, so a concurrent delete waits or the row is skipped
	// instead of failing the foreign key. SQLite has one writer at a time
	// and needs nothing.
	keyShare(alias string) string
	// mergePages says whether a page in created order is read as two
	// statements merged in Go (see listByCreated) rather than one UNION
	// ALL: right where statements are cheap function calls (SQLite), wrong
	// where each is a round trip and the planner merges both sides itself
	// (PostgreSQL's Merge Append).
	mergePages() bool
	// prepareHot says whether the few fixed statements run on every send
	// are prepared once per connection, with bound parameters, rather
	// than sent as text: right where parsing is a large part of a small
	// statement's cost (SQLite), not needed where the text goes over the
	// simple protocol in one round trip anyway (PostgreSQL).
	prepareHot() bool
	// prepareReads says whether the inbox's reads run prepared, one
	// statement per shape (see readstmt.go): on both, since they are
	// many and their values few.
	prepareReads() bool
	// noLimit is the LIMIT that means none, for an OFFSET without a
	// LIMIT.
	noLimit() string
	// skipLocked says whether a claim locks the due rows it picks with
	// FOR UPDATE SKIP LOCKED, in a CTE feeding its UPDATE, so that
	// concurrent claimers take different rows without waiting for each
	// other (PostgreSQL); where one writer runs at a time (SQLite), the
	// UPDATE's own subquery picks them.
	skipLocked() bool
	// contains writes a condition that holds when col contains term as a
	// substring, comparing bytes. Both are folded already (see
	// search_fold.go), never by the database.
	contains(q *stmt, col, term string)
	// orderText wraps a text column for ORDER BY so that both databases
	// sort by code point, whatever the database's collation.
	orderText(col string) string
	// beginMigrations begins the migration transaction on db (a pool of
	// one connection) and blocks until no other process is migrating the
	// same schema; the transaction's end releases the lock.
	beginMigrations(ctx context.Context, conn *sql.DB) error
	// lockUserSettings is a statement, run first in ReplaceSettings's
	// transaction, that makes concurrent replacements of one user's rows
	// wait for each other; it writes nothing where transactions are
	// serial anyway.
	lockUserSettings(q *stmt, user string)
	// checkSession refuses a database whose connections would misread
	// the store's statements.
	checkSession(ctx context.Context, db *bun.DB) error
	// isUniqueViolation reports whether err is a primary-key or unique
	// constraint violation.
	isUniqueViolation(err error) bool
	// failure classes err for retrying (see run).
	failure(err error) failure
}

// sqliteDialect stores times as INTEGER epoch milliseconds.
type sqliteDialect struct{}

func (sqliteDialect) name() string { return "sqlite" }

func (sqliteDialect) appendTime(b []byte, t time.Time) []byte {
	return strconv.AppendInt(b, t.UnixMilli(), 10)
}

func (sqliteDialect) timeArg(t time.Time) any { return t.UnixMilli() }

func (sqliteDialect) nullTime() string { return "NULL" }

func (sqliteDialect) noLimit() string { return "-1" }

func (sqliteDialect) mergePages() bool { return true }

func (sqliteDialect) skipLocked() bool { return false }

func (sqliteDialect) prepareHot() bool { return true }

func (sqliteDialect) prepareReads() bool { return true }

func (sqliteDialect) keyShare(string) string { return "" }

func (sqliteDialect) orderText(col string) string { return col } // BINARY collation: code points

func (sqliteDialect) contains(q *stmt, col, term string) {
	q.raw("instr(").raw(col).raw(", ").str(term).raw(") > 0")
}

// beginMigrations takes SQLite's write lock at once (BEGIN IMMEDIATE), so a
// second process opening the same file waits on the busy timeout rather
// than reading a half-migrated schema. SQLite's DDL is transactional, so
// the whole migration, bookkeeping included, commits or rolls back as one.
func (sqliteDialect) beginMigrations(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "BEGIN IMMEDIATE")
	return err
}

// lockUserSettings: SQLite write transactions are serial already
// (BEGIN IMMEDIATE).
func (sqliteDialect) lockUserSettings(*stmt, string) {}

func (sqliteDialect) checkSession(context.Context, *bun.DB) error { return nil }

func (sqliteDialect) isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// failure: SQLite has no connection to lose; a database locked past the
// busy timeout is unavailable, and not retried since the timeout already
// waited.
func (sqliteDialect) failure(err error) failure {
	if isSQLiteBusy(err) {
		return unavailable
	}
	return permanent
}

// isSQLiteBusy reports whether err is SQLITE_BUSY (any extended code).
func isSQLiteBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// postgresDialect uses native types: uuid, timestamptz, jsonb, boolean.
type postgresDialect struct{}

func (postgresDialect) name() string { return "postgres" }

// pgTimeLayout keeps microseconds, PostgreSQL's precision; Herald's times
// are already truncated to milliseconds.
const pgTimeLayout = "2006-01-02 15:04:05.999999Z07:00"

func (postgresDialect) appendTime(b []byte, t time.Time) []byte {
	b = append(b, '\'')
	b = t.UTC().AppendFormat(b, pgTimeLayout)
	return append(b, "'::timestamptz"...)
}

func (postgresDialect) timeArg(t time.Time) any { return pgTime(t.UnixMilli()) }

func (postgresDialect) nullTime() string { return "NULL::timestamptz" }

func (postgresDialect) noLimit() string { return "ALL" }

func (postgresDialect) mergePages() bool { return false }

func (postgresDialect) skipLocked() bool { return true }

func (postgresDialect) prepareHot() bool { return false }

func (postgresDialect) prepareReads() bool { return true }

func (postgresDialect) keyShare(alias string) string { return " FOR KEY SHARE OF " + alias }

func (postgresDialect) orderText(col string) string { return col + ` COLLATE "C"` }

func (postgresDialect) contains(q *stmt, col, term string) {
	// "C": bytes compared, whatever the column's collation.
	q.raw("strpos(").raw(col).raw(` COLLATE "C", `).str(term).raw(") > 0")
}

// beginMigrations takes a transaction-scoped advisory lock keyed by the
// current schema, so instances starting together migrate one after the
// other and schemas of one database (tests) do not wait on each other.
func (postgresDialect) beginMigrations(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('herald_migrations'), hashtext(current_schema()))")
	return err
}

// lockUserSettings takes a transaction-scoped advisory lock on the user:
// without it, a second replacement's DELETE misses the first one's new
// rows (not in its snapshot) and its INSERT collides with them.
func (postgresDialect) lockUserSettings(q *stmt, user string) {
	q.raw("SELECT pg_advisory_xact_lock(hashtext('herald_user_settings'), hashtext(").str(user).raw("))")
}

// checkSession refuses standard_conforming_strings off: a backslash in a
// value would then start an escape, so 'a\' would not be the text a\ and
// a value could end its literal early. One connection of the pool is
// asked; the setting comes from the server, database, role or connection
// string, which a pool's connections normally share.
func (postgresDialect) checkSession(ctx context.Context, db *bun.DB) error {
	var v string
	if err := db.QueryRowContext(ctx, "SHOW standard_conforming_strings").Scan(&v); err != nil {
		return fmt.Errorf("check standard_conforming_strings: %w", err)
	}
	if v != "on" {
		return fmt.Errorf("standard_conforming_strings is %q: Herald's statements need it on "+
			"(set it in the connection string, e.g. standard_conforming_strings=on with pgx, or for the role or database)", v)
	}
	return nil
}

func (postgresDialect) isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// failure classes the ways a PostgreSQL connection dies. pgconn knows
// when nothing was sent (SafeToRetry; database/sql's ErrBadConn is the same
// news); the server says it aborted the statement with SQLSTATE 57P01
// (pg_terminate_backend, a fast shutdown), 57P02 (crash of another
// backend), 57P03 (starting up) or class 08 (connection exceptions, but
// 08P01, a protocol violation, is a bug, and 08007 says the outcome of
// the transaction is unknown); a connection cut with a statement in flight
// shows as EOF, a reset or a broken pipe.
//
// A deadlock (40P01) or serialization failure (40001) is notRun too: the
// server rolled the whole transaction back (a statement that commits on
// its own with it), so running it again from the start writes nothing
// twice. Deadlocks can happen since the inbox counters (migration
// 20261206000001) are upserted by every write: each statement locks its
// users' counter rows in user order, but two transactions of several
// statements each (fan-outs of over a batch, retention's cascades, one
// per broadcast) can take them in different orders, and the server then
// picks one to fail. At COMMIT such a failure stays a commitError, never
// retried.
func (postgresDialect) failure(err error) failure {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03":
			return notRun
		case pe.Code == "40P01", pe.Code == "40001":
			return notRun
		case pe.Code == "08007":
			return connLost
		case strings.HasPrefix(pe.Code, "08") && pe.Code != "08P01":
			return notRun
		}
		return permanent
	}
	var ce *pgconn.ConnectError
	switch {
	case pgconn.SafeToRetry(err), errors.Is(err, driver.ErrBadConn), errors.As(err, &ce):
		return notRun
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, pgconn.ErrConnClosed):
		return connLost
	}
	var ne net.Error
	if errors.As(err, &ne) && !ne.Timeout() {
		return connLost
	}
	return permanent
}
