package store

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"time"
)

// Prepared reads: the inbox's reads (List's pages, Count, Counts,
// Status) run as statements prepared once and kept by their text with
// placeholders, their values bound, instead of as text with the values
// written in, parsed and planned again on every call. Parsing was about
// half of a List's CPU on SQLite (BenchmarkList's profile, the page and
// the count each parsed anew). On PostgreSQL the parse and plan are the
// server's, but the statement goes over pgx's extended protocol: Bind
// and Execute with the values alone, rows in binary, where the text
// protocol sent the whole text and parsed every value from text (about
// 5-8% of Herald's CPU per page and per status under BenchmarkServer's
// load). A read's text with placeholders depends only on the shape of
// its filter and order, not on the user or the values, so a few
// statements serve every user. PostgreSQL plans a prepared statement for
// its values for the first five runs and may then keep one generic plan
// for all; the plan tests check both use the indexes. The statements run
// on the database/sql pool beneath bun, as the hot statements do, so
// bun's query hooks do not see them (the tests do, through
// ObserveReads).

// maxReadStmts bounds how many read statements a store keeps prepared;
// a read whose text is not among them once the cache is full runs as
// text, as before.
const maxReadStmts = 64

// readStmts is a store's cache of prepared reads.
type readStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
	// observe, when set (tests), is told of every read run prepared.
	observe func(query string, args []any)
}

// bindable reports whether every argument of q can be bound: strings,
// integers, booleans and PostgreSQL times (see pgArgs). A list (IN) is
// written into the text by bun, so a statement with one is not prepared.
func bindable(q *stmt) bool {
	for _, a := range q.args {
		switch a.(type) {
		case string, int, int64, bool, pgTime:
		default:
			return false
		}
	}
	return true
}

// preparedRead returns q prepared, with the values to bind, or nil when
// q runs as text: the dialect does not prepare, q has an error or an argument that cannot be
// bound, the cache is full, or preparing failed.
func (s *Store) preparedRead(ctx context.Context, st statement) (*sql.Stmt, []any) {
	q, ok := st.(*stmt)
	if !ok || !s.d.prepareReads() || q.err != nil || !bindable(q) {
		return nil, nil
	}
	c := &s.reads
	c.mu.Lock()
	prepared := c.m[string(q.b)]
	full := len(c.m) >= maxReadStmts
	observe := c.observe
	c.mu.Unlock()
	if prepared == nil {
		if full {
			return nil, nil
		}
		text := string(q.b)
		prep := text
		if isPostgres(s.d) {
			prep = numberPlaceholders(text)
		}
		fresh, err := s.db.DB.PrepareContext(ctx, prep)
		if err != nil {
			return nil, nil // the text path reports it
		}
		c.mu.Lock()
		switch prepared = c.m[text]; {
		case prepared != nil: // another call prepared it first
			fresh.Close()
		case len(c.m) >= maxReadStmts:
			c.mu.Unlock()
			fresh.Close()
			return nil, nil
		default:
			if c.m == nil {
				c.m = make(map[string]*sql.Stmt)
			}
			c.m[text], prepared = fresh, fresh
		}
		c.mu.Unlock()
	}
	if observe != nil {
		observe(string(q.b), q.args)
	}
	if isPostgres(s.d) {
		return prepared, pgArgs(q.args)
	}
	return prepared, q.args
}

// numberPlaceholders turns bun's "?" placeholders into PostgreSQL's $1,
// $2, ...: every "?" of a stmt's text is one (see stmt.raw).
func numberPlaceholders(text string) string {
	b := make([]byte, 0, len(text)+16)
	n := 0
	for i := range len(text) {
		if text[i] != '?' {
			b = append(b, text[i])
			continue
		}
		n++
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

// pgArgs binds a read's values as pgx takes them: times as time.Time.
func pgArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(pgTime); ok {
			out[i] = time.UnixMilli(int64(t)).UTC()
			continue
		}
		out[i] = a
	}
	return out
}

// readQuery runs the read st, prepared where it can be (preparedRead).
func (s *Store) readQuery(ctx context.Context, st statement) (*sql.Rows, error) {
	if prepared, args := s.preparedRead(ctx, st); prepared != nil {
		return prepared.QueryContext(ctx, args...)
	}
	return s.query(ctx, s.db, st)
}

// readRow runs the read st, which returns one row, and scans it into dest.
func (s *Store) readRow(ctx context.Context, st statement, dest ...any) error {
	if prepared, args := s.preparedRead(ctx, st); prepared != nil {
		return prepared.QueryRowContext(ctx, args...).Scan(dest...)
	}
	return s.queryRow(ctx, st, dest...)
}

// close closes the prepared reads.
func (c *readStmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for text, prepared := range c.m {
		if cerr := prepared.Close(); err == nil {
			err = cerr
		}
		delete(c.m, text)
	}
	return err
}
