package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Idempotent sends. A send with a key writes its herald_send row first in
// its transaction, with INSERT ... ON CONFLICT DO NOTHING on the unique
// partial index (origin, idempotency_key): on PostgreSQL a concurrent send
// with the same key blocks on that index entry until the first send's
// transaction ends, then inserts (the first rolled back) or does nothing
// (it committed), which this store reports as
// notifications.ErrIdempotencyKeyUsed, rolling its own transaction back;
// on SQLite writers take turns anyway (BEGIN IMMEDIATE). The row keeps the
// send's result, the notifications it returned, as JSON: a replay returns
// them as they were returned, whatever happened to them since.

// sendWrite is a notifications.SendRecord checked and encoded once,
// before the transaction.
type sendWrite struct {
	id, origin, options, trace string
	key, hash                  string
	created, expiredBefore     time.Time // expiredBefore zero: no expired holder to take the key from
	schedule                   *notifications.ScheduleLease
	// result is the send's result JSON when it is known before the
	// transaction (no scoped row, whose stored id only the write tells);
	// "" otherwise, and then writeResult stores it after the rows.
	result string
}

// prepareSend checks r for writing with the send's checked id, origin
// and time.
func prepareSend(_ dialect, r *notifications.SendRecord, id, origin string, created time.Time) (sendWrite, error) {
	options, err := json.Marshal(r.Options)
	if err != nil {
		return sendWrite{}, fmt.Errorf("%w: send options: %w", notifications.ErrInvalid, err)
	}
	w := sendWrite{id: id, origin: origin, options: string(options), trace: r.TraceParent, key: r.IdempotencyKey,
		hash: r.RequestHash, created: created}
	if w.key != "" && !r.KeyExpiredBefore.IsZero() {
		if err := checkTime("key expiry", r.KeyExpiredBefore); err != nil {
			return sendWrite{}, err
		}
		w.expiredBefore = ms(r.KeyExpiredBefore)
	}
	if l := r.Schedule; l != nil {
		if !uuid.Valid(l.ID) || l.Token == "" {
			return sendWrite{}, fmt.Errorf("store: schedule %s: %w", l.ID, notifications.ErrLeaseLost)
		}
		w.schedule = &notifications.ScheduleLease{ID: strings.ToLower(l.ID), Token: l.Token}
	}
	for _, t := range []string{w.origin, w.trace, w.key, w.hash} {
		if err := checkText(t); err != nil {
			return sendWrite{}, fmt.Errorf("send record: %w", err)
		}
	}
	return w, nil
}

// presetResult records the send's result before the transaction, when it
// is known then: the rows are stored as given.
func (w *sendWrite) presetResult(ns []notifications.Notification) error {
	if w.key == "" {
		return nil
	}
	js, err := encodeResult(ns)
	w.result = js
	return err
}

func encodeResult(ns []notifications.Notification) (string, error) {
	if ns == nil {
		ns = []notifications.Notification{}
	}
	js, err := json.Marshal(ns)
	if err != nil {
		return "", fmt.Errorf("%w: send result: %w", notifications.ErrInvalid, err)
	}
	return string(js), nil
}

// writeSend writes the send row on tx, first in the send's transaction:
// the schedule it runs marked sent (fenced by the lease), an expired
// holder's key taken, then the row itself.
func (w *sendWrite) writeSend(ctx context.Context, s *Store, tx bun.IDB) error {
	if l := w.schedule; l != nil {
		b := newStmt(s.d, 256)
		b.raw("UPDATE herald_schedule SET status = 'sent', lease_token = NULL, lease_owner = NULL, next_attempt = NULL, send_id = ").
			str(w.id).raw(", updated = ").time(w.created).raw(" WHERE id = ").str(l.ID).raw(" AND lease_token = ").str(l.Token).
			raw(" AND ").raw(scheduleWaiting)
		n, err := s.rowsAffected(ctx, tx, b)
		if err != nil {
			return err
		}
		if n == 0 {
			return errLeaseLost("mark schedule sent", l.ID)
		}
	}
	if w.key != "" && !w.expiredBefore.IsZero() {
		b := newStmt(s.d, 256)
		b.raw("UPDATE herald_send SET idempotency_key = NULL, request_hash = NULL, result = NULL WHERE origin = ").str(w.origin).
			raw(" AND idempotency_key = ").str(w.key).raw(" AND created < ").time(w.expiredBefore)
		if err := s.exec(ctx, tx, b); err != nil {
			return err
		}
	}
	b := newStmt(s.d, 256+len(w.options)+len(w.result))
	b.raw("INSERT INTO herald_send (id, origin, options, trace_parent, idempotency_key, request_hash, result, created) VALUES (").
		str(w.id).raw(", ").str(w.origin).raw(", ").json(w.options).raw(", ").optStr(w.trace).
		raw(", ").optStr(w.key).raw(", ").optStr(w.hash).raw(", ").json(w.result).raw(", ").time(w.created).raw(")")
	if w.key == "" {
		return s.exec(ctx, tx, b)
	}
	b.raw(" ON CONFLICT (origin, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING")
	n, err := s.rowsAffected(ctx, tx, b)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("store: send of %s with key %q: %w", w.origin, w.key, notifications.ErrIdempotencyKeyUsed)
	}
	return nil
}

// writeResult stores the result of a keyed send whose result was not
// known before its rows were written.
func (w *sendWrite) writeResult(ctx context.Context, s *Store, tx bun.IDB, saved []notifications.Notification) error {
	if w.key == "" || w.result != "" {
		return nil
	}
	js, err := encodeResult(saved)
	if err != nil {
		return err
	}
	b := newStmt(s.d, 64+len(js))
	b.raw("UPDATE herald_send SET result = ").json(js).raw(" WHERE id = ").str(w.id)
	return s.exec(ctx, tx, b)
}

// rowsAffected runs b on db and returns how many rows it changed.
func (s *Store) rowsAffected(ctx context.Context, db bun.IDB, b statement) (int64, error) {
	res, err := s.execResult(ctx, db, b)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// KeyedSend implements notifications.Store.
func (s *Store) KeyedSend(ctx context.Context, origin, key string) (notifications.KeyedSend, error) {
	var out notifications.KeyedSend
	if checkText(origin) != nil || checkText(key) != nil || key == "" {
		return out, fmt.Errorf("store: keyed send: %w", notifications.ErrNotFound)
	}
	b := newStmt(s.d, 256)
	b.raw("SELECT id, request_hash, created, result FROM herald_send WHERE origin = ").str(origin).
		raw(" AND idempotency_key = ").str(key)
	var (
		hash    sql.NullString
		created nullTime
		result  nullBytes
	)
	err := s.read(ctx, func() error { return s.queryRow(ctx, b, &out.SendID, &hash, &created, &result) })
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return out, fmt.Errorf("store: keyed send: %w", notifications.ErrNotFound)
	case err != nil:
		return out, fmt.Errorf("store: keyed send: %w", err)
	}
	out.RequestHash, out.Created = hash.String, created.t
	out.Result = []notifications.Notification{}
	if len(result.b) > 0 {
		if err := json.Unmarshal(result.b, &out.Result); err != nil {
			return out, fmt.Errorf("store: keyed send %s: result: %w", out.SendID, err)
		}
	}
	return out, nil
}

// DeleteExpiredIdempotencyKeys implements notifications.Store. A cutoff
// before year 1 clears nothing, one after 9999 every key of a send and of
// a finished schedule; batchSize <= 0 means 1000. On error, the count so
// far is returned with it.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context, cutoff time.Time, batchSize int) (int, error) {
	if batchSize <= 0 {
		batchSize = defaultDeleteBatch
	}
	// Before cutoff: at or before the millisecond before it.
	before := " < "
	cutoff, bnd := atOrAfter(cutoff)
	switch {
	case bnd == boundNone: // after year 9999: every key
		cutoff, before = maxTime, " <= "
	case bnd == boundAll || cutoff.Equal(minTime): // nothing is stored before
		return 0, nil
	}
	sends := newStmt(s.d, 256)
	sends.raw("UPDATE herald_send SET idempotency_key = NULL, request_hash = NULL, result = NULL WHERE id IN (SELECT id FROM herald_send WHERE ").
		raw("idempotency_key IS NOT NULL AND created").raw(before).time(cutoff).raw(" LIMIT ").int(batchSize).raw(")")
	schedules := newStmt(s.d, 256)
	schedules.raw("UPDATE herald_schedule SET idempotency_key = NULL, request_hash = NULL WHERE id IN (SELECT id FROM herald_schedule WHERE ").
		raw(scheduleFinished).raw(" AND idempotency_key IS NOT NULL AND updated").raw(before).time(cutoff).raw(" LIMIT ").int(batchSize).raw(")")
	total, err := s.deleteBatches(ctx, sends, batchSize)
	if err == nil {
		var n int
		n, err = s.deleteBatches(ctx, schedules, batchSize)
		total += n
	}
	if err != nil {
		return total, fmt.Errorf("store: delete expired idempotency keys: %w", err)
	}
	return total, nil
}
