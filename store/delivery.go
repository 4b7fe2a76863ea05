package store

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/notifications"
)

var errNotYet = errors.New("store: deliveries not implemented yet")

// ClaimDeliveries implements notifications.Store.
func (s *Store) ClaimDeliveries(context.Context, notifications.ClaimOptions) ([]notifications.DeliveryClaim, error) {
	return nil, errNotYet
}

// RenewDeliveryLease implements notifications.Store.
func (s *Store) RenewDeliveryLease(context.Context, string, string, time.Time) error {
	return errNotYet
}

// FinishDelivery implements notifications.Store.
func (s *Store) FinishDelivery(context.Context, notifications.DeliveryOutcome) (notifications.Delivery, error) {
	return notifications.Delivery{}, errNotYet
}

// ListDeliveries implements notifications.Store.
func (s *Store) ListDeliveries(context.Context, notifications.DeliveryFilter) ([]notifications.Delivery, error) {
	return nil, errNotYet
}

// GetDelivery implements notifications.Store.
func (s *Store) GetDelivery(context.Context, string) (notifications.Delivery, error) {
	return notifications.Delivery{}, errNotYet
}

// RequeueDelivery implements notifications.Store.
func (s *Store) RequeueDelivery(context.Context, string, time.Time) (notifications.Delivery, error) {
	return notifications.Delivery{}, errNotYet
}

// DeleteFinishedDeliveries implements notifications.Store.
func (s *Store) DeleteFinishedDeliveries(context.Context, time.Time, int) (int, error) {
	return 0, errNotYet
}
