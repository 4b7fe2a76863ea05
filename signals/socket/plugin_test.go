package socket_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/socket"
)

// A plugin publishes on a channel of its own, in Go, through the Hub: the
// signal reaches a real WebSocket client subscribed to that channel (as
// useSignal('my-plugin') subscribes in the browser) and no one else, not a
// client on another channel, not one that unsubscribed, not one that never
// subscribed.
func TestCustomChannelSignal(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	mine := e.subscribed(t, "jane-token", "my-plugin", "sentinel")
	otherChannel := e.subscribed(t, "jane-token", "catalog", "sentinel")
	left := e.subscribed(t, "john-token", "my-plugin", "sentinel")
	left.send(t, "unsubscribe", "my-plugin")
	never := e.subscribed(t, "john-token", "sentinel")

	// What the plugin's backend code does.
	err := e.hub.Publish(context.Background(), signals.Signal{
		Recipients: signals.Broadcast(),
		Channel:    "my-plugin",
		Message:    map[string]any{"build": 42, "status": "green"},
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	mine.expect(t, `{"channel":"my-plugin","message":{"build":42,"status":"green"}}`)
	// Each connection delivers in order: had the signal reached the
	// others, it would arrive before the sentinel.
	e.sentinel(t, mine, otherChannel, left, never)

	// Addressed to one user, it reaches only that user's subscribed
	// connections.
	left.send(t, "subscribe", "my-plugin")
	e.publish(t, signals.Signal{Recipients: signals.Entity(john), Channel: "my-plugin", Message: map[string]int{"n": 2}})
	left.expect(t, `{"channel":"my-plugin","message":{"n":2}}`)
	e.sentinel(t, mine, otherChannel, left, never)
}
