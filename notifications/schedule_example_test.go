package notifications_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
)

// A reminder scheduled for tomorrow at nine: validated now, sent then,
// by whichever instance sharing the store claims it first. The example
// moves a fake clock instead of waiting (notificationstest.RunSchedules
// runs what is due; a Service with workers runs it on its own).
func ExampleService_Schedule() {
	ctx := context.Background()
	clock := notificationstest.NewClock(time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC))
	svc, done := newExampleService(notifications.Config{Now: clock.Now, DeliveryWorkers: -1})
	defer done()

	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	s, err := svc.Schedule(ctx, notifications.SendOptions{
		Origin:     "plugin:reviews",
		Recipients: notifications.Entity("user:alice"),
		Payload:    notifications.Payload{Title: "Your review is due today"},
	}, at)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Status, s.At.Format(time.RFC3339), s.Options.Recipients.EntityRefs[0])

	clock.Set(at)
	n, _ := svc.RunDueSchedules(ctx)
	s, _ = svc.ScheduledSend(ctx, s.ID)
	fmt.Println(n, "sent;", s.Status)

	res, _ := svc.List(ctx, "user:default/alice", notifications.ListOptions{})
	fmt.Println(res.Notifications[0].Payload.Title, res.Notifications[0].Created.Format(time.RFC3339))
	// Output:
	// waiting 2026-12-02T09:00:00Z user:default/alice
	// 1 sent; sent
	// Your review is due today 2026-12-02T09:00:00Z
}

// A waiting scheduled send can be cancelled until it has run.
func ExampleService_CancelScheduled() {
	ctx := context.Background()
	svc, done := newExampleService(notifications.Config{DeliveryWorkers: -1})
	defer done()
	s, _ := svc.Schedule(ctx, notifications.SendOptions{
		Origin: "plugin:reviews", Recipients: notifications.Entity("user:alice"),
		Payload: notifications.Payload{Title: "Never mind"},
	}, time.Now().Add(time.Hour))
	fmt.Println(svc.CancelScheduled(ctx, s.ID))
	err := svc.CancelScheduled(ctx, s.ID) // cancelled already: not found
	fmt.Println(errors.Is(err, notifications.ErrNotFound))
	// Output:
	// <nil>
	// true
}
