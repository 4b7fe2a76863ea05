package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// query runs a statement that returns rows on db (the Store's database or
// a transaction).
func (s *Store) query(ctx context.Context, db bun.IDB, st statement) (*sql.Rows, error) {
	text, args, err := st.query()
	if err != nil {
		return nil, err
	}
	return db.QueryContext(ctx, text, args...)
}

// queryRow runs a statement that returns one row and scans it into dest.
func (s *Store) queryRow(ctx context.Context, st statement, dest ...any) error {
	text, args, err := st.query()
	if err != nil {
		return err
	}
	return s.db.QueryRowContext(ctx, text, args...).Scan(dest...)
}

// execResult runs a statement that returns no rows.
func (s *Store) execResult(ctx context.Context, db bun.IDB, st statement) (sql.Result, error) {
	text, args, err := st.query()
	if err != nil {
		return nil, err
	}
	return db.ExecContext(ctx, text, args...)
}

func (s *Store) exec(ctx context.Context, db bun.IDB, st statement) error {
	_, err := s.execResult(ctx, db, st)
	return err
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx bun.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
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
