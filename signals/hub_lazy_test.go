package signals_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/signals"
)

// countingMessage counts how often it is encoded.
type countingMessage struct{ n *atomic.Int32 }

func (m countingMessage) MarshalJSON() ([]byte, error) {
	m.n.Add(1)
	return []byte(`{"ok":true}`), nil
}

// A signal no subscription concerns is not encoded; one that reaches a
// subscription is encoded once, however many it reaches.
func TestHubEncodesOnlyWhatReachesSomeone(t *testing.T) {
	t.Parallel()
	h := signals.NewHub(signals.HubConfig{})
	defer h.Close()
	var n atomic.Int32
	m := countingMessage{&n}
	ctx := context.Background()

	jane := "user:default/jane"
	for _, s := range []signals.Signal{
		{Recipients: signals.Broadcast(), Channel: "test", Message: m},
		{Recipients: signals.Entity(john), Channel: "test", Message: m},
	} {
		if err := h.Publish(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("with no subscriber, the message was encoded %d times, want 0", got)
	}

	sub := h.Subscribe(signals.SubscribeOptions{User: jane, Channels: []string{"test"}})
	other := h.Subscribe(signals.SubscribeOptions{User: jane, Channels: []string{"other"}})
	defer sub.Close()
	defer other.Close()
	// To john on "test", broadcast on "elsewhere": still no one.
	for _, s := range []signals.Signal{
		{Recipients: signals.Entity(john), Channel: "test", Message: m},
		{Recipients: signals.Broadcast(), Channel: "elsewhere", Message: m},
	} {
		if err := h.Publish(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("for signals no one is subscribed to, the message was encoded %d times, want 0", got)
	}
	for _, s := range []signals.Signal{
		{Recipients: signals.Entity(john, jane), Channel: "test", Message: m},
		{Recipients: signals.Broadcast(), Channel: "test", Message: m},
	} {
		if err := h.Publish(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("two signals reaching a subscriber were encoded %d times, want 2", got)
	}
	for range 2 {
		e := <-sub.C()
		if got, want := string(e.Frame()), `{"channel":"test","message":{"ok":true}}`; got != want {
			t.Errorf("frame %s, want %s", got, want)
		}
	}
	select {
	case e := <-sub.C():
		t.Errorf("unexpected delivery %s", e.Frame())
	default:
	}

	h.Close()
	if err := h.Publish(ctx, signals.Signal{Recipients: signals.Broadcast(), Channel: "nobody", Message: m}); !errors.Is(err, signals.ErrHubClosed) {
		t.Errorf("Publish after Close, to no one = %v, want ErrHubClosed", err)
	}
}
