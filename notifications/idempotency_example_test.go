package notifications_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/notifications"
)

// A job that may run twice sends with an idempotency key: the second run
// gets the first one's notifications back, and nothing is sent again. A
// plugin that depends on Sender passes the key with SendWith.
func ExampleSendWith() {
	ctx := context.Background()
	svc, done := newExampleService(notifications.Config{})
	defer done()
	sender := svc.Sender("plugin:ci") // a notifications.Sender, as a plugin gets it

	o := notifications.SendOptions{
		Recipients:     notifications.Entity("user:alice"),
		Payload:        notifications.Payload{Title: "Build 42 failed"},
		IdempotencyKey: "build-42-failed",
	}
	first, _ := notifications.SendWith(ctx, sender, o)
	again, _ := notifications.SendWith(ctx, sender, o) // the job ran again
	fmt.Println(len(first), len(again), first[0].ID == again[0].ID)

	// The same key for another request is refused.
	o.Payload.Title = "Build 43 failed"
	_, err := notifications.SendWith(ctx, sender, o)
	fmt.Println(errors.Is(err, notifications.ErrIdempotencyConflict))

	res, _ := svc.List(ctx, "user:default/alice", notifications.ListOptions{})
	fmt.Println(res.TotalCount, "notification stored")
	// Output:
	// 1 1 true
	// true
	// 1 notification stored
}
