package store

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared reads: on a store whose dialect prepares hot statements
// (SQLite), the inbox's reads (List's pages, Count, Counts, Status) run
// as statements prepared once and kept by their text with placeholders,
// their values bound, instead of as text with the values written in,
// parsed and planned again on every call. Parsing was about half of a
// List's CPU on SQLite (BenchmarkList's profile, the page and the count
// each parsed anew). A read's text with placeholders depends only on the
// shape of its filter and order, not on the user or the values, so a
// few statements serve every user. They run on the database/sql pool
// beneath bun, as the hot statements do, so bun's query hooks do not see
// them (see readObserver).

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

// bindable reports whether every argument of q can be bound as it is:
// strings, integers, booleans. A list (IN) is written into the text by
// bun, so a statement with one is not prepared.
func bindable(q *stmt) bool {
	for _, a := range q.args {
		switch a.(type) {
		case string, int, int64, bool:
		default:
			return false
		}
	}
	return true
}

// preparedRead returns q prepared, or nil when q runs as text: the
// dialect does not prepare, q has an error or an argument that cannot be
// bound, the cache is full, or preparing failed.
func (s *Store) preparedRead(ctx context.Context, st statement) (*sql.Stmt, []any) {
	q, ok := st.(*stmt)
	if !ok || !s.d.prepareHot() || q.err != nil || !bindable(q) {
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
		fresh, err := s.db.DB.PrepareContext(ctx, text)
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
	return prepared, q.args
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
