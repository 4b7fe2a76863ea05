package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
	rec                        *notifications.SendRecord
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
	w := sendWrite{rec: r, id: id, origin: origin, options: string(options), trace: r.TraceParent, key: r.IdempotencyKey,
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
	js, err := w.encodeResult(ns)
	w.result = js
	return err
}

// A result is stored in one of two forms. The full form is the JSON
// array of the notifications. The short form, {"ids": [[id, user], ...]},
// stands for notifications that are exactly the send's options as stored
// in the row (origin, created, the options' payload, nothing read, saved
// or updated), which is every send without a pre-processor that changed
// the payload and without a scoped row that met a stored one: KeyedSend
// rebuilds them from the row. It saves encoding (and the database
// storing) every notification's payload again.
type shortResult struct {
	IDs [][2]string `json:"ids"`
}

// encodeResult encodes a keyed send's result, in the short form when it
// can stand for ns.
func (w *sendWrite) encodeResult(ns []notifications.Notification) (string, error) {
	if ns == nil {
		ns = []notifications.Notification{}
	}
	short := shortResult{IDs: make([][2]string, len(ns))}
	for i := range ns {
		if !w.fromOptions(&ns[i]) {
			short.IDs = nil
			break
		}
		short.IDs[i] = [2]string{ns[i].ID, ns[i].User}
	}
	var js []byte
	var err error
	if short.IDs != nil {
		js, err = json.Marshal(short)
	} else {
		js, err = json.Marshal(ns)
	}
	if err != nil {
		return "", fmt.Errorf("%w: send result: %w", notifications.ErrInvalid, err)
	}
	return string(js), nil
}

// fromOptions reports whether n is what the short form rebuilds: the
// record's origin, time and payload (the same metadata map, not only an
// equal one), unread, unsaved, never updated.
func (w *sendWrite) fromOptions(n *notifications.Notification) bool {
	p, o := &n.Payload, &w.rec.Options.Payload
	return n.Origin == w.origin && n.Created.Equal(w.created) && n.Updated == nil && n.Read == nil && n.Saved == nil &&
		p.Title == o.Title && p.Description == o.Description && p.Link == o.Link && p.Severity == o.Severity &&
		p.Topic == o.Topic && p.Scope == o.Scope && p.Icon == o.Icon && sameMap(p.Metadata, o.Metadata)
}

func sameMap(a, b map[string]any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// decodeResult decodes a stored result; options, origin and created are
// the row's, for the short form.
func decodeResult(js, options []byte, origin string, created time.Time) ([]notifications.Notification, error) {
	out := []notifications.Notification{}
	if len(js) == 0 {
		return out, nil
	}
	if js[0] == '[' {
		err := json.Unmarshal(js, &out)
		return out, err
	}
	var short shortResult
	if err := json.Unmarshal(js, &short); err != nil {
		return nil, err
	}
	o, err := decodeOptions(options)
	if err != nil {
		return nil, err
	}
	for _, iu := range short.IDs {
		out = append(out, notifications.Notification{ID: iu[0], User: iu[1], Origin: origin, Created: created, Payload: o.Payload})
	}
	return out, nil
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
	js, err := w.encodeResult(saved)
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
	var (
		hash            sql.NullString
		created         nullTime
		result, options nullBytes
	)
	dest := []any{&out.SendID, &hash, &created, &result, &options}
	var err error
	if stmt := s.keyedStmt(ctx); stmt != nil {
		err = s.read(ctx, func() error { return stmt.QueryRowContext(ctx, origin, key).Scan(dest...) })
	} else {
		b := newStmt(s.d, 256)
		b.raw("SELECT id, request_hash, created, result, options FROM herald_send WHERE origin = ").str(origin).
			raw(" AND idempotency_key = ").str(key)
		err = s.read(ctx, func() error { return s.queryRow(ctx, b, dest...) })
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return out, fmt.Errorf("store: keyed send: %w", notifications.ErrNotFound)
	case err != nil:
		return out, fmt.Errorf("store: keyed send: %w", err)
	}
	out.RequestHash, out.Created = hash.String, created.t
	if out.Result, err = decodeResult(result.b, options.b, origin, created.t); err != nil {
		return out, fmt.Errorf("store: keyed send %s: result: %w", out.SendID, err)
	}
	return out, nil
}

// keyedOneSQL is KeyedSend's lookup as a prepared statement (SQLite's
// placeholders: only SQLite prepares it, see dialect.prepareHot).
const keyedOneSQL = `SELECT id, request_hash, created, result, options FROM herald_send WHERE origin = ? AND idempotency_key = ?`

// keyedStmt returns the prepared keyedOneSQL on a store that prepares hot
// statements, preparing it on first use; nil otherwise, or when preparing
// failed (the caller then sends the query as text).
func (s *Store) keyedStmt(ctx context.Context) *sql.Stmt {
	if !s.d.prepareHot() {
		return nil
	}
	if stmt := s.keyedOne.Load(); stmt != nil {
		return stmt
	}
	stmt, err := s.db.DB.PrepareContext(ctx, keyedOneSQL)
	if err != nil {
		return nil
	}
	if !s.keyedOne.CompareAndSwap(nil, stmt) {
		stmt.Close()
		return s.keyedOne.Load()
	}
	return stmt
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
