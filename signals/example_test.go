package signals_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/signals"
)

// A subscriber, here standing in for a browser connection, receives the
// signals of its channels that are addressed to it or to everyone.
func ExampleHub() {
	hub := signals.NewHub(signals.HubConfig{})
	defer hub.Close()

	sub := hub.Subscribe(signals.SubscribeOptions{
		User:          "user:default/jane",
		OwnershipRefs: []string{"user:default/jane", "group:default/team-a"},
		Channels:      []string{"notifications"},
	})
	defer sub.Close()

	ctx := context.Background()
	// Addressed to Jane's group: delivered.
	_ = hub.Publish(ctx, signals.Signal{
		Recipients: signals.Entity("group:default/team-a"),
		Channel:    "notifications",
		Message:    map[string]string{"action": "new_notification", "notification_id": "n1"},
	})
	// Addressed to someone else: not delivered.
	_ = hub.Publish(ctx, signals.Signal{
		Recipients: signals.Entity("user:default/john"),
		Channel:    "notifications",
		Message:    map[string]string{"action": "new_notification", "notification_id": "n2"},
	})
	// A broadcast on a channel Jane is not subscribed to: not delivered.
	_ = hub.Publish(ctx, signals.Signal{
		Recipients: signals.Broadcast(),
		Channel:    "catalog",
		Message:    map[string]string{"action": "refresh"},
	})

	d := <-sub.C()
	fmt.Println(string(d.Frame()))
	fmt.Println("buffered:", len(sub.C()))
	// Output:
	// {"channel":"notifications","message":{"action":"new_notification","notification_id":"n1"}}
	// buffered: 0
}

// A reader that falls BufferSize deliveries behind is dropped: it still
// gets what it had buffered, then learns why it ended.
func ExampleSubscriber_Err() {
	hub := signals.NewHub(signals.HubConfig{BufferSize: 1})
	defer hub.Close()
	sub := hub.Subscribe(signals.SubscribeOptions{Channels: []string{"ticks"}})

	for i := range 3 {
		_ = hub.Publish(context.Background(), signals.Signal{
			Recipients: signals.Broadcast(),
			Channel:    "ticks",
			Message:    map[string]int{"n": i},
		})
	}
	// The fan-out runs on its own goroutine; wait for it before reading,
	// so the example does not race with it.
	_ = hub.Flush(context.Background())

	for d := range sub.C() {
		fmt.Println(string(d.Frame()))
	}
	fmt.Println(errors.Is(sub.Err(), signals.ErrSlowSubscriber))
	// Output:
	// {"channel":"ticks","message":{"n":0}}
	// true
}

// Publish refuses a signal Backstage would ignore.
func ExampleHub_Publish_invalid() {
	hub := signals.NewHub(signals.HubConfig{})
	defer hub.Close()

	err := hub.Publish(context.Background(), signals.Signal{Recipients: signals.Broadcast(), Channel: "notifications"})
	fmt.Println(errors.Is(err, signals.ErrInvalidSignal), err)
	// Output:
	// true signals: invalid signal: message is required
}

// A backend plugin publishes on a channel of its own, "my-plugin". In the
// browser, useSignal('my-plugin') from @backstage/plugin-signals-react
// subscribes to it over the WebSocket of package socket, which holds a
// Hub subscriber like this one for the connection.
func ExampleHub_Publish_pluginChannel() {
	hub := signals.NewHub(signals.HubConfig{})
	defer hub.Close()
	browser := hub.Subscribe(signals.SubscribeOptions{User: "user:default/jane", Channels: []string{"my-plugin"}})
	defer browser.Close()

	// The plugin's backend code:
	err := hub.Publish(context.Background(), signals.Signal{
		Recipients: signals.Entity("user:default/jane"), // or signals.Broadcast()
		Channel:    "my-plugin",
		Message:    map[string]any{"build": 42, "status": "green"}, // any JSON object
	})
	if err != nil {
		fmt.Println(err)
	}

	// What the browser receives on the WebSocket:
	fmt.Println(string((<-browser.C()).Frame()))
	// Output:
	// {"channel":"my-plugin","message":{"build":42,"status":"green"}}
}
