package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/notifications"
)

// query runs a statement that returns rows on db (the Store's database or
// a transaction).
func (s *Store) query(ctx context.Context, db bun.IDB, st statement) (*sql.Rows, error) {
	text, err := st.sql(s.db.QueryGen())
	if err != nil {
		return nil, err
	}
	return db.QueryContext(ctx, text)
}

// queryRow runs a statement that returns one row and scans it into dest.
func (s *Store) queryRow(ctx context.Context, st statement, dest ...any) error {
	return s.queryRowOn(ctx, s.db, st, dest...)
}

// queryRowOn is queryRow on db (the Store's database or a transaction).
func (s *Store) queryRowOn(ctx context.Context, db bun.IDB, st statement, dest ...any) error {
	text, err := st.sql(s.db.QueryGen())
	if err != nil {
		return err
	}
	return db.QueryRowContext(ctx, text).Scan(dest...)
}

// execResult runs a statement that returns no rows.
func (s *Store) execResult(ctx context.Context, db bun.IDB, st statement) (sql.Result, error) {
	text, err := st.sql(s.db.QueryGen())
	if err != nil {
		return nil, err
	}
	return db.ExecContext(ctx, text)
}

// execAffected runs one statement outside a transaction, as writeOnce
// runs it, and returns how many rows it changed.
func (s *Store) execAffected(ctx context.Context, st statement) (int64, error) {
	var n int64
	err := s.writeOnce(ctx, func() error {
		res, err := s.execResult(ctx, s.db, st)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return n, err
}

// readRows runs the read st as s.read does (retried after a transient
// failure) and scans every row with scan; sizeHint sizes the result.
func readRows[T any](ctx context.Context, s *Store, st statement, sizeHint int, scan func(*sql.Rows) (T, error)) ([]T, error) {
	var out []T
	err := s.read(ctx, func() error {
		rows, err := s.query(ctx, s.db, st)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = make([]T, 0, min(sizeHint, maxPreallocRows))
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, err
}

func (s *Store) exec(ctx context.Context, db bun.IDB, st statement) error {
	_, err := s.execResult(ctx, db, st)
	return err
}

// Transient failures: a connection that dies under a call (PostgreSQL
// restarting, a backend terminated, a network cut) fails that call, yet the
// same call on a fresh connection would succeed. The store runs it again
// where that is safe, up to maxAttempts times in all, and returns what
// still fails wrapped with notifications.ErrUnavailable, so the caller can
// tell it from bad input or a bug (a 503 over HTTP, not a 500):
//
//   - a read runs again after any such failure;
//   - a transaction runs again, from BEGIN, after a failure before COMMIT:
//     the database rolls back a transaction whose connection is gone, so
//     nothing of it was written;
//   - a failure at COMMIT is not retried: the commit may have happened
//     with only its answer lost, and running the writes again could store
//     them twice;
//   - a statement that commits on its own runs again only when it
//     certainly did not run (nothing was sent, or the server said it
//     aborted it), for the same reason.
//
// A failure once the context is cancelled or expired is not retried nor
// wrapped: the caller ended the call. A transient failure whose retry the
// context's end cuts short is still ErrUnavailable.
const maxAttempts = 3

// retryWait is the pause before attempt n+1 (n from 1): long enough for
// the pool to notice dead connections, short enough to stay inside a
// request's time.
func retryWait(n int) time.Duration { return time.Duration(n*n) * 10 * time.Millisecond }

// failure is how a dialect classes an error for retrying.
type failure int

const (
	// permanent is not a connection problem: bad input, a constraint, a
	// bug. Returned as it is.
	permanent failure = iota
	// notRun means the statement certainly did not run: the connection
	// failed before anything was sent, or the server aborted it.
	notRun
	// connLost means the connection died with the statement in flight:
	// an open transaction is gone, uncommitted; a statement committing on
	// its own may or may not have committed.
	connLost
	// unavailable is transient but not worth retrying here (SQLite busy
	// past its timeout, which already waited).
	unavailable
)

// opKind says which failures an operation may be run again after.
type opKind int

const (
	opRead  opKind = iota // a read: after notRun and connLost
	opWrite               // one statement committing on its own: after notRun only
	opTx                  // a transaction: after either, unless at COMMIT
)

// commitError marks the failure of COMMIT itself: never retried.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// run runs fn, again on a transient failure where kind allows it.
func (s *Store) run(ctx context.Context, kind opKind, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := s.attempt(ctx, kind, fn)
		if err == nil || ctx.Err() != nil {
			return err
		}
		f := s.d.failure(err)
		if f == permanent {
			return err
		}
		if s.health != nil {
			s.health.failed()
		}
		var ce *commitError
		again := f == notRun || (f == connLost && kind != opWrite)
		if !again || errors.As(err, &ce) || f == unavailable || attempt == maxAttempts {
			return fmt.Errorf("%w: %w", notifications.ErrUnavailable, err)
		}
		t := time.NewTimer(retryWait(attempt))
		select {
		case <-ctx.Done(): // no time left to try again
			t.Stop()
			return fmt.Errorf("%w: %w", notifications.ErrUnavailable, err)
		case <-t.C:
		}
	}
}

// attempt runs fn once; a write on SQLite first takes its turn at the
// store's write gate (see Store.writers).
func (s *Store) attempt(ctx context.Context, kind opKind, fn func() error) error {
	if kind == opRead || s.writers == nil {
		return fn()
	}
	select {
	case s.writers <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writers }()
	return fn()
}

// read runs fn, a read, retrying it on a transient failure.
func (s *Store) read(ctx context.Context, fn func() error) error { return s.run(ctx, opRead, fn) }

// writeOnce runs fn, one statement committing on its own, retrying it
// only when it certainly did not run.
func (s *Store) writeOnce(ctx context.Context, fn func() error) error {
	return s.run(ctx, opWrite, fn)
}

// inTx runs fn in a transaction, committing when it returns nil, and runs
// the whole transaction again after a transient failure before COMMIT. fn
// must start from scratch each time it is called.
func (s *Store) inTx(ctx context.Context, fn func(tx bun.Tx) error) error {
	return s.run(ctx, opTx, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			// After a lost connection the rollback's own failure says
			// nothing more.
			if rbErr := ignoreDone(tx.Rollback()); rbErr != nil && s.d.failure(err) == permanent {
				err = errors.Join(err, rbErr)
			}
			return err
		}
		if err := tx.Commit(); err != nil {
			return &commitError{err}
		}
		return nil
	})
}

// ignoreDone drops the error of rolling back a transaction database/sql
// already ended (its context was cancelled).
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// translate turns a driver's unique violation into ErrDuplicateID, the
// only one a write can hit: scope conflicts are upserts.
func (s *Store) translate(err error) error {
	if err != nil && s.d.isUniqueViolation(err) {
		return fmt.Errorf("%w (%v)", ErrDuplicateID, err)
	}
	return err
}
