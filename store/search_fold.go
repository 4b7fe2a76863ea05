package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/heraldhq/herald/internal/casefold"
)

// Search runs on title_fold and description_fold, the title and
// description case-folded in Go (casefold.String) when they are written,
// against the search term folded the same way: SQL's own LOWER cannot
// give one answer on both databases (SQLite's folds ASCII only,
// PostgreSQL's follows the database's LC_CTYPE), and a function
// registered with the SQLite driver would not reach a *bun.DB a host
// opened itself.

// searchFoldMigration is the migration that adds the folded columns: its
// SQL adds them, then backfillSearchFold fills them for the rows already
// stored, in the migration's transaction.
const searchFoldMigration = "20261204000003"

// backfillBatch is how many rows one backfill statement folds.
const backfillBatch = 500

// withGoSteps returns ms with the Go steps of its migrations added after
// their SQL: the search fold's backfill.
//
// The backfill runs inside the migration, not in the background after
// it: a search must find every row from the moment the columns exist, and
// the folded values come out of the same transaction as the columns, so a
// failed backfill leaves the schema as it was and the next open tries
// again. The cost is paid once, while the migration lock is held (on
// PostgreSQL, other instances' statements on the two tables wait for the
// ALTER TABLE's lock until it commits): about 4 s per 100,000 rows on
// SQLite and 7 s on PostgreSQL on a busy two-core machine
// (BenchmarkSearchFoldBackfill; batches of 100 or 2,000 rows, or an
// UPDATE joining a VALUES list instead of the CASE, were no faster).
func (s *Store) withGoSteps(ms *migrate.Migrations) *migrate.Migrations {
	out := migrate.NewMigrations()
	for _, m := range ms.Sorted() {
		if m.Name == searchFoldMigration && m.Up != nil {
			up := m.Up
			m.Up = func(ctx context.Context, mr *migrate.Migrator, mg *migrate.Migration) error {
				if err := up(ctx, mr, mg); err != nil {
					return err
				}
				return s.backfillSearchFold(ctx, mr.DB())
			}
		}
		out.Add(m)
	}
	return out
}

// backfillSearchFold folds the title and description of every stored
// notification and broadcast, in batches of backfillBatch rows read in id
// order.
func (s *Store) backfillSearchFold(ctx context.Context, db bun.IDB) error {
	for _, table := range []string{"notification", "broadcast"} {
		after := ""
		for {
			n, last, err := s.backfillBatch(ctx, db, table, after)
			if err != nil {
				return fmt.Errorf("fold %s search text: %w", table, err)
			}
			if n < backfillBatch {
				break
			}
			after = last
		}
	}
	return nil
}

// backfillBatch folds the first backfillBatch rows of table after the id
// after ("": from the start) and returns how many it read and the last
// id. One UPDATE writes the batch: each folded column is a CASE on id
// over the rows whose fold differs from their text (the rest copy it).
func (s *Store) backfillBatch(ctx context.Context, db bun.IDB, table, after string) (int, string, error) {
	sel := newStmt(s.d, 128)
	sel.raw("SELECT id, title, description FROM ").raw(table)
	if after != "" {
		sel.raw(" WHERE id > ").str(after)
	}
	sel.raw(" ORDER BY id LIMIT ").int(backfillBatch)
	type row struct{ id, title, desc, titleFold, descFold string }
	var batch []row
	rows, err := s.query(ctx, db, sel)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		var desc sql.NullString
		if err := rows.Scan(&r.id, &r.title, &desc); err != nil {
			return 0, "", err
		}
		r.desc = desc.String
		r.titleFold, r.descFold = casefold.String(r.title), casefold.String(r.desc)
		batch = append(batch, r)
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	rows.Close()
	if len(batch) == 0 {
		return 0, "", nil
	}

	up := newStmt(s.d, 256*len(batch))
	up.raw("UPDATE ").raw(table).raw(" SET title_fold = ")
	column := func(source string, text, fold func(row) string) {
		cases := false
		for _, r := range batch {
			if fold(r) != text(r) {
				if !cases {
					up.raw("CASE id")
					cases = true
				}
				up.raw(" WHEN ").str(r.id).raw(" THEN ").str(fold(r))
			}
		}
		if cases {
			up.raw(" ELSE ").raw(source).raw(" END")
		} else {
			up.raw(source)
		}
	}
	column("title", func(r row) string { return r.title }, func(r row) string { return r.titleFold })
	up.raw(", description_fold = ")
	column("description", func(r row) string { return r.desc }, func(r row) string { return r.descFold })
	ids := make([]string, len(batch))
	for i, r := range batch {
		ids[i] = r.id
	}
	up.raw(" WHERE id IN ").strList(ids)
	if err := s.exec(ctx, db, up); err != nil {
		return 0, "", err
	}
	return len(batch), batch[len(batch)-1].id, nil
}

// folder folds one column's text for search, remembering the last text:
// the rows of a fan-out share theirs, which is then folded once, and
// compared at the cost of a pointer.
type folder struct {
	text, fold string
	set        bool
}

func (f *folder) of(s string) string {
	if !f.set || s != f.text {
		f.text, f.fold, f.set = s, casefold.String(s), true
	}
	return f.fold
}
