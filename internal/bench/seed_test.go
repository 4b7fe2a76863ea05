package bench

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/internal/casefold"
	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// inbox describes the rows the list and status benchmarks read, written
// straight into the tables in bulk (not through Send). User 0 is the
// heavy user (status), user 1 the list user; row i belongs to user 0 for
// i < Heavy and to the other users round-robin after that. Odd rows are
// read, every seventh saved, every tenth carries metadata; the inbox
// states are exercised too (see states): a few percent of the rows are
// archived or snoozed, and a third of the unread ones seen. Every row and
// every broadcast is a pure function of its index, so a PostgreSQL
// database seeded by an earlier run holds exactly what this run would
// write.
type inbox struct {
	Users, Rows, Heavy, Broadcasts int
}

// fullInbox is DESIGN.md's: 1,000,000 notifications over 1,000 users, the
// status user holding 10,000 of them, plus 50 broadcasts. The list user
// has 990 notifications, 495 unread.
var fullInbox = inbox{Users: 1000, Rows: 1_000_000, Heavy: 10_000, Broadcasts: 50}

var (
	statusUser = userRef(0)
	listUser   = userRef(1)
)

// seedEpoch is the first row's creation time; rows are a second apart.
var seedEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (in inbox) userOf(i int) int {
	if i < in.Heavy {
		return 0
	}
	return 1 + (i-in.Heavy)%(in.Users-1)
}

var seedSeverities = [...]string{"critical", "high", "normal", "low"}

// rowState is notification i's inbox state.
type rowState struct {
	read, saved, seen, archived, snoozed bool
}

// state says which of notification i's state columns are set: odd rows
// are read (and, as Herald writes a read, seen), every third unread one
// is seen, every seventh row saved, one in 29 archived and one in 31
// snoozed (until seedSnoozedUntil, so that no waker wakes it): about 6%
// of the rows are hidden, as an inbox in use has a few.
func state(i int) rowState {
	read := i%2 == 1
	return rowState{
		read:     read,
		saved:    i%7 == 0,
		seen:     read || i%3 == 0,
		archived: i%29 == 4,
		snoozed:  i%31 == 6,
	}
}

func (r rowState) hidden() bool { return r.archived || r.snoozed }

// seedSnoozedUntil is when the snoozed rows would wake: far ahead.
var seedSnoozedUntil = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// seedColumns are the columns the seed writes: Herald's for a sent
// notification, then the inbox states a user sets later.
const seedColumns = notificationColumns + `, seen, archived, snoozed_until, changed`

const seedColumnsPerRow = columnsPerRow + 4

// row returns notification i's column values in seedColumns order; times
// come from ts (epoch milliseconds on SQLite, time.Time on PostgreSQL).
func (in inbox) row(i int, ts func(time.Time) any) []any {
	created := seedEpoch.Add(time.Duration(i) * time.Second)
	st := state(i)
	var read, saved, meta, seen, archived, snoozed, changed any
	if st.read {
		read = ts(created.Add(time.Minute))
		seen, changed = read, read
	} else if st.seen {
		seen = ts(created.Add(30 * time.Second))
		changed = seen
	}
	if st.saved {
		saved = ts(created.Add(2 * time.Minute))
		changed = saved
	}
	if st.archived {
		archived = ts(created.Add(3 * time.Minute))
		changed = archived
	}
	if st.snoozed {
		snoozed = ts(seedSnoozedUntil)
		changed = ts(created.Add(4 * time.Minute))
	}
	if i%10 == 0 {
		meta = fmt.Sprintf(`{"%s":"Build **%d** failed","build":%d}`, notifications.MetadataMarkdownBody, i, i)
	}
	title, desc := fmt.Sprintf("Build %d failed", i), "The main branch is red"
	return []any{
		fmt.Sprintf("00000000-0000-4000-8000-%012x", i), userRef(in.userOf(i)),
		title, desc, seedSeverities[i%4],
		fmt.Sprintf("/ci/builds/%d", i), "plugin:ci", nil, fmt.Sprintf("topic-%d", i%5),
		ts(created), nil, read, saved, nil, meta, casefold.String(title), casefold.String(desc),
		seen, archived, snoozed, changed,
	}
}

// seedInsertSQL is a multi-row INSERT into notification of rows rows of
// seedColumns with bound parameters.
func seedInsertSQL(rows int) string {
	row := "(" + strings.Repeat("?, ", seedColumnsPerRow-1) + "?)"
	return "INSERT INTO notification (" + seedColumns + ") VALUES " + strings.Repeat(row+", ", rows-1) + row
}

const broadcastColumns = `id, title, description, severity, link, origin, scope, topic, created, updated, icon, metadata, title_fold, description_fold`

// broadcast returns broadcast j's values in broadcastColumns order; they
// are spread evenly over the notifications' time span.
func (in inbox) broadcast(j int, ts func(time.Time) any) []any {
	created := seedEpoch.Add(time.Duration((j+1)*in.Rows/in.Broadcasts) * time.Second).Add(-time.Millisecond)
	title := fmt.Sprintf("Maintenance %d", j)
	return []any{
		fmt.Sprintf("00000000-0000-4000-9000-%012x", j), title, nil, "normal",
		nil, "plugin:ops", nil, "ops", ts(created), nil, nil, nil, casefold.String(title), nil,
	}
}

// statusState is the list and status users' state of broadcast j: they
// have read every even broadcast; of the odd ones, 1 is archived, 3
// snoozed, and 5, 9, 13, ... seen.
func statusState(j int) (rowState, bool) {
	switch {
	case j%2 == 0:
		return rowState{read: true, seen: true}, true
	case j == 1:
		return rowState{archived: true}, true
	case j == 3:
		return rowState{snoozed: true}, true
	case j%4 == 1:
		return rowState{seen: true}, true
	}
	return rowState{}, false
}

const statusColumns = `"user", broadcast_id, read, saved, seen, archived, snoozed_until, changed`

// statuses are the broadcast_user_status rows (statusState), in
// statusColumns order.
func (in inbox) statuses(ts func(time.Time) any) [][]any {
	var out [][]any
	for _, u := range []string{statusUser, listUser} {
		for j := range in.Broadcasts {
			st, ok := statusState(j)
			if !ok {
				continue
			}
			at := ts(seedEpoch)
			var read, seen, archived, snoozed any
			if st.read {
				read = at
			}
			if st.seen {
				seen = at
			}
			if st.archived {
				archived = at
			}
			if st.snoozed {
				snoozed = ts(seedSnoozedUntil)
			}
			out = append(out, []any{u, fmt.Sprintf("00000000-0000-4000-9000-%012x", j), read, nil, seen, archived, snoozed, at})
		}
	}
	return out
}

// wantStatus is what Status must say for the status user.
func (in inbox) wantStatus() notifications.Status { return in.wantStatusOf(0) }

// wantStatusOf is what Status must say for user u (0 or 1, the users
// with broadcast statuses): the visible rows, unread, read and unseen,
// of the user's and of the broadcasts.
func (in inbox) wantStatusOf(u int) notifications.Status {
	var st notifications.Status
	add := func(r rowState) {
		switch {
		case r.hidden():
		case r.read:
			st.Read++
		default:
			st.Unread++
			if !r.seen {
				st.Unseen++
			}
		}
	}
	for i := range in.Rows {
		if in.userOf(i) == u {
			add(state(i))
		}
	}
	for j := range in.Broadcasts {
		r, _ := statusState(j)
		add(r)
	}
	return st
}

// hiddenRows is how many notifications are archived or snoozed, and
// seenRows how many are seen.
func (in inbox) hiddenRows() (hidden, seen int) {
	for i := range in.Rows {
		r := state(i)
		if r.hidden() {
			hidden++
		}
		if r.seen {
			seen++
		}
	}
	return hidden, seen
}

// hiddenStatuses is how many of the statuses are archived or snoozed:
// two users' (statusState), of the broadcasts there are.
func (in inbox) hiddenStatuses() int {
	n := 0
	for j := range in.Broadcasts {
		if r, _ := statusState(j); r.hidden() {
			n += 2
		}
	}
	return n
}

// verify checks the seeded counts: total rows, the heavy and list users'
// rows, broadcasts and statuses. bind writes placeholder 1.
func (in inbox) verify(ctx context.Context, db *sql.DB, bind string) error {
	hidden, seen := in.hiddenRows()
	listRows := (in.Rows - in.Heavy) / (in.Users - 1)
	if (in.Rows-in.Heavy)%(in.Users-1) > 0 {
		listRows++ // user 1 comes first in the round robin
	}
	checks := []struct {
		what  string
		query string
		args  []any
		want  int
	}{
		{"notifications", "SELECT COUNT(*) FROM notification", nil, in.Rows},
		{"status user's", `SELECT COUNT(*) FROM notification WHERE "user" = ` + bind, []any{statusUser}, in.Heavy},
		{"list user's", `SELECT COUNT(*) FROM notification WHERE "user" = ` + bind, []any{listUser}, listRows},
		{"broadcasts", "SELECT COUNT(*) FROM broadcast", nil, in.Broadcasts},
		{"broadcast statuses", "SELECT COUNT(*) FROM broadcast_user_status", nil, len(in.statuses(func(time.Time) any { return nil }))},
		{"hidden", "SELECT COUNT(*) FROM notification WHERE archived IS NOT NULL OR snoozed_until IS NOT NULL", nil, hidden},
		{"seen", "SELECT COUNT(*) FROM notification WHERE seen IS NOT NULL", nil, seen},
		{"hidden statuses", "SELECT COUNT(*) FROM broadcast_user_status WHERE archived IS NOT NULL OR snoozed_until IS NOT NULL", nil, in.hiddenStatuses()},
	}
	var errs []error
	for _, c := range checks {
		var got int
		if err := db.QueryRowContext(ctx, c.query, c.args...).Scan(&got); err != nil {
			return err
		}
		if got != c.want {
			errs = append(errs, fmt.Errorf("%s: %d rows, want %d", c.what, got, c.want))
		}
	}
	return errors.Join(errs...)
}

func sqliteTime(t time.Time) any { return t.UnixMilli() }
func pgTime(t time.Time) any     { return t }

// seedSQLite writes in into a new SQLite file at path, migrated by the
// store. It loads the rows in one transaction with prepared multi-row
// INSERTs while notification's secondary indexes are dropped, then
// recreates them from their own definitions (bulk-building an index is
// several times faster than maintaining it row by row).
func seedSQLite(ctx context.Context, path string, in inbox) error {
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	s.Close()
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	indexes, err := queryStrings(ctx, tx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'notification' AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	for i := 0; i < len(indexes); i += 2 {
		if _, err := tx.ExecContext(ctx, "DROP INDEX "+indexes[i]); err != nil {
			return err
		}
	}
	const perInsert = 500
	batch, err := tx.PrepareContext(ctx, seedInsertSQL(perInsert))
	if err != nil {
		return err
	}
	args := make([]any, 0, perInsert*seedColumnsPerRow)
	for i := range in.Rows {
		args = append(args, in.row(i, sqliteTime)...)
		if n := len(args) / seedColumnsPerRow; n == perInsert || i == in.Rows-1 {
			stmt := batch
			if n < perInsert {
				if stmt, err = tx.PrepareContext(ctx, seedInsertSQL(n)); err != nil {
					return err
				}
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	for i := 1; i < len(indexes); i += 2 {
		if _, err := tx.ExecContext(ctx, indexes[i]); err != nil {
			return err
		}
	}
	if err := insertBroadcasts(ctx, tx, in, "?", sqliteTime); err != nil {
		return err
	}
	return tx.Commit()
}

// insertBroadcasts writes the broadcasts and statuses, one statement
// each (there are few). mark is "?" (SQLite) or "$" (PostgreSQL's $n).
func insertBroadcasts(ctx context.Context, tx *sql.Tx, in inbox, mark string, ts func(time.Time) any) error {
	n := 0
	placeholders := func(k int) string {
		ps := make([]string, k)
		for i := range ps {
			n++
			ps[i] = mark
			if mark == "$" {
				ps[i] = fmt.Sprintf("$%d", n)
			}
		}
		return "(" + strings.Join(ps, ", ") + ")"
	}
	for j := range in.Broadcasts {
		n = 0
		if _, err := tx.ExecContext(ctx, "INSERT INTO broadcast ("+broadcastColumns+") VALUES "+placeholders(14), in.broadcast(j, ts)...); err != nil {
			return err
		}
	}
	for _, st := range in.statuses(ts) {
		n = 0
		if _, err := tx.ExecContext(ctx, "INSERT INTO broadcast_user_status ("+statusColumns+") VALUES "+placeholders(8), st...); err != nil {
			return err
		}
	}
	return nil
}

func queryStrings(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string) ([]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals...)
	}
	return out, rows.Err()
}

// The SQLite inbox is seeded once per run into a directory of its own,
// shared by the benchmarks that read it and removed by TestMain.
var seeded struct {
	once sync.Once
	dir  string
	path string
	took time.Duration
	err  error
}

// seededSQLite returns the path of the SQLite file holding fullInbox.
func seededSQLite(b *testing.B) string {
	b.Helper()
	seeded.once.Do(func() {
		start := time.Now()
		seeded.dir, seeded.err = os.MkdirTemp("", "herald-bench-")
		if seeded.err != nil {
			return
		}
		seeded.path = filepath.Join(seeded.dir, "inbox.db")
		seeded.err = seedSQLite(context.Background(), seeded.path, fullInbox)
		seeded.took = time.Since(start)
		if seeded.err == nil {
			fmt.Fprintf(os.Stderr, "bench: seeded %d SQLite rows in %v\n", fullInbox.Rows, seeded.took.Round(time.Millisecond))
		}
	})
	if seeded.err != nil {
		b.Fatal("seed sqlite: ", seeded.err)
	}
	return seeded.path
}

func removeSeeded() {
	if seeded.dir != "" {
		os.RemoveAll(seeded.dir)
	}
}

// benchDatabase is the PostgreSQL database the benchmarks keep their
// seeded inbox in, across runs (see ensureSchema): seeding is skipped when
// it already holds fullInbox.
const benchDatabase = "herald_bench"

var pgSeeded struct {
	once    sync.Once
	dsn     string
	err     error
	skipped sync.Once
}

// seededPostgres returns a DSN of the herald_bench database holding
// fullInbox, creating and seeding it as needed, or skips b without
// HERALD_TEST_POSTGRES_DSN.
func seededPostgres(b *testing.B) string {
	b.Helper()
	base := os.Getenv(testdb.PostgresEnv)
	if base == "" {
		const msg = testdb.PostgresEnv + " not set: PostgreSQL benchmarks skipped"
		pgSeeded.skipped.Do(func() { fmt.Fprintln(os.Stderr, "bench: "+msg) })
		b.Skip(msg)
	}
	pgSeeded.once.Do(func() {
		ctx := context.Background()
		dsn, err := ensureDatabase(ctx, base, benchDatabase)
		if err == nil {
			dsn, err = ensureSchema(ctx, b, dsn)
		}
		if err == nil {
			start := time.Now()
			var seededNow bool
			if seededNow, err = seedPostgres(ctx, dsn, fullInbox); seededNow {
				fmt.Fprintf(os.Stderr, "bench: seeded %d PostgreSQL rows in %v\n", fullInbox.Rows, time.Since(start).Round(time.Millisecond))
			}
		}
		pgSeeded.dsn, pgSeeded.err = dsn, err
	})
	if pgSeeded.err != nil {
		b.Fatal("seed postgres: ", pgSeeded.err)
	}
	return pgSeeded.dsn
}

// ensureSchema returns dsn with its search_path set to the schema that
// holds the inbox for the current migrations, creating it if needed. The
// schema is named for a hash of store/migrations/postgres: a changed
// schema gets a fresh copy, seeded anew, rather than rows under an
// outdated one. Copies for other migrations are dropped.
func ensureSchema(ctx context.Context, tb testing.TB, dsn string) (string, error) {
	files, err := filepath.Glob("../../store/migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("find the PostgreSQL migrations: %v", err)
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	schema := fmt.Sprintf("inbox_%x", h.Sum(nil)[:6])
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	old, err := queryStrings(ctx, db, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'inbox\_%' AND nspname <> '`+schema+`'`)
	if err != nil {
		return "", err
	}
	for _, o := range old {
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+pgx.Identifier{o}.Sanitize()+" CASCADE"); err != nil {
			return "", err
		}
	}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return "", err
	}
	return testdb.WithSearchPath(tb, dsn, schema), nil
}

// ensureDatabase creates database name on base's server unless it exists
// and returns a DSN for it.
func ensureDatabase(ctx context.Context, base, name string) (string, error) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			return "", err
		}
	}
	if u, err := url.Parse(base); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String(), nil
	}
	return base + " dbname=" + name, nil
}

// seedPostgres migrates the database at dsn and, unless it already holds
// in, empties Herald's tables and loads in with COPY, notification's
// secondary indexes dropped meanwhile and rebuilt after, then VACUUM
// ANALYZE: the state autovacuum keeps a live database in, with planner
// statistics and a visibility map for index-only scans. It reports
// whether it seeded.
func seedPostgres(ctx context.Context, dsn string, in inbox) (bool, error) {
	s, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		return false, err
	}
	s.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return false, err
	}
	defer db.Close()
	if in.verify(ctx, db, "$1") == nil {
		return false, nil
	}
	return true, loadPostgres(ctx, db, in)
}

func loadPostgres(ctx context.Context, db *sql.DB, in inbox) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "TRUNCATE notification, broadcast, broadcast_user_status"); err != nil {
			return err
		}
		var names, defs []string
		rows, err := tx.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'notification' AND indexname <> 'notification_pkey'`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				return err
			}
			names, defs = append(names, name), append(defs, def)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, name := range names {
			if _, err := tx.Exec(ctx, "DROP INDEX "+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
		}
		i := 0
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"notification"}, strings.Split(strings.ReplaceAll(seedColumns, `"`, ""), ", "),
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == in.Rows {
					return nil, nil
				}
				i++
				return in.row(i-1, pgTime), nil
			}))
		if err != nil {
			return err
		}
		for _, def := range defs {
			if _, err := tx.Exec(ctx, def); err != nil {
				return err
			}
		}
		// The broadcasts and statuses by COPY too, one statement each:
		// an inbox may hold 500,000 broadcasts, and one INSERT per row
		// in one transaction would update the broadcast count (a
		// trigger's) 500,000 times, each update walking the row's chain
		// of versions from the earlier ones.
		j := 0
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"broadcast"}, strings.Split(broadcastColumns, ", "),
			pgx.CopyFromFunc(func() ([]any, error) {
				if j == in.Broadcasts {
					return nil, nil
				}
				j++
				return in.broadcast(j-1, pgTime), nil
			}))
		if err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"broadcast_user_status"}, strings.Split(strings.ReplaceAll(statusColumns, `"`, ""), ", "),
			pgx.CopyFromRows(in.statuses(pgTime)))
		if err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE notification, broadcast, broadcast_user_status"); err != nil {
		return err
	}
	return in.verify(ctx, db, "$1")
}

// testInbox is small enough for go test ./... .
var testInbox = inbox{Users: 10, Rows: 1000, Heavy: 100, Broadcasts: 5}

// TestSeed checks that the seeding helpers write the rows the benchmarks
// count on: the expected row counts, and the status Herald reports for
// the status user.
func TestSeed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	check := func(t *testing.T, st *store.Store, db *sql.DB, bind string) {
		if err := testInbox.verify(ctx, db, bind); err != nil {
			t.Error(err)
		}
		got, err := st.Status(ctx, statusUser)
		if err != nil {
			t.Fatal(err)
		}
		if want := testInbox.wantStatus(); got != want {
			t.Errorf("Status(%s) = %+v, want %+v", statusUser, got, want)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "inbox.db")
		if err := seedSQLite(ctx, path, testInbox); err != nil {
			t.Fatal(err)
		}
		st := openStore(t, path)
		check(t, st, st.DB().DB, "?")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := testdb.PostgresSchema(t)
		if _, err := seedPostgres(ctx, dsn, testInbox); err != nil {
			t.Fatal(err)
		}
		st, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		check(t, st, st.DB().DB, "$1")
	})
}
