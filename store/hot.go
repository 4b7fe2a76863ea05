package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/casefold"
	"github.com/heraldhq/herald/notifications"
)

// Hot statements: on a store whose dialect prepares them
// (dialect.prepareHot, SQLite), the statements every one-recipient send
// and every broadcast runs are prepared once and run with bound
// parameters, not built as text and parsed again on every call: parsing
// the INSERT was about a tenth of a send's CPU over HTTP (perf, under
// BenchmarkServer's load). They run on the database/sql pool beneath bun,
// so bun's query hooks do not see them. Text values are checked as stmt
// checks them (checkText), so both paths refuse the same input.

// insertOneSQL is the plain INSERT of one notification without a scope.
const insertOneSQL = `INSERT INTO notification (id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, title_fold, description_fold) ` +
	`VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// broadcastOneSQL is broadcastInsert's one row and its upsert.
const broadcastOneSQL = broadcastInsert + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + broadcastUpsert

// broadcastPlainSQL is broadcastInsert's one row alone, for a broadcast
// without a scope: the upsert's conflict target (origin, scope) WHERE
// scope IS NOT NULL never holds it, so it is stored as given and nothing
// need be read back. It takes broadcastOneArgs.
const broadcastPlainSQL = broadcastInsert + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// On PostgreSQL the hot INSERTs are prepared too, in the form
// pgHotSQL gives them: pgx runs a prepared statement over the extended
// protocol with binary parameters (Bind and Execute, no parse or plan on
// the server), where the text of the statement went over the simple
// protocol, each one parsed and planned anew; the statement text alone
// (the broadcast upsert is over 500 bytes) was a good part of what the
// server read. Other statements keep the simple protocol (see
// OpenPostgres).

// pgHotTypes are the PostgreSQL types of the hot statements' parameters,
// in order: an INSERT ... SELECT leaves them to be inferred as text, so
// each is cast.
var pgHotTypes = map[string][]string{
	insertOneSQL: {"uuid", "text", "text", "text", "text", "text", "text", "text",
		"timestamptz", "timestamptz", "timestamptz", "timestamptz", "text", "jsonb", "text", "text"},
	insertUnlessSettingsSQL: {"uuid", "text", "text", "text", "text", "text", "text", "text",
		"timestamptz", "timestamptz", "timestamptz", "timestamptz", "text", "jsonb", "text", "text", "text"},
	broadcastOneSQL: {"uuid", "text", "text", "text", "text", "text", "text", "text",
		"timestamptz", "timestamptz", "text", "jsonb", "text", "text"},
	broadcastPlainSQL: {"uuid", "text", "text", "text", "text", "text", "text", "text",
		"timestamptz", "timestamptz", "text", "jsonb", "text", "text"},
}

// pgHotSQL is query with its "?" placeholders numbered and cast for
// PostgreSQL ($1::uuid, ...), or "" when query has no PostgreSQL form.
// The hot statements hold no "?" but their placeholders.
func pgHotSQL(query string) string {
	types, ok := pgHotTypes[query]
	if !ok || strings.Count(query, "?") != len(types) {
		return ""
	}
	var b strings.Builder
	n := 0
	for i := range len(query) {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		b.WriteString("$" + strconv.Itoa(n+1) + "::" + types[n])
		n++
	}
	return b.String()
}

// isPostgres reports whether d is PostgreSQL's dialect.
func isPostgres(d dialect) bool {
	_, ok := d.(postgresDialect)
	return ok
}

// hotStmt returns the prepared query held in p, preparing it on first
// use; nil when the dialect does not prepare hot statements (nor has a
// PostgreSQL form of this one), or when preparing failed (the caller
// then sends the statement as text, and the next call tries again).
func (s *Store) hotStmt(ctx context.Context, p *atomic.Pointer[sql.Stmt], query string) *sql.Stmt {
	// The cached statement first: rewriting query for PostgreSQL
	// (pgHotSQL) on every call was 1.5% of a send's CPU there.
	if stmt := p.Load(); stmt != nil {
		return stmt
	}
	if !s.d.prepareHot() {
		if !isPostgres(s.d) {
			return nil
		}
		if query = pgHotSQL(query); query == "" {
			return nil
		}
	}
	stmt, err := s.db.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if !p.CompareAndSwap(nil, stmt) {
		stmt.Close() // another call prepared it first
		return p.Load()
	}
	return stmt
}

// hotArgs collects a hot statement's arguments, checking text as stmt
// does.
type hotArgs struct {
	args []any
	err  error
	buf  [17]any
}

func newHotArgs() *hotArgs {
	a := &hotArgs{}
	a.args = a.buf[:0]
	return a
}

func (a *hotArgs) str(v string) *hotArgs {
	if err := checkText(v); err != nil && a.err == nil {
		a.err = err
	}
	a.args = append(a.args, v)
	return a
}

// optStr is NULL for "", as stmt.optStr writes it.
func (a *hotArgs) optStr(v string) *hotArgs {
	if v == "" {
		a.args = append(a.args, nil)
		return a
	}
	return a.str(v)
}

func (a *hotArgs) time(d dialect, v *time.Time) *hotArgs {
	if v == nil {
		a.args = append(a.args, nil)
		return a
	}
	if isPostgres(d) { // a bound timestamptz, not bun's text form
		a.args = append(a.args, ms(*v))
		return a
	}
	a.args = append(a.args, d.timeArg(ms(*v)))
	return a
}

// insertOneArgs are insertOneSQL's arguments for n (its metadata encoded
// as meta), as appendNotification writes them.
func insertOneArgs(d dialect, n *notifications.Notification, meta string) ([]any, error) {
	p := &n.Payload
	a := newHotArgs()
	a.str(n.ID).str(n.User).str(p.Title).optStr(p.Description).str(string(p.Severity)).optStr(p.Link).str(n.Origin).
		optStr(p.Topic).time(d, &n.Created).time(d, n.Updated).time(d, n.Read).time(d, n.Saved).
		optStr(p.Icon).optStr(meta).str(casefold.String(p.Title)).optStr(casefold.String(p.Description))
	return a.args, a.err
}

// broadcastOneArgs are broadcastOneSQL's arguments for n.
func broadcastOneArgs(d dialect, n *notifications.Notification, meta string) ([]any, error) {
	p := &n.Payload
	a := newHotArgs()
	a.str(n.ID).str(p.Title).optStr(p.Description).str(string(p.Severity)).optStr(p.Link).str(n.Origin).
		optStr(p.Scope).optStr(p.Topic).time(d, &n.Created).time(d, n.Updated).optStr(p.Icon).optStr(meta).
		str(casefold.String(p.Title)).optStr(casefold.String(p.Description))
	return a.args, a.err
}

// insertUnlessSettingsSQL is insertOneSQL as an INSERT ... SELECT that
// writes nothing when the user has settings rows (the last parameter is
// the user again).
const insertUnlessSettingsSQL = `INSERT INTO notification (id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, title_fold, description_fold) ` +
	`SELECT ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM user_settings WHERE "user" = ?)`

// SaveUnlessSettings stores n, one user's notification without a scope,
// in one statement unless n.User has saved settings rows, and reports
// whether it stored it; when it did not, nothing was written. It is what
// a send to one user writes when nothing but the user's own settings
// could change it (no processors, the in-app channel on by default):
// the settings read and the INSERT in one round trip, where the user has
// none, as most have. Like SaveNotifications, an empty ID or zero
// Created is filled in and the stored state returned. A notification
// with a Scope is never stored here (false): its upsert is
// SaveNotifications'.
//
// Calls made while another runs share one commit (see groupcommit.go):
// each still returns its own outcome, after the COMMIT that holds its
// row, and a call whose ctx ends while it waits for its turn stores
// nothing and returns ctx.Err().
func (s *Store) SaveUnlessSettings(ctx context.Context, n notifications.Notification) (notifications.Notification, bool, error) {
	out, ok, err := s.saveUnlessSettings(ctx, n)
	if err != nil {
		return notifications.Notification{}, false, fmt.Errorf("store: save notifications: %w", err)
	}
	return out, ok, nil
}

func (s *Store) saveUnlessSettings(ctx context.Context, n notifications.Notification) (notifications.Notification, bool, error) {
	if n.User == "" {
		return n, false, fmt.Errorf("%w: notification 0 has no user", notifications.ErrInvalid)
	}
	if n.Payload.Scope != "" {
		return n, false, nil
	}
	n, err := normalize(n, ms(time.Now()))
	if err != nil {
		return n, false, err
	}
	var enc metadataEncoder
	meta, err := enc.encode(n.Payload.Metadata)
	if err != nil {
		return n, false, err
	}
	if stmt := s.hotStmt(ctx, &s.insertUnless, insertUnlessSettingsSQL); stmt != nil {
		args, err := insertOneArgs(s.d, &n, meta)
		if err != nil {
			return n, false, err
		}
		args = append(args, n.User)
		// With other sends in flight, this one shares their commit
		// (groupcommit.go).
		stored, err := s.groups.unless.do(ctx, s, batchUnless, stmt, args)
		if err != nil {
			return n, false, err
		}
		return n, stored, nil
	}
	p := &n.Payload
	b := newSQL(s.d, 512+2*(len(p.Title)+len(p.Description))+len(meta))
	b.raw(`INSERT INTO notification (id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, title_fold, description_fold) SELECT `)
	appendNotificationValues(b, &n, meta, casefold.String(p.Title), casefold.String(p.Description))
	b.raw(` WHERE NOT EXISTS (SELECT 1 FROM user_settings WHERE "user" = `).str(n.User).raw(")")
	affected, err := s.execAffected(ctx, b)
	if err != nil {
		return n, false, s.translate(err)
	}
	return n, affected == 1, nil
}
