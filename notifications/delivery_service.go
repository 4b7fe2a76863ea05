package notifications

import (
	"context"
	"fmt"
)

// Deliveries returns the deliveries f selects, newest first, at most
// f.Limit (DefaultDeliveryLimit when 0; a Limit above MaxDeliveryLimit or
// an unknown Status is a *ValidationError).
func (s *Service) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	var verr ValidationError
	switch {
	case f.Limit == 0:
		f.Limit = DefaultDeliveryLimit
	case f.Limit < 0 || f.Limit > MaxDeliveryLimit:
		verr.add("limit", fmt.Sprintf("must be between 1 and %d", MaxDeliveryLimit))
	}
	if f.Status != "" && !f.Status.Valid() {
		verr.add("status", "must be one of pending, retrying, sent, failed, cancelled")
	}
	for _, t := range []struct{ field, value string }{
		{"notificationId", f.NotificationID}, {"processor", f.Processor}, {"origin", f.Origin},
	} {
		if msg := textProblem(t.value); msg != "" {
			verr.add(t.field, msg)
		}
	}
	if err := verr.errOrNil(); err != nil {
		return nil, err
	}
	ds, err := s.store.ListDeliveries(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("notifications: list deliveries: %w", err)
	}
	return ds, nil
}

// Delivery returns one delivery, or an error wrapping ErrNotFound.
func (s *Service) Delivery(ctx context.Context, id string) (Delivery, error) {
	d, err := s.store.GetDelivery(ctx, id)
	if err != nil {
		return Delivery{}, fmt.Errorf("notifications: get delivery: %w", err)
	}
	return d, nil
}

// RetryDelivery puts a failed or cancelled delivery back to run now, with
// a fresh set of attempts. An unknown id, or a delivery that is not failed
// or cancelled, is an error wrapping ErrNotFound.
func (s *Service) RetryDelivery(ctx context.Context, id string) error {
	if _, err := s.store.RequeueDelivery(ctx, id, s.now()); err != nil {
		return fmt.Errorf("notifications: retry delivery: %w", err)
	}
	s.wakeDeliveries()
	return nil
}
