package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A scheduled send is a send request validated now and run through the
// whole pipeline later, at its At: resolution, settings, processors and
// deliveries as of then. It is stored, so it survives restarts, and the
// Service's scheduler (on every instance sharing the store) claims it
// when due with a lease, like a delivery. Its send is committed exactly
// once, even with several instances: the send's own transaction marks the
// schedule sent, fenced by the lease, so a run that lost its lease writes
// nothing. Its deliveries are at least once, as always.

// ScheduleStatus is where a scheduled send stands.
type ScheduleStatus string

// The schedule statuses. Only a waiting one runs or can be cancelled.
const (
	ScheduleWaiting   ScheduleStatus = "waiting"   // not run yet, or retrying after a failed run
	ScheduleSent      ScheduleStatus = "sent"      // its send was committed
	ScheduleCancelled ScheduleStatus = "cancelled" // CancelScheduled
	ScheduleFailed    ScheduleStatus = "failed"    // invalid when it ran, or its retries ran out
)

// Valid reports whether s is one of the four statuses.
func (s ScheduleStatus) Valid() bool {
	switch s {
	case ScheduleWaiting, ScheduleSent, ScheduleCancelled, ScheduleFailed:
		return true
	}
	return false
}

// ScheduledSend is a send stored to run at At.
type ScheduledSend struct {
	ID string
	// Options is the request, validated and canonical (refs in canonical
	// form, severity defaulted), with its IdempotencyKey.
	Options SendOptions
	// At is when it is due, to the millisecond.
	At     time.Time
	Status ScheduleStatus
	// Attempts counts the runs started, the one under way included.
	Attempts int
	// LastError is the last failed run's error text.
	LastError string
	Created   time.Time
	Updated   time.Time
}

// ScheduleFilter selects scheduled sends. The zero ScheduleFilter selects
// the first DefaultDeliveryLimit of every origin's, by At.
type ScheduleFilter struct {
	// Status keeps one status, when set.
	Status ScheduleStatus
	// Origin keeps one origin's, when set. The REST API sets it to the
	// calling service's origin.
	Origin string
	// Limit caps the result. Defaults to DefaultDeliveryLimit; at most
	// MaxDeliveryLimit.
	Limit int
}

// ScheduleLease is the lease a scheduler run holds on a scheduled send:
// SendRecord.Schedule carries it into the send's transaction.
type ScheduleLease struct {
	ID    string
	Token string
}

// SaveScheduleOptions is what Store.SaveSchedule stores.
type SaveScheduleOptions struct {
	// Schedule is the new scheduled send, waiting.
	Schedule ScheduledSend
	// RequestHash identifies the request its key stands for; "" without
	// a key.
	RequestHash string
	// KeyExpiredBefore is the key's expiry cutoff: a finished schedule
	// last changed before it no longer holds its key.
	KeyExpiredBefore time.Time
}

// SaveScheduleResult is what Store.SaveSchedule returns.
type SaveScheduleResult struct {
	// Schedule is the stored schedule: the new one, or the one holding
	// the key.
	Schedule ScheduledSend
	// Existing reports that the key was held: nothing was written.
	Existing bool
	// RequestHash is the stored schedule's.
	RequestHash string
}

// ScheduleClaim is one leased scheduled send.
type ScheduleClaim struct {
	// Schedule is the schedule as leased: Attempts counts this run.
	Schedule ScheduledSend
	// Token is the lease token, for SendRecord.Schedule and
	// FinishSchedule.
	Token string
}

// ScheduleOutcome is a failed run, for Store.FinishSchedule.
type ScheduleOutcome struct {
	ID    string
	Token string
	// Status is ScheduleWaiting (run again at NextAttempt) or
	// ScheduleFailed.
	Status      ScheduleStatus
	LastError   string
	NextAttempt *time.Time
	Now         time.Time
}

// Schedule validates o now, refusing bad input with the errors Send
// returns, and stores it to run at at (a time in the past runs at once).
// At at, on one of the Services sharing the store, the whole pipeline
// runs once; nothing is resolved or processed before. With
// o.IdempotencyKey set, scheduling again with the same key and the same
// request (at included) returns the same scheduled send, and a different
// request is ErrIdempotencyConflict; the key holds while the schedule
// waits and for Config.IdempotencyTTL after it ran or was cancelled. The
// run itself carries no key: its send is exactly once by its lease.
//
// A run that fails for a reason that may pass (the catalog or the store
// down) is retried with Config.Retry's backoff and, once its attempts are
// spent, marked failed with the error kept; a run the request turns out
// invalid for (an unresolvable ref) fails at once.
func (s *Service) Schedule(ctx context.Context, o SendOptions, at time.Time) (ScheduledSend, error) {
	if s.isClosed() {
		return ScheduledSend{}, ErrClosed
	}
	if err := o.Validate(); err != nil {
		return ScheduledSend{}, err
	}
	if at.IsZero() {
		return ScheduledSend{}, &ValidationError{Fields: []FieldError{{Field: "deliverAt", Message: "is required"}}}
	}
	if y := at.UTC().Year(); y < 1 || y > 9999 {
		return ScheduledSend{}, &ValidationError{Fields: []FieldError{{Field: "deliverAt", Message: "must be within the years 1 to 9999"}}}
	}
	var hash string
	if o.IdempotencyKey != "" {
		if err := validateIdempotencyKey(o.IdempotencyKey); err != nil {
			return ScheduledSend{}, err
		}
	}
	o, broken := canonical(o)
	if broken {
		if err := o.Validate(); err != nil {
			return ScheduledSend{}, err
		}
	}
	at = at.UTC().Truncate(time.Millisecond)
	if o.IdempotencyKey != "" {
		var err error
		if hash, err = requestHash(o, &at); err != nil {
			return ScheduledSend{}, err
		}
	}
	now := s.now()
	res, err := s.store.SaveSchedule(ctx, SaveScheduleOptions{
		Schedule:         ScheduledSend{ID: s.newID(), Options: o, At: at, Status: ScheduleWaiting, Created: now, Updated: now},
		RequestHash:      hash,
		KeyExpiredBefore: now.Add(-s.idempotencyTTL),
	})
	if err != nil {
		return ScheduledSend{}, fmt.Errorf("notifications: save schedule: %w", err)
	}
	if res.Existing && res.RequestHash != hash {
		return ScheduledSend{}, fmt.Errorf("%w (key %q)", ErrIdempotencyConflict, o.IdempotencyKey)
	}
	if !res.Existing && !at.After(now) {
		s.wakeScheduler()
	}
	return res.Schedule, nil
}

// CancelScheduled cancels a waiting scheduled send, unless its run has
// already committed. One that ran, failed or was cancelled, or an unknown
// id, is ErrNotFound.
func (s *Service) CancelScheduled(ctx context.Context, id string) error {
	if err := s.store.CancelSchedule(ctx, id, s.now()); err != nil {
		return fmt.Errorf("notifications: cancel scheduled send: %w", err)
	}
	return nil
}

// ScheduledSends lists scheduled sends by At, then id. An unknown
// f.Status is a *ValidationError naming status.
func (s *Service) ScheduledSends(ctx context.Context, f ScheduleFilter) ([]ScheduledSend, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, &ValidationError{Fields: []FieldError{{Field: "status", Message: "must be waiting, sent, cancelled or failed"}}}
	}
	if f.Limit <= 0 {
		f.Limit = DefaultDeliveryLimit
	}
	f.Limit = min(f.Limit, MaxDeliveryLimit)
	out, err := s.store.ListSchedules(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("notifications: list scheduled sends: %w", err)
	}
	return out, nil
}

// ScheduledSend returns one scheduled send, or ErrNotFound.
func (s *Service) ScheduledSend(ctx context.Context, id string) (ScheduledSend, error) {
	sch, err := s.store.GetSchedule(ctx, id)
	if err != nil {
		return sch, fmt.Errorf("notifications: get scheduled send: %w", err)
	}
	return sch, nil
}

// DeleteFinishedSchedules deletes the scheduled sends that ran, failed or
// were cancelled Config.DeliveryRetention or longer ago, once their
// idempotency key has expired, and returns how many it deleted. RunCleaner
// calls it.
func (s *Service) DeleteFinishedSchedules(ctx context.Context) (int, error) {
	n, err := s.store.DeleteFinishedSchedules(ctx, s.now().Add(-s.retention), DefaultDeleteBatchSize)
	if err != nil {
		return n, fmt.Errorf("notifications: delete finished schedules: %w", err)
	}
	return n, nil
}

// runSchedule runs one claimed schedule's send and records a failure. It
// reports whether the send was committed.
func (s *Service) runSchedule(ctx context.Context, c ScheduleClaim) bool {
	o := c.Schedule.Options
	o.IdempotencyKey = ""
	err := o.Validate()
	if err == nil {
		_, err = s.send(ctx, o, sendRun{schedule: &ScheduleLease{ID: c.Schedule.ID, Token: c.Token}})
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrLeaseLost):
		// Cancelled while it ran, or its lease ran out and another
		// instance took it over: that one decides.
		return false
	case ctx.Err() != nil:
		// Stopped (Close): the lease runs out and the next claim runs it.
		return false
	}
	out := ScheduleOutcome{ID: c.Schedule.ID, Token: c.Token, Status: ScheduleFailed, LastError: err.Error(), Now: s.now()}
	if !errors.Is(err, ErrInvalid) && c.Schedule.Attempts < s.retry.MaxAttempts {
		next := out.Now.Add(s.retry.backoff(c.Schedule.Attempts, s.jitter))
		out.Status, out.NextAttempt = ScheduleWaiting, &next
	}
	if out.Status == ScheduleFailed {
		s.log.ErrorContext(ctx, "notifications: scheduled send failed", "schedule_id", c.Schedule.ID, "attempts", c.Schedule.Attempts, "error", err)
	} else {
		s.log.WarnContext(ctx, "notifications: scheduled send failed; retrying", "schedule_id", c.Schedule.ID, "attempts", c.Schedule.Attempts, "error", err)
	}
	if ferr := s.store.FinishSchedule(ctx, out); ferr != nil && !errors.Is(ferr, ErrLeaseLost) {
		s.log.ErrorContext(ctx, "notifications: recording a scheduled send's failure failed", "schedule_id", c.Schedule.ID, "error", ferr)
	}
	return false
}
