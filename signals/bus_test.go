package signals_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/signalstest"
)

const busWait = 5 * time.Second

// busFakeTransport hands the test the Bus's handler, so the test plays every
// other instance by writing envelopes itself.
type busFakeTransport struct {
	sent    chan []byte
	gate    chan struct{} // when set, Send and SendBatch wait for it
	batches chan [][]byte
	sendErr error

	mu     sync.Mutex
	h      signals.TransportHandler
	closed bool
}

func newBusFake() *busFakeTransport { return &busFakeTransport{sent: make(chan []byte, 100)} }

func (f *busFakeTransport) Send(ctx context.Context, msg []byte) error {
	if f.gate != nil {
		<-f.gate
	}
	if f.sendErr != nil {
		return f.sendErr
	}
	f.sent <- msg
	return nil
}

func (f *busFakeTransport) Subscribe(ctx context.Context, h signals.TransportHandler) (signals.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.h = h
	return busSubFunc(func() error { return nil }), nil
}

func (f *busFakeTransport) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *busFakeTransport) deliver(msg string) { f.h.HandleMessage([]byte(msg)) }

type busSubFunc func() error

func (s busSubFunc) Close() error { return s() }

// busBatchingFake is a busFakeTransport that is also a BatchSender.
type busBatchingFake struct{ *busFakeTransport }

func (f busBatchingFake) SendBatch(ctx context.Context, msgs [][]byte) error {
	f.batches <- msgs
	for _, m := range msgs {
		f.sent <- m
	}
	return nil
}

type busSetup struct {
	fake *busFakeTransport
	bus  *signals.Bus
	got  chan signals.Signal
	gaps chan signals.Gap
}

func newBusSetup(t *testing.T, tr signals.Transport, fake *busFakeTransport) *busSetup {
	t.Helper()
	s := &busSetup{fake: fake, got: make(chan signals.Signal, 100), gaps: make(chan signals.Gap, 100)}
	bus, err := signals.NewBus(t.Context(), signals.BusConfig{
		Transport:  tr,
		InstanceID: "self",
		Local: signals.PublisherFunc(func(_ context.Context, sig signals.Signal) error {
			s.got <- sig
			return nil
		}),
		OnGap: func(_ context.Context, g signals.Gap) { s.gaps <- g },
	})
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	t.Cleanup(func() { bus.Close() })
	s.bus = bus
	return s
}

func setupBusFake(t *testing.T) *busSetup {
	t.Helper()
	f := newBusFake()
	return newBusSetup(t, f, f)
}

func busReceive[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(busWait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// envelope writes the documented wire form of a signal from another
// instance.
func busEnvelope(origin, run string, seq int, message string) string {
	return fmt.Sprintf(`{"v":1,"origin":%q,"run":%q,"seq":%d,"signal":`+
		`{"recipients":{"type":"user","entityRef":"user:default/jane"},"channel":"ch","message":%s}}`,
		origin, run, seq, message)
}

func busMessage(t *testing.T, s signals.Signal) string {
	t.Helper()
	b, err := json.Marshal(s.Message)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewBusValidatesConfig(t *testing.T) {
	t.Parallel()
	local := signals.PublisherFunc(func(context.Context, signals.Signal) error { return nil })
	tests := []struct {
		name string
		cfg  signals.BusConfig
		want string
	}{
		{"no transport", signals.BusConfig{Local: local}, "Transport is required"},
		{"no local", signals.BusConfig{Transport: newBusFake()}, "Local is required"},
		{"negative timeout", signals.BusConfig{Transport: newBusFake(), Local: local, SendTimeout: -time.Second}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := signals.NewBus(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewBus = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestBusPublishSendsDocumentedEnvelope(t *testing.T) {
	t.Parallel()
	s := setupBusFake(t)
	for i := range 2 {
		err := s.bus.Publish(t.Context(), signals.Signal{
			Recipients: signals.Entity("user:default/jane"), Channel: "ch", Message: map[string]int{"n": i},
		})
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	var run string
	for i := range 2 {
		if got := busMessage(t, busReceive(t, s.got, "local delivery")); got != fmt.Sprintf(`{"n":%d}`, i) {
			t.Errorf("local delivery %d = %s", i, got)
		}
		var env struct {
			V      int
			Origin string
			Run    string
			Seq    int
			Signal signals.Signal
		}
		raw := busReceive(t, s.fake.sent, "a sent envelope")
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("envelope %s: %v", raw, err)
		}
		if env.V != 1 || env.Origin != "self" || env.Seq != i+1 || len(env.Run) != 24 || env.Signal.Channel != "ch" ||
			env.Signal.Recipients.EntityRefs[0] != "user:default/jane" {
			t.Errorf("envelope %d = %s", i, raw)
		}
		if i == 1 && env.Run != run {
			t.Errorf("run changed within one Bus: %q then %q", run, env.Run)
		}
		run = env.Run
	}
	// The Bus's own envelope coming back through the transport is not
	// delivered a second time.
	s.fake.deliver(busEnvelope("self", run, 1, `{"n":0}`))
	s.fake.deliver(busEnvelope("other", "r", 1, `{"from":"other"}`))
	if got := busMessage(t, busReceive(t, s.got, "the other instance's signal")); got != `{"from":"other"}` {
		t.Errorf("delivered %s, want only the other instance's signal", got)
	}
}

func TestBusDropsDuplicatesAndReportsHoles(t *testing.T) {
	t.Parallel()
	s := setupBusFake(t)
	for _, seq := range []int{1, 2, 2, 1, 3, 6, 7} {
		s.fake.deliver(busEnvelope("web-2", "r1", seq, fmt.Sprintf(`{"seq":%d}`, seq)))
	}
	// A restarted web-2 has a new run and counts from 1 again.
	s.fake.deliver(busEnvelope("web-2", "r2", 1, `{"seq":"r2-1"}`))
	for _, want := range []string{`{"seq":1}`, `{"seq":2}`, `{"seq":3}`, `{"seq":6}`, `{"seq":7}`, `{"seq":"r2-1"}`} {
		if got := busMessage(t, busReceive(t, s.got, want)); got != want {
			t.Fatalf("delivered %s, want %s", got, want)
		}
	}
	g := busReceive(t, s.gaps, "the gap report")
	if g.Origin != "web-2" || g.Missed != 2 || g.Since.IsZero() || g.Until.Before(g.Since) {
		t.Errorf("gap = %+v, want 2 missed from web-2", g)
	}
	select {
	case g := <-s.gaps:
		t.Errorf("unexpected second gap %+v", g)
	default:
	}
}

func TestBusTransportGapResynchronises(t *testing.T) {
	t.Parallel()
	s := setupBusFake(t)
	s.fake.deliver(busEnvelope("web-2", "r", 1, `{"n":1}`))
	busReceive(t, s.got, "first signal")
	cause := errors.New("connection reset")
	s.fake.h.HandleGap(signals.Gap{Since: time.Now(), Until: time.Now(), Err: cause})
	if g := busReceive(t, s.gaps, "the transport's gap"); !errors.Is(g.Err, cause) || g.Origin != "" {
		t.Errorf("gap = %+v, want the transport's", g)
	}
	// The signals lost in the outage were covered by that report: the next
	// envelope re-synchronises without a second one, and later holes count again.
	s.fake.deliver(busEnvelope("web-2", "r", 5, `{"n":5}`))
	s.fake.deliver(busEnvelope("web-2", "r", 7, `{"n":7}`))
	busReceive(t, s.got, "signal 5")
	busReceive(t, s.got, "signal 7")
	if g := busReceive(t, s.gaps, "the hole after 5"); g.Missed != 1 {
		t.Errorf("gap = %+v, want 1 missed", g)
	}
}

func TestBusDropsBadEnvelopes(t *testing.T) {
	t.Parallel()
	s := setupBusFake(t)
	for _, bad := range []string{
		`not json`,
		`{"v":2,"origin":"o","run":"r","seq":1,"signal":{}}`,
		busEnvelope("o", "r", 1, `null`),
		`{"v":1,"origin":"o","run":"r","seq":2,"signal":{"recipients":{"type":"nobody"},"channel":"ch","message":{}}}`,
		`{"v":1,"origin":"o","run":"r","seq":3,"signal":{"recipients":{"type":"broadcast"},"channel":"","message":{}}}`,
		`{"v":1,"origin":"o","run":"r","seq":4,"signal":"oops"}`,
	} {
		s.fake.deliver(bad)
	}
	s.fake.deliver(busEnvelope("o", "r", 5, `{"ok":true}`))
	if got := busMessage(t, busReceive(t, s.got, "the good signal")); got != `{"ok":true}` {
		t.Errorf("delivered %s, want only the valid signal", got)
	}
}

func TestBusPublishErrors(t *testing.T) {
	t.Parallel()
	f := newBusFake()
	f.sendErr = fmt.Errorf("%w: 2000000 bytes", signals.ErrTooLarge)
	s := newBusSetup(t, f, f)
	if err := s.bus.Publish(t.Context(), signals.Signal{Channel: "ch", Message: 1}); !errors.Is(err, signals.ErrInvalidSignal) {
		t.Errorf("Publish(no recipients) = %v, want ErrInvalidSignal", err)
	}
	sig := signals.Signal{Recipients: signals.Broadcast(), Channel: "ch", Message: map[string]string{}}
	if err := s.bus.Publish(t.Context(), sig); !errors.Is(err, signals.ErrTooLarge) {
		t.Errorf("Publish = %v, want the transport's ErrTooLarge", err)
	}
	busReceive(t, s.got, "local delivery despite the failed send")
	if err := s.bus.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !f.closed {
		t.Error("Bus.Close did not close its transport")
	}
	if err := s.bus.Publish(t.Context(), sig); !errors.Is(err, signals.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestBusBatchesConcurrentPublishes(t *testing.T) {
	t.Parallel()
	f := newBusFake()
	f.gate = make(chan struct{})
	f.batches = make(chan [][]byte, 10)
	s := newBusSetup(t, busBatchingFake{f}, f)
	publish := func(n int) chan error {
		done := make(chan error, 1)
		go func() {
			done <- s.bus.Publish(t.Context(), signals.Signal{Recipients: signals.Broadcast(), Channel: "ch", Message: n})
		}()
		return done
	}
	first := publish(0)
	busReceive(t, s.got, "local delivery of the first signal")
	// The first send is now in flight or about to be, held by the gate;
	// the next publishes queue up behind it.
	var rest []chan error
	for n := 1; n <= 3; n++ {
		rest = append(rest, publish(n))
		busReceive(t, s.got, "local delivery")
	}
	close(f.gate)
	if err := busReceive(t, first, "the first Publish"); err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for len(seqs) < 4 {
		var env struct{ Seq int }
		json.Unmarshal(busReceive(t, f.sent, "a sent envelope"), &env)
		seqs = append(seqs, env.Seq)
	}
	if fmt.Sprint(seqs) != "[1 2 3 4]" {
		t.Errorf("envelopes sent in order %v, want [1 2 3 4]", seqs)
	}
	for _, done := range rest {
		if err := busReceive(t, done, "a queued Publish"); err != nil {
			t.Error(err)
		}
	}
}

// ExampleNewBus runs two instances of a deployment in one process, on an
// in-memory transport; in production each instance opens a pgbus or
// natsbus transport on the shared backend instead.
func ExampleNewBus() {
	network := signalstest.NewMemoryNetwork()
	newInstance := func(name string, received chan<- string) *signals.Bus {
		bus, err := signals.NewBus(context.Background(), signals.BusConfig{
			Transport:  network.Transport(),
			InstanceID: name,
			// Usually the instance's *signals.Hub.
			Local: signals.PublisherFunc(func(_ context.Context, s signals.Signal) error {
				received <- fmt.Sprintf("%s got %s on %q", name, s.Message, s.Channel)
				return nil
			}),
			OnGap: func(ctx context.Context, g signals.Gap) {
				// Tell this instance's clients to refetch their inbox.
			},
		})
		if err != nil {
			panic(err)
		}
		return bus
	}
	got1, got2 := make(chan string), make(chan string)
	web1, web2 := newInstance("web-1", got1), newInstance("web-2", got2)
	defer web1.Close()
	defer web2.Close()

	go web1.Publish(context.Background(), signals.Signal{
		Recipients: signals.Entity("user:default/jane"),
		Channel:    "notifications",
		Message:    json.RawMessage(`{"action":"new_notification"}`),
	})
	fmt.Println(<-got1) // web-1's own clients, directly
	fmt.Println(<-got2) // web-2's, through the transport
	// Output:
	// web-1 got {"action":"new_notification"} on "notifications"
	// web-2 got {"action":"new_notification"} on "notifications"
}
