package signals_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/signals"
)

const (
	john = "user:default/john.doe"
	jane = "user:default/jane.doe"
	team = "group:default/team-a"
)

// publish waits for the Hub's fan-out (Flush), so these helpers look at
// the buffers without waiting: what is not there after it will never
// arrive.

// next returns the delivery buffered on sub, failing when there is none.
func next(t *testing.T, sub *signals.Subscriber) *signals.Event {
	t.Helper()
	select {
	case d, ok := <-sub.C():
		if !ok {
			t.Fatalf("subscription ended (%v), want a delivery", sub.Err())
		}
		return d
	default:
		t.Fatal("no delivery buffered")
		return nil
	}
}

// nextFrame returns the frame of the delivery buffered on sub.
func nextFrame(t *testing.T, sub *signals.Subscriber) string {
	t.Helper()
	return string(next(t, sub).Frame())
}

// none fails if sub has a delivery buffered.
func none(t *testing.T, sub *signals.Subscriber) {
	t.Helper()
	select {
	case d, ok := <-sub.C():
		if ok {
			t.Fatalf("unexpected delivery %s", d.Frame())
		}
	default:
	}
}

func publish(t *testing.T, h *signals.Hub, s signals.Signal) {
	t.Helper()
	if err := h.Publish(context.Background(), s); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := h.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func setup(t *testing.T, cfg signals.HubConfig) *signals.Hub {
	t.Helper()
	h := signals.NewHub(cfg)
	t.Cleanup(h.Close)
	return h
}

func msg(v string) map[string]any { return map[string]any{"msg": v} }

// A published signal reaches its subscribers unchanged: recipients,
// channel and message.
func TestHubDeliversSignalUnchanged(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"notifications"}})

	s := signals.Signal{
		Recipients: signals.Entity(john),
		Channel:    "notifications",
		Message:    map[string]any{"action": "new_notification", "notification_id": "id-1"},
	}
	publish(t, h, s)

	if got := next(t, sub).Signal(); !reflect.DeepEqual(got, s) {
		t.Errorf("Signal() = %#v, want %#v", got, s)
	}
	none(t, sub)
}

// A broadcast is framed as {"channel":...,"message":...} exactly, and a
// subscriber that unsubscribed from the channel gets nothing more of it.
func TestHubBroadcastFrameAndUnsubscribe(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{User: john})
	sub.Subscribe("test")

	publish(t, h, signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: msg("test")})
	if got, want := nextFrame(t, sub), `{"channel":"test","message":{"msg":"test"}}`; got != want {
		t.Errorf("frame = %s, want %s", got, want)
	}

	sub.Unsubscribe("test")
	publish(t, h, signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: msg("again")})
	none(t, sub)
}

// A signal to a user reaches only the subscribers of its channel that
// belong to that user.
func TestHubUserSignalReachesOnlySubscribedOwner(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	a := h.Subscribe(signals.SubscribeOptions{User: jane, OwnershipRefs: []string{jane}, Channels: []string{"test"}})
	b := h.Subscribe(signals.SubscribeOptions{User: john, OwnershipRefs: []string{john}, Channels: []string{"test"}})
	c := h.Subscribe(signals.SubscribeOptions{User: john, OwnershipRefs: []string{john}})

	publish(t, h, signals.Signal{
		Recipients: signals.Recipients{Type: signals.RecipientUser, EntityRefs: []string{john}},
		Channel:    "test",
		Message:    msg("hi"),
	})

	if got, want := nextFrame(t, b), `{"channel":"test","message":{"msg":"hi"}}`; got != want {
		t.Errorf("B frame = %s, want %s", got, want)
	}
	none(t, a)
	none(t, b)
	none(t, c)
}

// A signal to a group reaches the subscribers whose ownership refs
// include the group.
func TestHubGroupSignal(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	member := h.Subscribe(signals.SubscribeOptions{User: john, OwnershipRefs: []string{john, team}, Channels: []string{"test"}})
	other := h.Subscribe(signals.SubscribeOptions{User: jane, OwnershipRefs: []string{jane}, Channels: []string{"test"}})

	publish(t, h, signals.Signal{Recipients: signals.Entity(team), Channel: "test", Message: msg("team")})

	if got := next(t, member).Signal().Recipients.EntityRefs; !slices.Equal(got, []string{team}) {
		t.Errorf("entity refs = %v", got)
	}
	none(t, other)
}

// The user ref counts as an ownership ref even when OwnershipRefs omits it,
// and refs match exactly, without normalisation.
func TestHubUserRefIsOwned(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{User: john, OwnershipRefs: []string{team}, Channels: []string{"test"}})

	publish(t, h, signals.Signal{Recipients: signals.Entity(john), Channel: "test", Message: msg("1")})
	next(t, sub)

	publish(t, h, signals.Signal{Recipients: signals.Entity("user:john.doe"), Channel: "test", Message: msg("2")})
	none(t, sub)
}

// A subscription owning several of the signal's refs receives it once; every
// tab of the same user receives it.
func TestHubDeliversOncePerSubscription(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	opts := signals.SubscribeOptions{User: john, OwnershipRefs: []string{john, team}, Channels: []string{"test"}}
	tab1, tab2 := h.Subscribe(opts), h.Subscribe(opts)
	jn := h.Subscribe(signals.SubscribeOptions{User: jane, Channels: []string{"test"}})

	publish(t, h, signals.Signal{Recipients: signals.Entity(john, team, jane, john), Channel: "test", Message: msg("x")})

	for _, sub := range []*signals.Subscriber{tab1, tab2, jn} {
		next(t, sub)
		none(t, sub)
	}
}

// Signals without a channel or a message are refused and reach no one.
func TestHubRejectsInvalidSignals(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"test", ""}})

	tests := []struct {
		name string
		s    signals.Signal
	}{
		{"no channel", signals.Signal{Recipients: signals.Broadcast(), Message: msg("x")}},
		{"no message", signals.Signal{Recipients: signals.Broadcast(), Channel: "test"}},
		{"no recipients type", signals.Signal{Channel: "test", Message: msg("x")}},
		{"message not an object", signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: "text"}},
		{"typed nil message", signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: (*struct{})(nil)}},
		{"message not JSON", signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: json.RawMessage(`{`)}},
		{"message not encodable", signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: map[string]any{"f": func() {}}}},
	}
	for _, tt := range tests {
		err := h.Publish(context.Background(), tt.s)
		if !errors.Is(err, signals.ErrInvalidSignal) {
			t.Errorf("%s: Publish error = %v, want ErrInvalidSignal", tt.name, err)
		}
	}
	none(t, sub)
}

// A closed subscription gets nothing more; the others still do.
func TestHubClosedSubscriptionIsRemoved(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	a := h.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"test"}})
	b := h.Subscribe(signals.SubscribeOptions{User: jane, Channels: []string{"test"}})

	a.Close()
	a.Close() // idempotent
	if got := h.Len(); got != 1 {
		t.Errorf("Len = %d after a close, want 1", got)
	}
	if !errors.Is(a.Err(), signals.ErrSubscriberClosed) {
		t.Errorf("Err = %v, want ErrSubscriberClosed", a.Err())
	}
	publish(t, h, signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: msg("x")})
	next(t, b)
	if _, ok := <-a.C(); ok {
		t.Error("closed subscription received a delivery")
	}
}

func TestHubFrameEncoding(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{Channels: []string{`a"<b>`}})

	tests := []struct {
		name    string
		message any
		want    string
	}{
		{"no HTML escaping", map[string]string{"link": "/x?a=1&b=<2>"}, `{"channel":"a\"<b>","message":{"link":"/x?a=1&b=<2>"}}`},
		{"raw message compacted", json.RawMessage("{ \"a\" :\n [1, 2] }"), `{"channel":"a\"<b>","message":{"a":[1,2]}}`},
		{"struct", struct {
			ID string `json:"notification_id"`
		}{"id-1"}, `{"channel":"a\"<b>","message":{"notification_id":"id-1"}}`},
	}
	for _, tt := range tests {
		publish(t, h, signals.Signal{Recipients: signals.Broadcast(), Channel: `a"<b>`, Message: tt.message})
		if got := nextFrame(t, sub); got != tt.want {
			t.Errorf("%s: frame = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// Every delivery of one signal shares the frame encoded once.
func TestHubSharesFrame(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	a := h.Subscribe(signals.SubscribeOptions{Channels: []string{"test"}})
	b := h.Subscribe(signals.SubscribeOptions{Channels: []string{"test"}})
	publish(t, h, signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: msg("x")})
	if da, db := next(t, a), next(t, b); da != db || &da.Frame()[0] != &db.Frame()[0] {
		t.Error("deliveries of one signal do not share the frame")
	}
}

func TestSubscriberChannels(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"b", "a", "b"}})
	sub.Subscribe("c", "", "a")
	sub.Unsubscribe("b", "missing")
	if got, want := sub.Channels(), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("Channels = %v, want %v", got, want)
	}
	if got := sub.User(); got != john {
		t.Errorf("User = %q", got)
	}
	sub.Close()
	sub.Subscribe("d")
	if got := sub.Channels(); len(got) != 0 {
		t.Errorf("Channels after Close = %v, want none", got)
	}
}

// A subscriber that does not keep up is dropped, told why, and keeps what
// it had buffered; the publisher and the other subscribers are unaffected.
func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{BufferSize: 2})
	slow := h.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"test"}})
	fast := h.Subscribe(signals.SubscribeOptions{User: jane, Channels: []string{"test"}})

	for i := range 3 {
		publish(t, h, signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: msg(fmt.Sprint(i))})
		next(t, fast)
	}

	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber not dropped")
	}
	if !errors.Is(slow.Err(), signals.ErrSlowSubscriber) {
		t.Errorf("Err = %v, want ErrSlowSubscriber", slow.Err())
	}
	var got []string
	for d := range slow.C() { // closed after the buffered deliveries
		got = append(got, string(d.Frame()))
	}
	if len(got) != 2 {
		t.Errorf("slow subscriber kept %d deliveries, want its 2 buffered", len(got))
	}
	if n := h.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	if fast.Err() != nil {
		t.Errorf("fast subscriber ended: %v", fast.Err())
	}
}

func TestHubClose(t *testing.T) {
	t.Parallel()
	h := signals.NewHub(signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"test"}})

	h.Close()
	h.Close()

	select {
	case <-sub.Done():
	default:
		t.Fatal("subscription not ended by Hub.Close")
	}
	if !errors.Is(sub.Err(), signals.ErrHubClosed) {
		t.Errorf("Err = %v, want ErrHubClosed", sub.Err())
	}
	err := h.Publish(context.Background(), signals.Signal{Recipients: signals.Broadcast(), Channel: "test", Message: msg("x")})
	if !errors.Is(err, signals.ErrHubClosed) {
		t.Errorf("Publish after Close = %v, want ErrHubClosed", err)
	}
	late := h.Subscribe(signals.SubscribeOptions{User: john})
	if !errors.Is(late.Err(), signals.ErrHubClosed) {
		t.Errorf("Subscribe after Close: Err = %v, want ErrHubClosed", late.Err())
	}
	if n := h.Len(); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

// Publishers, subscribers that come and go, and readers run at once; the
// steady subscribers receive every signal, exactly once and in order per
// publisher.
func TestHubConcurrentUse(t *testing.T) {
	t.Parallel()
	const publishers, perPublisher, steady = 8, 200, 4
	h := setup(t, signals.HubConfig{BufferSize: publishers * perPublisher * 2})

	subs := make([]*signals.Subscriber, steady)
	for i := range subs {
		subs[i] = h.Subscribe(signals.SubscribeOptions{User: john, OwnershipRefs: []string{team}, Channels: []string{"test"}})
	}

	stop := make(chan struct{})
	var churn sync.WaitGroup
	for range 4 {
		churn.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := h.Subscribe(signals.SubscribeOptions{User: jane, OwnershipRefs: []string{team}})
				s.Subscribe("test")
				_ = s.Channels()
				s.Unsubscribe("test")
				s.Subscribe("test")
				s.Close()
			}
		})
	}

	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for i := range perPublisher {
				r := signals.Entity(team)
				if i%2 == 0 {
					r = signals.Broadcast()
				}
				err := h.Publish(context.Background(), signals.Signal{Recipients: r, Channel: "test", Message: map[string]int{"p": p, "i": i}})
				if err != nil {
					t.Errorf("Publish: %v", err)
				}
			}
		})
	}
	pubs.Wait()
	close(stop)
	churn.Wait()
	if err := h.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	for _, sub := range subs {
		last := make([]int, publishers)
		for i := range last {
			last[i] = -1
		}
		for range publishers * perPublisher {
			d := next(t, sub)
			m := d.Signal().Message.(map[string]int)
			if m["i"] <= last[m["p"]] {
				t.Fatalf("publisher %d: got %d after %d", m["p"], m["i"], last[m["p"]])
			}
			last[m["p"]] = m["i"]
		}
		none(t, sub)
	}
	if n := h.Len(); n != steady {
		t.Errorf("Len = %d, want %d", n, steady)
	}
}

// A reader blocked on C wakes for a delivery and for the end.
func TestSubscriberReaderWakes(t *testing.T) {
	t.Parallel()
	h := setup(t, signals.HubConfig{})
	sub := h.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"test"}})

	got := make(chan int, 1)
	go func() {
		n := 0
		for range sub.C() {
			n++
		}
		got <- n
	}()
	publish(t, h, signals.Signal{Recipients: signals.Entity(john), Channel: "test", Message: msg("x")})
	sub.Close()

	select {
	case n := <-got:
		if n != 1 {
			t.Errorf("reader got %d deliveries, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader did not see the subscription end")
	}
}

// BenchmarkHubPublish publishes one signal among 10,000 subscribers of the
// channel: reaching 100 of them through a group ref, 100 through a list of
// user refs, or all of them as a broadcast. Each iteration publishes and
// waits for the fan-out (Flush), so the figure is the Hub's whole cost per
// signal, not only Publish's; readers are drained with the timer stopped.
func BenchmarkHubPublish(b *testing.B) {
	const subscribers = 10_000
	cases := []struct {
		name       string
		recipients signals.Recipients
		matches    int
	}{
		{"subs=10000/match=100/group", signals.Entity(team), 100},
		{"subs=10000/match=100/users", signals.Entity(userRefs(100)...), 100},
		{"subs=10000/match=10000/broadcast", signals.Broadcast(), subscribers},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			const buffer = 64
			h := signals.NewHub(signals.HubConfig{BufferSize: buffer})
			defer h.Close()
			users := userRefs(subscribers)
			subs := make([]*signals.Subscriber, subscribers)
			for i, u := range users {
				refs := []string{u}
				if i < 100 {
					refs = append(refs, team)
				}
				subs[i] = h.Subscribe(signals.SubscribeOptions{User: u, OwnershipRefs: refs, Channels: []string{"notifications"}})
			}
			s := signals.Signal{
				Recipients: bc.recipients,
				Channel:    "notifications",
				Message:    map[string]string{"action": "new_notification", "notification_id": "0198c3a4-6d2e-7c1a-9a51-3f0b3f6c2d11"},
			}
			drain := func() {
				for _, sub := range subs {
					for len(sub.C()) > 0 {
						<-sub.C()
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := h.Publish(context.Background(), s); err != nil {
					b.Fatal(err)
				}
				if err := h.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				if i%buffer == buffer-1 {
					b.StopTimer()
					drain()
					b.StartTimer()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(bc.matches), "deliveries/op")
			if n := h.Len(); n != subscribers {
				b.Fatalf("%d subscribers dropped", subscribers-n)
			}
		})
	}
}

func userRefs(n int) []string {
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf("user:default/user-%05d", i)
	}
	return refs
}
