package notificationstest

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Clock is a fake clock for notifications.Config.Now: it stands still
// until Advance or Set moves it, so a test decides when a retry is due
// instead of waiting for it. It is safe for concurrent use.
//
//	clock := notificationstest.NewClock(time.Now())
//	svc, _ := notifications.New(notifications.Config{Store: st, Now: clock.Now, DeliveryWorkers: -1, ...})
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock showing start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock d forward and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t, which may be earlier than its time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// DeliverAll runs every delivery due now at svc's clock, before it
// returns (notifications.Service.RunDueDeliveries), and returns how many
// attempts ran. It fails t if claiming or recording fails. A failed
// attempt's retry is due later: advance the clock and call DeliverAll
// again, or use AdvanceUntilDelivered.
//
// Give the Service a negative Config.DeliveryWorkers to keep its own
// workers from running deliveries between a send and DeliverAll; with
// workers running, DeliverAll still waits for the attempts they have in
// flight.
func DeliverAll(t testing.TB, svc *notifications.Service) int {
	t.Helper()
	n, err := svc.RunDueDeliveries(t.Context())
	if err != nil {
		t.Fatalf("notificationstest: run due deliveries: %v", err)
	}
	return n
}

// MaxRounds bounds AdvanceUntilDelivered: a delivery that is still
// pending or retrying after this many rounds of running and advancing
// fails the test, rather than hanging it.
const MaxRounds = 1000

// AdvanceUntilDelivered runs every due delivery, then moves clock to the
// next pending or retrying delivery's NextAttempt and runs again, until
// no delivery of svc's store is pending or retrying: each is sent, failed
// or cancelled. It returns how many attempts ran. clock must be svc's
// Config.Now. It fails t after MaxRounds rounds.
func AdvanceUntilDelivered(t testing.TB, svc *notifications.Service, clock *Clock) int {
	t.Helper()
	ran := 0
	for range MaxRounds {
		ran += DeliverAll(t, svc)
		next, ok := nextAttempt(t, svc)
		if !ok {
			return ran
		}
		// The Service reads its clock to the millisecond: round up, or a
		// time between two milliseconds would never be due.
		if next = next.Add(time.Millisecond - 1).Truncate(time.Millisecond); next.After(clock.Now()) {
			clock.Set(next)
		}
	}
	t.Fatalf("notificationstest: deliveries still pending after %d rounds of AdvanceUntilDelivered", MaxRounds)
	return ran
}

// nextAttempt returns the earliest NextAttempt among pending and retrying
// deliveries; false when there is none.
func nextAttempt(t testing.TB, svc *notifications.Service) (time.Time, bool) {
	t.Helper()
	var next time.Time
	found := false
	for _, status := range []notifications.DeliveryStatus{notifications.DeliveryPending, notifications.DeliveryRetrying} {
		ds, err := svc.Deliveries(t.Context(), notifications.DeliveryFilter{Status: status, Limit: notifications.MaxDeliveryLimit})
		if err != nil {
			t.Fatalf("notificationstest: list deliveries: %v", err)
		}
		for _, d := range ds {
			if d.NextAttempt != nil && (!found || d.NextAttempt.Before(next)) {
				next, found = *d.NextAttempt, true
			}
		}
	}
	return next, found
}
