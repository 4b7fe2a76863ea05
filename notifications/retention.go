package notifications

import (
	"context"
	"fmt"
	"time"
)

// Retention defaults, Backstage's.
const (
	DefaultRetention       = 365 * 24 * time.Hour
	DefaultCleanerInterval = 24 * time.Hour
	DefaultDeleteBatchSize = 1000
)

// DeleteOlderThan deletes every notification and broadcast last changed
// (updated, or created when never updated) maxAge or longer ago, in
// batches of DefaultDeleteBatchSize rows, and returns how many it deleted.
// It is safe to run on several instances at once.
func (s *Service) DeleteOlderThan(ctx context.Context, maxAge time.Duration) (int, error) {
	if maxAge <= 0 {
		return 0, &ValidationError{Fields: []FieldError{{Field: "maxAge", Message: "must be positive"}}}
	}
	n, err := s.store.DeleteOlderThan(ctx, s.now().Add(-maxAge), DefaultDeleteBatchSize)
	if err != nil {
		return n, fmt.Errorf("notifications: delete old notifications: %w", err)
	}
	return n, nil
}

// DeleteFinishedDeliveries deletes every sent, failed and cancelled
// delivery last changed Config.DeliveryRetention or longer ago (30 days by
// default), with the send records left without deliveries, in batches of
// DefaultDeleteBatchSize rows, and returns how many deliveries it deleted.
// Pending and retrying deliveries are never deleted here; DeleteOlderThan
// deletes a notification's deliveries, whatever their status, with it. It
// is safe to run on several instances at once.
func (s *Service) DeleteFinishedDeliveries(ctx context.Context) (int, error) {
	n, err := s.store.DeleteFinishedDeliveries(ctx, s.now().Add(-s.retention), DefaultDeleteBatchSize)
	if err != nil {
		return n, fmt.Errorf("notifications: delete finished deliveries: %w", err)
	}
	return n, nil
}

// CleanerOptions configure RunCleaner. The zero value is Backstage's
// default: keep a year, clean daily.
type CleanerOptions struct {
	// MaxAge is how long notifications are kept. Defaults to
	// DefaultRetention.
	MaxAge time.Duration
	// Interval is the time between runs; the first run is one Interval
	// after the start. Defaults to DefaultCleanerInterval.
	Interval time.Duration
}

// RunCleaner deletes old notifications (DeleteOlderThan with MaxAge),
// finished deliveries (DeleteFinishedDeliveries), expired idempotency keys
// (DeleteExpiredIdempotencyKeys) and finished scheduled sends
// (DeleteFinishedSchedules) every Interval until ctx
// is done, then returns ctx's error. A failed run is logged and retried at the next
// interval. Running it on every instance of a host is safe: deletes are
// idempotent and batched.
func (s *Service) RunCleaner(ctx context.Context, o CleanerOptions) error {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultRetention
	}
	if o.Interval <= 0 {
		o.Interval = DefaultCleanerInterval
	}
	ticker := time.NewTicker(o.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
		s.log.InfoContext(ctx, "notifications: cleaner started")
		n, err := s.DeleteOlderThan(ctx, o.MaxAge)
		if err != nil {
			s.log.ErrorContext(ctx, "notifications: cleaner failed", "error", err)
			continue
		}
		d, err := s.DeleteFinishedDeliveries(ctx)
		if err != nil {
			s.log.ErrorContext(ctx, "notifications: cleaner failed", "error", err)
			continue
		}
		k, err := s.DeleteExpiredIdempotencyKeys(ctx)
		if err != nil {
			s.log.ErrorContext(ctx, "notifications: cleaner failed", "error", err)
			continue
		}
		sch, err := s.DeleteFinishedSchedules(ctx)
		if err != nil {
			s.log.ErrorContext(ctx, "notifications: cleaner failed", "error", err)
			continue
		}
		s.log.InfoContext(ctx, "notifications: cleaner finished", "deleted", n, "deliveries_deleted", d,
			"idempotency_keys_expired", k, "schedules_deleted", sch)
	}
}
