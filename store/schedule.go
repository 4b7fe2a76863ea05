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

// Scheduled sends: herald_schedule rows, leased like deliveries. A waiting
// schedule is due when next_attempt (its at, a retry's time, or a lease's
// end) has passed, so "due" is one range of the partial index
// herald_schedule_due_idx, and a lease that runs out makes it due again.
// The run's send marks it sent in the send's own transaction, WHERE the
// lease token still matches (sendWrite.writeSend): a run whose lease was
// taken over, or whose schedule was cancelled meanwhile, commits nothing.
//
// Unlike deliveries, a SQLite file Store does not resume a dead owner's
// schedule leases early: they run again once the lease has run out.

// scheduleWaiting is the predicate of herald_schedule_due_idx.
const scheduleWaiting = "status = 'waiting'"

// scheduleFinished is the predicate of herald_schedule_finished_idx.
const scheduleFinished = "status IN ('sent', 'failed', 'cancelled')"

const scheduleColumns = `id, origin, options, at, status, attempts, last_error, idempotency_key, created, updated`

// scanSchedule reads one row of scheduleColumns, then extra.
func scanSchedule(rows interface{ Scan(...any) error }, extra ...any) (notifications.ScheduledSend, error) {
	var (
		sc                   notifications.ScheduledSend
		origin, status       string
		options              nullBytes
		lastError, key       sql.NullString
		at, created, updated nullTime
	)
	dest := append([]any{&sc.ID, &origin, &options, &at, &status, &sc.Attempts, &lastError, &key, &created, &updated}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return sc, err
	}
	o, err := decodeOptions(options.b)
	if err != nil {
		return sc, fmt.Errorf("schedule %s: options: %w", sc.ID, err)
	}
	o.Origin, o.IdempotencyKey = origin, key.String
	sc.Options, sc.At, sc.Status, sc.LastError = o, at.t, notifications.ScheduleStatus(status), lastError.String
	sc.Created, sc.Updated = created.t, updated.t
	return sc, nil
}

// SaveSchedule implements notifications.Store. The schedule's ID is
// checked (a new UUID when empty), its times must be within the years 1
// to 9999 (ErrInvalid otherwise); a zero Created means now.
func (s *Store) SaveSchedule(ctx context.Context, o notifications.SaveScheduleOptions) (notifications.SaveScheduleResult, error) {
	res, err := s.saveSchedule(ctx, o)
	if err != nil {
		return res, fmt.Errorf("store: save schedule: %w", err)
	}
	return res, nil
}

func (s *Store) saveSchedule(ctx context.Context, o notifications.SaveScheduleOptions) (notifications.SaveScheduleResult, error) {
	var res notifications.SaveScheduleResult
	sc := o.Schedule
	id, err := checkID("schedule", sc.ID)
	if err != nil {
		return res, err
	}
	if sc.Created.IsZero() {
		sc.Created = time.Now()
	}
	if sc.Updated.IsZero() {
		sc.Updated = sc.Created
	}
	if err := errors.Join(checkTime("at", sc.At), checkTime("created", sc.Created), checkTime("updated", sc.Updated)); err != nil {
		return res, err
	}
	key := sc.Options.IdempotencyKey
	if key != "" && !o.KeyExpiredBefore.IsZero() {
		if err := checkTime("key expiry", o.KeyExpiredBefore); err != nil {
			return res, err
		}
	}
	options, err := json.Marshal(sc.Options)
	if err != nil {
		return res, fmt.Errorf("%w: schedule options: %w", notifications.ErrInvalid, err)
	}
	sc.ID, sc.At, sc.Created, sc.Updated = id, ms(sc.At), ms(sc.Created), ms(sc.Updated)
	sc.Status, sc.Attempts, sc.LastError = notifications.ScheduleWaiting, 0, ""

	ins := newStmt(s.d, 512+len(options))
	ins.raw("INSERT INTO herald_schedule (id, origin, options, at, next_attempt, idempotency_key, request_hash, created, updated) VALUES (").
		str(id).raw(", ").str(sc.Options.Origin).raw(", ").json(string(options)).raw(", ").time(sc.At).raw(", ").time(sc.At).
		raw(", ").optStr(key).raw(", ").optStr(o.RequestHash).raw(", ").time(sc.Created).raw(", ").time(sc.Updated).raw(")")
	if key == "" {
		if err := s.writeOnce(ctx, func() error { return s.exec(ctx, s.db, ins) }); err != nil {
			return res, s.translate(err)
		}
		return notifications.SaveScheduleResult{Schedule: sc}, nil
	}
	ins.raw(" ON CONFLICT (origin, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING")
	// An expired holder (finished before the cutoff) gives the key up
	// first; then the insert either takes it or, on PostgreSQL after
	// waiting for a concurrent holder's transaction, finds it held.
	expire := newStmt(s.d, 256)
	if !o.KeyExpiredBefore.IsZero() {
		expire.raw("UPDATE herald_schedule SET idempotency_key = NULL, request_hash = NULL WHERE origin = ").str(sc.Options.Origin).
			raw(" AND idempotency_key = ").str(key).raw(" AND ").raw(scheduleFinished).raw(" AND updated < ").time(o.KeyExpiredBefore)
	}
	holder := newStmt(s.d, 256)
	holder.raw("SELECT ").raw(scheduleColumns).raw(", request_hash FROM herald_schedule WHERE origin = ").str(sc.Options.Origin).
		raw(" AND idempotency_key = ").str(key)
	err = s.inTx(ctx, func(tx bun.Tx) error {
		res = notifications.SaveScheduleResult{Schedule: sc, RequestHash: o.RequestHash}
		if !o.KeyExpiredBefore.IsZero() {
			if err := s.exec(ctx, tx, expire); err != nil {
				return err
			}
		}
		n, err := s.rowsAffected(ctx, tx, ins)
		if err != nil || n > 0 {
			return err
		}
		text, err := holder.sql(s.db.QueryGen())
		if err != nil {
			return err
		}
		var hash sql.NullString
		got, err := scanSchedule(tx.QueryRowContext(ctx, text), &hash)
		if err != nil {
			return err
		}
		res = notifications.SaveScheduleResult{Schedule: got, Existing: true, RequestHash: hash.String}
		return nil
	})
	if err != nil {
		return notifications.SaveScheduleResult{}, s.translate(err)
	}
	return res, nil
}

// GetSchedule implements notifications.Store. An id that is not a UUID is
// not found.
func (s *Store) GetSchedule(ctx context.Context, id string) (notifications.ScheduledSend, error) {
	return getByID(ctx, s, "schedule", id, func(id string) (notifications.ScheduledSend, error) {
		b := newStmt(s.d, 256)
		b.raw("SELECT ").raw(scheduleColumns).raw(" FROM herald_schedule WHERE id = ").str(id)
		text, err := b.sql(s.db.QueryGen())
		if err != nil {
			return notifications.ScheduledSend{}, err
		}
		return scanSchedule(s.db.QueryRowContext(ctx, text))
	})
}

// ListSchedules implements notifications.Store. A Limit of 0 or less
// means notifications.DefaultDeliveryLimit, one above
// notifications.MaxDeliveryLimit is cut to it; an unknown Status is
// refused with ErrInvalid.
func (s *Store) ListSchedules(ctx context.Context, f notifications.ScheduleFilter) ([]notifications.ScheduledSend, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, fmt.Errorf("store: list schedules: %w: unknown status %q", notifications.ErrInvalid, f.Status)
	}
	limit := listLimit(f.Limit)
	b := newStmt(s.d, 256)
	b.raw("SELECT ").raw(scheduleColumns).raw(" FROM herald_schedule")
	where := conds{b: b}
	if f.Origin != "" {
		where.add("origin = ").str(f.Origin)
	}
	if f.Status != "" {
		where.add("status = ").str(string(f.Status))
	}
	b.raw(" ORDER BY at, id LIMIT ").int(limit)
	out, err := readRows(ctx, s, b, limit, func(rows *sql.Rows) (notifications.ScheduledSend, error) { return scanSchedule(rows) })
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	return out, nil
}

// CancelSchedule implements notifications.Store. A zero now means the
// current time.
func (s *Store) CancelSchedule(ctx context.Context, id string, now time.Time) error {
	if !uuid.Valid(id) {
		return fmt.Errorf("store: cancel schedule %q: %w", id, notifications.ErrNotFound)
	}
	if now.IsZero() {
		now = time.Now()
	}
	if err := checkTime("now", now); err != nil {
		return fmt.Errorf("store: cancel schedule: %w", err)
	}
	b := newStmt(s.d, 256)
	b.raw("UPDATE herald_schedule SET status = 'cancelled', next_attempt = NULL, lease_token = NULL, lease_owner = NULL, updated = ").
		time(now).raw(" WHERE id = ").str(strings.ToLower(id)).raw(" AND ").raw(scheduleWaiting)
	var n int64
	err := s.writeOnce(ctx, func() (err error) { n, err = s.rowsAffected(ctx, s.db, b); return err })
	switch {
	case err != nil:
		return fmt.Errorf("store: cancel schedule: %w", err)
	case n == 0:
		return fmt.Errorf("store: cancel schedule %s: %w (unknown, or no longer waiting)", id, notifications.ErrNotFound)
	}
	return nil
}

// ClaimSchedules implements notifications.Store, with ClaimDeliveries'
// rules for Limit, Now and Lease.
func (s *Store) ClaimSchedules(ctx context.Context, o notifications.ClaimOptions) ([]notifications.ScheduleClaim, error) {
	if o.Limit <= 0 {
		return []notifications.ScheduleClaim{}, nil
	}
	now, until, limit, err := claimWindow(o)
	if err != nil {
		return nil, fmt.Errorf("store: claim schedules: %w", err)
	}
	token := uuid.New()

	b := newStmt(s.d, 1024)
	due := func() {
		b.raw("SELECT id FROM herald_schedule WHERE ").raw(scheduleWaiting).raw(" AND next_attempt <= ").time(now).
			raw(" ORDER BY next_attempt LIMIT ").int(limit)
	}
	set := func(prefix string) {
		b.raw(" SET lease_token = ").str(token).raw(", lease_owner = ").str(s.owner).raw(", next_attempt = ").time(until).
			raw(", attempts = ").raw(prefix).raw("attempts + 1, updated = ").time(now)
	}
	prefix := ""
	if s.d.skipLocked() {
		prefix = "h."
		b.raw("WITH due AS (")
		due()
		b.raw(" FOR UPDATE SKIP LOCKED) UPDATE herald_schedule h")
		set(prefix)
		b.raw(" FROM due WHERE h.id = due.id")
	} else {
		b.raw("UPDATE herald_schedule")
		set(prefix)
		b.raw(" WHERE id IN (")
		due()
		b.raw(")")
	}
	b.raw(" RETURNING ")
	for i, c := range strings.Split(scheduleColumns+", lease_token", ", ") {
		if i > 0 {
			b.raw(", ")
		}
		b.raw(prefix).raw(c)
	}
	var out []notifications.ScheduleClaim
	err = s.inTx(ctx, func(tx bun.Tx) error {
		out = out[:0]
		rows, err := s.query(ctx, tx, b)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c notifications.ScheduleClaim
			if c.Schedule, err = scanSchedule(rows, &c.Token); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim schedules: %w", err)
	}
	if out == nil {
		out = []notifications.ScheduleClaim{}
	}
	return out, nil
}

// NextScheduleDue implements notifications.Store: one read of the end of
// herald_schedule_due_idx.
func (s *Store) NextScheduleDue(ctx context.Context) (time.Time, bool, error) {
	b := newStmt(s.d, 128)
	b.raw("SELECT MIN(next_attempt) FROM herald_schedule WHERE ").raw(scheduleWaiting)
	var next nullTime
	if err := s.read(ctx, func() error { return s.queryRow(ctx, b, &next) }); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next schedule due: %w", err)
	}
	return next.t, next.valid, nil
}

// FinishSchedule implements notifications.Store. o.Status must be waiting
// or failed (ErrInvalid otherwise); a waiting schedule is due at
// o.NextAttempt, or at o.Now when that is nil. A zero Now means the
// current time. o.LastError is stored cleaned and cut like a delivery's.
func (s *Store) FinishSchedule(ctx context.Context, o notifications.ScheduleOutcome) error {
	if !uuid.Valid(o.ID) || o.Token == "" {
		return errLeaseLost("finish schedule", o.ID)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	var next *time.Time
	switch o.Status {
	case notifications.ScheduleWaiting:
		next = &now
		if o.NextAttempt != nil {
			next = o.NextAttempt
		}
	case notifications.ScheduleFailed:
	default:
		return fmt.Errorf("store: finish schedule: %w: status %q is not an outcome", notifications.ErrInvalid, o.Status)
	}
	if err := errors.Join(checkTime("now", now), checkOptTime("next attempt", next)); err != nil {
		return fmt.Errorf("store: finish schedule: %w", err)
	}
	b := newStmt(s.d, 512)
	b.raw("UPDATE herald_schedule SET status = ").str(string(o.Status)).raw(", next_attempt = ").optTime(next)
	if msg := cleanError(o.LastError); msg != "" {
		b.raw(", last_error = ").str(msg)
	}
	b.raw(", lease_token = NULL, lease_owner = NULL, updated = ").time(now).
		raw(" WHERE id = ").str(strings.ToLower(o.ID)).raw(" AND lease_token = ").str(o.Token).raw(" AND ").raw(scheduleWaiting)
	var n int64
	err := s.writeOnce(ctx, func() (err error) { n, err = s.rowsAffected(ctx, s.db, b); return err })
	switch {
	case err != nil:
		return fmt.Errorf("store: finish schedule: %w", err)
	case n == 0:
		return errLeaseLost("finish schedule", o.ID)
	}
	return nil
}

// DeleteFinishedSchedules implements notifications.Store, with
// DeleteFinishedDeliveries' rules for cutoff and batchSize.
func (s *Store) DeleteFinishedSchedules(ctx context.Context, cutoff time.Time, batchSize int) (int, error) {
	cutoff, batchSize, ok := cleanupWindow(cutoff, batchSize)
	if !ok {
		return 0, nil
	}
	b := newStmt(s.d, 256)
	b.raw("DELETE FROM herald_schedule WHERE id IN (SELECT id FROM herald_schedule WHERE ").raw(scheduleFinished).
		raw(" AND idempotency_key IS NULL AND updated <= ").time(cutoff).raw(" LIMIT ").int(batchSize).raw(")")
	n, err := s.deleteBatches(ctx, b, batchSize)
	if err != nil {
		return n, fmt.Errorf("store: delete finished schedules: %w", err)
	}
	return n, nil
}
