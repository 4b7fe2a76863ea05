package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/notifications"
)

// Group commit: when several goroutines store a one-user send
// (SaveUnlessSettings) or a plain broadcast (broadcastPlainSQL) at once,
// their rows are written together, with one commit: on SQLite one
// transaction running the prepared one-row statement per row, so the WAL
// frames of the pages the rows share (the table's last leaf, the inbox
// and time indexes) are written once for N sends, not N times; on
// PostgreSQL one INSERT ... SELECT FROM unnest(...) of the whole batch,
// one round trip where there were N.
//
// It is a leader/follower queue, as LevelDB's writer queue or
// PostgreSQL's own group commit: a call that finds nothing running
// yields the processor once (runtime.Gosched, which returns at once on
// an idle server) and then runs alone, as without group commit, or leads
// the calls that queued meanwhile; calls arriving while one runs queue;
// when the running one finishes it takes up to maxBatch queued calls and
// wakes the first of them, which leads that batch, and returns. No timer
// waits for more rows and no goroutine outlives the calls.
//
// Each caller gets its own outcome. A batch the database refuses (one
// row's duplicate id) wrote nothing, so its rows run again one by one,
// each as a lone call would, and only the bad one fails. A transient
// failure keeps the rules of run: the SQLite transaction runs again from
// BEGIN after a failure before COMMIT; the PostgreSQL statement, which
// commits on its own, only when it certainly did not run; what still
// fails is every row's ErrUnavailable, as it would have been for each
// alone. A queued caller whose context ends before its batch starts
// withdraws (ctx.Err(), nothing written); once the batch started it waits
// for the outcome, which runs on a context that ignores the leader's
// cancellation, so no caller is told of a failure for a row that was
// committed, and none is answered before COMMIT.

// maxBatch caps a batch: enough to share one commit among all the
// senders a busy server has in flight, few enough that the first of a
// batch does not wait long for the last.
const maxBatch = 64

// batchKind is what a groupCommit writes.
type batchKind int

const (
	// batchUnless is SaveUnlessSettings' row (insertUnlessSettingsSQL's
	// arguments), stored unless its user has settings rows.
	batchUnless batchKind = iota
	// batchBroadcast is a plain broadcast (broadcastPlainSQL's
	// arguments), always stored.
	batchBroadcast
)

// groupCommits are a Store's group commits and the PostgreSQL batch
// statements, once prepared. The zero value is ready.
type groupCommits struct {
	unless, broadcast groupCommit
	// pgUnless and pgBroadcast are the batch statements on PostgreSQL
	// (pgBatchSQL).
	pgUnless, pgBroadcast atomic.Pointer[sql.Stmt]
}

// close releases the prepared batch statements.
func (g *groupCommits) close() error {
	var err error
	for _, p := range []*atomic.Pointer[sql.Stmt]{&g.pgUnless, &g.pgBroadcast} {
		if stmt := p.Swap(nil); stmt != nil {
			err = errors.Join(err, stmt.Close())
		}
	}
	return err
}

// groupCommit is one kind's queue (see the comment at the top).
type groupCommit struct {
	mu sync.Mutex
	// running is set while a call runs alone or a batch is handed on or
	// running; a call finding it set queues.
	running bool
	queue   []*commitCall
	// contended is set when a call queued since the last run began,
	// cleared when a run ends with none queued: whether a call that
	// finds nothing running yields first (see do).
	contended bool
	// batched counts the rows committed in batches of two or more, and
	// retried the rows of batches that failed and ran one by one.
	batched, retried atomic.Int64
	// arrivals counts the calls that ever queued.
	arrivals int
	// Tests only, called under mu when set: queued is told arrivals
	// each time a call queues; writing, that a call which found nothing
	// running took what was queued and is writing.
	queued  func(arrivals int)
	writing func()
	// off (benchmarks only) has every call write alone, as before
	// group commit.
	off bool
}

// commitCall is one queued caller's row.
type commitCall struct {
	// ctx is the caller's, held only while the call waits: the row runs
	// on it when it runs alone (see lead).
	ctx  context.Context
	args []any // the one-row statement's arguments
	// ready is closed when the outcome is set, or when the call is to
	// lead batch (set first).
	ready chan struct{}
	batch []*commitCall
	// taken is set, under groupCommit.mu, once the call is in a batch:
	// it can no longer withdraw.
	taken  bool
	stored bool
	err    error
}

// do writes args' row of kind through g with stmt, the one-row hot
// statement, and reports whether it was stored (always, for a
// broadcast). Errors are translated (ErrDuplicateID).
func (g *groupCommit) do(ctx context.Context, s *Store, kind batchKind, stmt *sql.Stmt, args []any) (bool, error) {
	if !s.batches() {
		return s.writeOne(ctx, kind, stmt, args)
	}
	g.mu.Lock()
	if g.off {
		g.mu.Unlock()
		return s.writeOne(ctx, kind, stmt, args)
	}
	if !g.running {
		g.running = true
		yield := g.contended
		g.mu.Unlock()
		// Deferred: a call that panics (net/http recovers a handler's
		// panic) must not leave the queue stuck behind it.
		defer g.handOn()
		// Under contention (calls queued lately), yield once before
		// writing: the goroutines runnable now (other requests, most of
		// the way to their own send) run first, and those that reach
		// the queue share this call's commit. On SQLite, where a lone
		// INSERT is short, 27% of BenchmarkServer's sends were batched
		// without it, 91% with it. Without contention it would only
		// delay a lone write behind whatever else is runnable: an
		// unconditional yield cost BenchmarkSingle (one sender) a third
		// of its speed against its floor (0.72 -> 0.52).
		if yield {
			runtime.Gosched()
		}
		g.mu.Lock()
		queued := g.take(maxBatch - 1)
		if g.writing != nil {
			g.writing()
		}
		g.mu.Unlock()
		if len(queued) == 0 {
			return s.writeOne(ctx, kind, stmt, args)
		}
		self := &commitCall{ctx: ctx, args: args, taken: true}
		g.lead(s, kind, stmt, append([]*commitCall{self}, queued...))
		return self.stored, self.err
	}
	c := &commitCall{ctx: ctx, args: args, ready: make(chan struct{})}
	g.queue = append(g.queue, c)
	g.contended = true
	g.arrivals++
	if g.queued != nil {
		g.queued(g.arrivals)
	}
	g.mu.Unlock()
	select {
	case <-c.ready:
	case <-ctx.Done():
		g.mu.Lock()
		if !c.taken {
			g.queue = slices.DeleteFunc(g.queue, func(q *commitCall) bool { return q == c })
			g.mu.Unlock()
			return false, ctx.Err()
		}
		g.mu.Unlock()
		<-c.ready // in a batch already: its outcome is ours
	}
	if c.batch != nil {
		defer g.handOn()
		g.lead(s, kind, stmt, c.batch)
	}
	return c.stored, c.err
}

// batches reports whether s can write a batch: on SQLite, and on
// PostgreSQL through pgx (OpenPostgres, or a bun.DB of the caller's on
// pgx's database/sql driver), which binds the batch statement's array
// parameters from []pgtype.Text; another driver writes every row alone,
// as before group commit.
func (s *Store) batches() bool {
	if !isPostgres(s.d) {
		return true
	}
	_, ok := s.db.Driver().(*stdlib.Driver)
	return ok
}

// take removes up to n calls from the head of the queue and marks them
// taken; g.mu is held.
func (g *groupCommit) take(n int) []*commitCall {
	if len(g.queue) == 0 {
		return nil
	}
	batch := slices.Clone(g.queue[:min(len(g.queue), n)])
	g.queue = slices.Delete(g.queue, 0, len(batch))
	for _, c := range batch {
		c.taken = true
	}
	return batch
}

// handOn ends a run: the queued calls, up to maxBatch, become the next
// batch, led by the first of them; with none queued, the next call runs
// alone.
func (g *groupCommit) handOn() {
	g.mu.Lock()
	batch := g.take(maxBatch)
	if len(batch) == 0 {
		g.running, g.contended = false, false
	}
	g.mu.Unlock()
	if len(batch) > 0 {
		batch[0].batch = batch
		close(batch[0].ready)
	}
}

// lead runs batch, whose first call is the caller's, and gives every
// call its outcome (the caller's own is in batch[0], not signalled).
func (g *groupCommit) lead(s *Store, kind batchKind, stmt *sql.Stmt, batch []*commitCall) {
	done := 1 // the calls of batch[:done] have been told
	defer func() {
		// A panic in a driver must not leave the others waiting.
		for _, c := range batch[done:] {
			if c.err == nil {
				c.err = errors.New("store: group commit: the batch's leader panicked")
			}
			close(c.ready)
		}
	}()
	if len(batch) == 1 {
		c := batch[0]
		c.stored, c.err = s.writeOne(c.ctx, kind, stmt, c.args)
		return
	}
	// The batch is everybody's: the leader's cancellation must not
	// undo, or leave uncertain, the others' rows.
	err := s.writeMany(context.WithoutCancel(batch[0].ctx), kind, stmt, batch)
	switch {
	case err == nil:
		g.batched.Add(int64(len(batch)))
	case errors.Is(err, notifications.ErrUnavailable):
		// As each would have failed alone (and at COMMIT, their rows may
		// be stored: the caller cannot know, as with one statement).
		for _, c := range batch {
			c.stored, c.err = false, err
		}
	default:
		// Refused, so nothing of it was written: each row alone, as
		// without the batch, so only a bad row fails.
		g.retried.Add(int64(len(batch)))
		for _, c := range batch {
			c.stored, c.err = s.writeOne(c.ctx, kind, stmt, c.args)
		}
	}
	for _, c := range batch[1:] {
		close(c.ready)
		done++
	}
}

// writeOne writes one row with the hot statement, as a lone call did
// before group commit.
func (s *Store) writeOne(ctx context.Context, kind batchKind, stmt *sql.Stmt, args []any) (bool, error) {
	var affected int64
	err := s.writeOnce(ctx, func() error {
		res, err := stmt.ExecContext(ctx, args...)
		if err == nil && kind == batchUnless {
			affected, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, s.translate(err)
	}
	return kind == batchBroadcast || affected == 1, nil
}

// errNoBatch says the batch statement could not be prepared: the rows go
// one by one.
var errNoBatch = errors.New("store: group commit: no batch statement")

// writeMany writes the batch's rows together and sets each call's stored;
// on error nothing was written, unless the error wraps ErrUnavailable
// (see run). Errors are translated.
func (s *Store) writeMany(ctx context.Context, kind batchKind, stmt *sql.Stmt, batch []*commitCall) error {
	if isPostgres(s.d) {
		return s.translate(s.writeManyPostgres(ctx, kind, batch))
	}
	// One transaction (BEGIN IMMEDIATE on OpenSQLite's connections, so
	// the write lock is taken once, at BEGIN), the prepared statement
	// per row, one COMMIT; run again from BEGIN after a transient
	// failure before COMMIT, as inTx is.
	err := s.run(ctx, opTx, func() error {
		tx, err := s.db.DB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ts := tx.StmtContext(ctx, stmt)
		for _, c := range batch {
			res, err := ts.ExecContext(ctx, c.args...)
			var affected int64
			if err == nil && kind == batchUnless {
				affected, err = res.RowsAffected()
			}
			if err != nil {
				if rbErr := tx.Rollback(); rbErr != nil && s.d.failure(err) == permanent {
					err = errors.Join(err, rbErr)
				}
				return err
			}
			c.stored = kind == batchBroadcast || affected == 1
		}
		if err := tx.Commit(); err != nil {
			return &commitError{err}
		}
		return nil
	})
	return s.translate(err)
}

// writeManyPostgres is the batch as one statement (pgBatchSQL): each row's
// column in an array parameter, bound in binary over the extended
// protocol, one round trip. It commits on its own, so it runs again only
// when it certainly did not run.
func (s *Store) writeManyPostgres(ctx context.Context, kind batchKind, batch []*commitCall) error {
	p, query := &s.groups.pgBroadcast, broadcastPlainSQL
	if kind == batchUnless {
		p, query = &s.groups.pgUnless, insertUnlessSettingsSQL
	}
	stmt := p.Load()
	if stmt == nil {
		prepared, err := s.db.DB.PrepareContext(ctx, pgBatchSQL(query))
		if err != nil {
			return fmt.Errorf("%w: %w", errNoBatch, err)
		}
		if p.CompareAndSwap(nil, prepared) {
			stmt = prepared
		} else {
			prepared.Close() // another call prepared it first
			stmt = p.Load()
		}
	}
	types := pgHotTypes[query]
	if kind == batchUnless {
		types = types[:len(types)-1] // the user again, for the settings check
	}
	args := pgBatchArgs(types, batch)
	if kind == batchBroadcast {
		return s.writeOnce(ctx, func() error {
			_, err := stmt.ExecContext(ctx, args...)
			return err
		})
	}
	// Which rows were stored: RETURNING id, ids as normalize wrote them
	// (lower-case, PostgreSQL's text form of a uuid).
	return s.writeOnce(ctx, func() error {
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		stored := make(map[string]bool, len(batch))
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			stored[id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range batch {
			c.stored = stored[c.args[0].(string)]
		}
		return nil
	})
}

// pgBatchSQL is the PostgreSQL batch form of a hot INSERT (broadcastPlainSQL,
// insertUnlessSettingsSQL): the same columns and values, read from one
// array parameter per column by unnest, so a batch is one statement of
// fixed text, prepared once. A uuid or jsonb column's array is text[],
// cast per row (pgx binds text arrays from []pgtype.Text without
// reflection on the values).
func pgBatchSQL(query string) string {
	types := pgHotTypes[query]
	cols := make([]string, 0, len(types))
	var b strings.Builder
	if query == insertUnlessSettingsSQL {
		types = types[:len(types)-1] // the user again, for the settings check
		b.WriteString(`INSERT INTO notification (id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, title_fold, description_fold) ` +
			`SELECT v.c1::uuid, v.c2, v.c3, v.c4, v.c5, v.c6, v.c7, NULL, v.c8, v.c9, v.c10, v.c11, v.c12, v.c13, v.c14::jsonb, v.c15, v.c16`)
	} else {
		b.WriteString(strings.TrimSuffix(broadcastInsert, "VALUES ") +
			`SELECT v.c1::uuid, v.c2, v.c3, v.c4, v.c5, v.c6, v.c7, v.c8, v.c9, v.c10, v.c11, v.c12::jsonb, v.c13, v.c14`)
	}
	b.WriteString(" FROM unnest(")
	for i, t := range types {
		if i > 0 {
			b.WriteString(", ")
		}
		if t != "timestamptz" {
			t = "text"
		}
		b.WriteString("$" + strconv.Itoa(i+1) + "::" + t + "[]")
		cols = append(cols, "c"+strconv.Itoa(i+1))
	}
	b.WriteString(") AS v(" + strings.Join(cols, ", ") + ")")
	if query == insertUnlessSettingsSQL {
		b.WriteString(` WHERE NOT EXISTS (SELECT 1 FROM user_settings s WHERE s."user" = v.c2) RETURNING id`)
	}
	return b.String()
}

// pgBatchArgs are pgBatchSQL's arguments for batch: for each of the
// first len(types) columns of the calls' one-row arguments (strings, nil,
// time.Time, as hotArgs made them for PostgreSQL), the column as a
// timestamptz array where types says so, a text array otherwise.
func pgBatchArgs(types []string, batch []*commitCall) []any {
	args := make([]any, len(types))
	for i, t := range types {
		if t == "timestamptz" {
			col := make([]pgtype.Timestamptz, len(batch))
			for j, c := range batch {
				if v, ok := c.args[i].(time.Time); ok {
					col[j] = pgtype.Timestamptz{Time: v, Valid: true}
				}
			}
			args[i] = col
			continue
		}
		col := make([]pgtype.Text, len(batch))
		for j, c := range batch {
			if v, ok := c.args[i].(string); ok {
				col[j] = pgtype.Text{String: v, Valid: true}
			}
		}
		args[i] = col
	}
	return args
}
