package notifications_test

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
)

// chat is a DigestProcessor that prints what it would post.
type chat struct{}

func (chat) Name() string { return "Chat" }

func (chat) PostProcess(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
	fmt.Printf("at once to %s: %s\n", n.User, n.Payload.Title)
	return nil
}

func (chat) PostProcessDigest(_ context.Context, user string, ns []notifications.Notification) error {
	fmt.Printf("digest to %s:", user)
	for _, n := range ns {
		fmt.Printf(" %q", n.Payload.Title)
	}
	fmt.Println()
	return nil
}

func ExampleDigest() {
	ctx := context.Background()
	clock := notificationstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	svc, done := newExampleService(notifications.Config{
		Processors: []notifications.Processor{
			notifications.Digest(chat{}, notifications.DigestConfig{Window: time.Hour, MaxItems: 10}),
		},
		Now:             clock.Now,
		DeliveryWorkers: -1, // only RunDueDeliveries runs deliveries
	})
	defer done()
	jane := notifications.Entity("user:default/jane")
	for _, p := range []notifications.Payload{
		{Title: "Build 1 failed"},
		{Title: "Build 2 failed"},
		{Title: "Production is down", Severity: notifications.SeverityCritical},
		{Title: "Build 3 passed"},
	} {
		if _, err := svc.Sender("plugin:ci").Send(ctx, jane, p); err != nil {
			fmt.Println(err)
			return
		}
		clock.Advance(10 * time.Minute)
	}
	// The critical one went at once; the others wait for the window.
	if _, err := svc.RunDueDeliveries(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("an hour after the first:")
	clock.Set(time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC))
	if _, err := svc.RunDueDeliveries(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// at once to user:default/jane: Production is down
	// an hour after the first:
	// digest to user:default/jane: "Build 1 failed" "Build 2 failed" "Build 3 passed"
}
