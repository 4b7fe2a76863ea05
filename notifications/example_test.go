package notifications_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/store"
)

// newExampleService opens a Service on a private in-memory database.
func newExampleService(cfg notifications.Config) (*notifications.Service, func()) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	cfg.Store = st
	svc, err := notifications.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	return svc, func() { svc.Close(ctx); st.Close() }
}

func Example() {
	ctx := context.Background()
	svc, done := newExampleService(notifications.Config{
		Catalog: notifications.NewMemoryCatalog(notifications.CatalogEntity{
			Ref: "group:default/platform",
			Relations: []notifications.Relation{
				{Type: notifications.RelationHasMember, TargetRef: "user:default/alice"},
				{Type: notifications.RelationHasMember, TargetRef: "user:default/bob"},
			},
		}),
	})
	defer done()

	sent, err := svc.Sender("plugin:ci").Send(ctx, notifications.Entity("group:default/platform"),
		notifications.Payload{Title: "Build failed", Severity: notifications.SeverityHigh, Link: "/ci/builds/42"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range sent {
		fmt.Println(n.User, n.Payload.Title, n.Payload.Severity)
	}
	// Output:
	// user:default/alice Build failed high
	// user:default/bob Build failed high
}

func ExampleService_List() {
	ctx := context.Background()
	svc, done := newExampleService(notifications.Config{})
	defer done()
	sender := svc.Sender("plugin:example")
	for _, title := range []string{"First", "Second", "Third"} {
		if _, err := sender.Send(ctx, notifications.Entity("user:jane"), notifications.Payload{Title: title}); err != nil {
			fmt.Println(err)
			return
		}
	}
	if _, err := sender.Send(ctx, notifications.Broadcast(), notifications.Payload{Title: "For everyone"}); err != nil {
		fmt.Println(err)
		return
	}

	// Unread only, sorted by title, two per page.
	page, err := svc.List(ctx, "user:default/jane", notifications.ListOptions{
		Filter: notifications.Filter{Read: new(false)},
		Order:  []notifications.Order{{Field: notifications.OrderTitle}},
		Limit:  new(2),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("total:", page.TotalCount)
	for _, n := range page.Notifications {
		fmt.Println(n.Payload.Title, n.IsBroadcast())
	}
	// Output:
	// total: 4
	// First false
	// For everyone true
}

func ExampleService_Update() {
	ctx := context.Background()
	svc, done := newExampleService(notifications.Config{})
	defer done()
	sent, err := svc.Sender("plugin:example").Send(ctx, notifications.Entity("user:default/jane"), notifications.Payload{Title: "Hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := svc.Update(ctx, "user:default/jane", notifications.UpdateOptions{IDs: []string{sent[0].ID}, Read: new(true)}); err != nil {
		fmt.Println(err)
		return
	}
	status, err := svc.Status(ctx, "user:default/jane")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("unread %d, read %d\n", status.Unread, status.Read)

	// Another user cannot see it.
	_, err = svc.Get(ctx, "user:default/bob", sent[0].ID)
	fmt.Println(errors.Is(err, notifications.ErrNotFound))
	// Output:
	// unread 0, read 1
	// true
}

func ExampleService_SaveSettings() {
	ctx := context.Background()
	svc, done := newExampleService(notifications.Config{})
	defer done()
	// Jane turns off the "builds" topic of plugin:ci in her inbox.
	_, err := svc.SaveSettings(ctx, "user:default/jane", notifications.Settings{Channels: []notifications.ChannelSettings{{
		ID: notifications.WebChannel,
		Origins: []notifications.OriginSettings{{ID: "plugin:ci", Enabled: true,
			Topics: []notifications.TopicSettings{{ID: "builds", Enabled: false}}}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ci := svc.Sender("plugin:ci")
	builds, _ := ci.Send(ctx, notifications.Entity("user:default/jane"), notifications.Payload{Title: "Build passed", Topic: "builds"})
	deploys, _ := ci.Send(ctx, notifications.Entity("user:default/jane"), notifications.Payload{Title: "Deployed", Topic: "deploys"})
	fmt.Println(len(builds), len(deploys))
	// Output: 0 1
}

func ExampleSendOptions_Validate() {
	o := notifications.SendOptions{
		Origin:     "external:ci",
		Recipients: notifications.Entity("user:default/jane"),
		Payload:    notifications.Payload{Severity: "urgent", Link: "javascript:alert(1)"},
	}
	err := o.Validate()
	var verr *notifications.ValidationError
	if errors.As(err, &verr) {
		for _, f := range verr.Fields {
			fmt.Println(f.Field)
		}
	}
	fmt.Println(errors.Is(err, notifications.ErrInvalid))
	// Output:
	// payload.title
	// payload.link
	// payload.severity
	// true
}

func ExamplePostProcessorFunc() {
	ctx := context.Background()
	delivered := make(chan string, 1)
	audit := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
		delivered <- n.User + ": " + n.Payload.Title
		return nil
	}}
	svc, done := newExampleService(notifications.Config{Processors: []notifications.Processor{audit}})
	defer done()
	if _, err := svc.Sender("plugin:example").Send(ctx, notifications.Entity("user:default/jane"), notifications.Payload{Title: "Hello"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-delivered) // post-processing runs in the background
	// Output: user:default/jane: Hello
}

func ExampleCanonicalEntityRef() {
	for _, ref := range []string{"user:jane", "Group:Team-A/Platform", "jane"} {
		canonical, err := notifications.CanonicalEntityRef(ref)
		if err != nil {
			fmt.Println(ref, "is refused:", errors.Is(err, notifications.ErrInvalid))
			continue
		}
		fmt.Println(ref, "is", canonical)
	}
	// Output:
	// user:jane is user:default/jane
	// Group:Team-A/Platform is group:team-a/Platform
	// jane is refused: true
}

// Deliveries are durable and retried: a webhook that fails twice is
// sent on the third attempt. With a fake clock and no delivery workers, a
// test runs each attempt when it chooses, without waiting for the backoff.
func ExampleService_RunDueDeliveries() {
	ctx := context.Background()
	clock := notificationstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	calls := 0
	flaky := &notifications.PostProcessorFunc{ProcessorName: "webhook", Func: func(context.Context, notifications.Notification, notifications.SendOptions) error {
		if calls++; calls < 3 {
			return errors.New("503 Service Unavailable")
		}
		return nil
	}}
	svc, done := newExampleService(notifications.Config{
		Processors:      []notifications.Processor{flaky},
		Now:             clock.Now,
		DeliveryWorkers: -1, // only RunDueDeliveries runs deliveries
		// A minute between attempts, without jitter: MaxBackoff caps it.
		Retry: notifications.RetryPolicy{MinBackoff: time.Minute, MaxBackoff: time.Minute},
	})
	defer done()
	sent, err := svc.Sender("plugin:ci").Send(ctx, notifications.Entity("user:default/jane"), notifications.Payload{Title: "Deployed"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		if _, err := svc.RunDueDeliveries(ctx); err != nil {
			fmt.Println(err)
			return
		}
		ds, err := svc.Deliveries(ctx, notifications.DeliveryFilter{NotificationID: sent[0].ID})
		if err != nil {
			fmt.Println(err)
			return
		}
		d := ds[0]
		if d.Status != notifications.DeliveryRetrying {
			fmt.Printf("%s %s after %d attempts\n", d.Processor, d.Status, d.Attempts)
			return
		}
		fmt.Printf("attempt %d: %s; next in %s\n", d.Attempts, d.LastError, d.NextAttempt.Sub(clock.Now()))
		clock.Set(*d.NextAttempt)
	}
	// Output:
	// attempt 1: 503 Service Unavailable; next in 1m0s
	// attempt 2: 503 Service Unavailable; next in 1m0s
	// webhook sent after 3 attempts
}
