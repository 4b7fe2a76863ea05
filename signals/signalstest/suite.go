// Package signalstest helps test code built on package signals: a
// conformance suite for signals.Transport implementations (the model is
// testing/slogtest), MemoryNetwork, an in-process transport backend for
// tests that run several Herald instances in one process, and the helpers
// a transport's own tests need beyond the suite (Node, a Bus that records
// what it delivers; Receive and LogRecorder, to wait without sleeping;
// UniqueName and BackendFromEnv, to share a real server).
//
// A transport package proves itself with one test:
//
//	func TestTransport(t *testing.T) {
//		signalstest.RunTransportTests(t, func(t *testing.T) signalstest.Backend {
//			channel := signalstest.UniqueName("test_") // isolates parallel subtests
//			return signalstest.Backend{
//				OpenFunc: func(t *testing.T) signals.Transport {
//					tr, err := mybus.New(t.Context(), mybus.Config{Channel: channel})
//					if err != nil {
//						t.Fatal(err)
//					}
//					t.Cleanup(func() { tr.Close() })
//					return tr
//				},
//			}
//		})
//	}
package signalstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/signals"
)

// Backend is one isolated messaging backend for one subtest: a database
// channel, a NATS subject, a MemoryNetwork. Transports opened by one
// Backend's OpenFunc reach each other and no transport of another Backend.
type Backend struct {
	// OpenFunc returns a new transport on the backend, as one more instance of
	// the deployment would open it, and registers its Close with t.Cleanup
	// (the suite may close it earlier; Close must be idempotent). Required.
	OpenFunc func(t *testing.T) signals.Transport

	// InterruptFunc breaks the connection of every transport open on the
	// backend, the way a network failure or a server restart would, and
	// returns without waiting for them to reconnect. The suite then expects
	// every subscription to report a gap and to receive again. Defaults to
	// nil: the interruption test is skipped.
	InterruptFunc func(t *testing.T)

	// Timeout bounds each wait for a delivery. Defaults to 15 seconds.
	Timeout time.Duration
}

const defaultTimeout = 15 * time.Second

// RunTransportTests runs the conformance suite against the transports
// newBackend provides. It calls newBackend once per subtest, from the
// subtest, and runs the subtests in parallel. It checks the guarantees
// documented on signals.Transport, and the Bus semantics on top of the
// transport: delivery to every instance exactly once, order per publisher,
// messages larger than a PostgreSQL NOTIFY (8000 bytes), the size limit of
// a SizeLimiter, concurrent senders, subscriptions and instances that go
// away and come back, and, with Backend.InterruptFunc, gap reports after a lost
// connection.
func RunTransportTests(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, b Backend)
	}{
		{"DeliversToEverySubscription", testDelivery},
		{"KeepsOrderPerSender", testOrder},
		{"ConcurrentSenders", testConcurrentSenders},
		{"LargeAndBinaryMessages", testLargeMessages},
		{"SizeLimit", testSizeLimit},
		{"ResubscribeAndRestart", testResubscribe},
		{"Interrupt", testInterrupt},
		{"Closed", testClosed},
		{"BusDeliversOnceToEveryInstance", testBusDelivery},
		{"BusLargeSignal", testBusLargeSignal},
		{"BusRestartedInstance", testBusRestart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			if b.OpenFunc == nil {
				t.Fatal("signalstest: Backend.OpenFunc is nil")
			}
			if b.Timeout <= 0 {
				b.Timeout = defaultTimeout
			}
			tc.run(t, b)
		})
	}
}

// events is an append-only log that a test can wait on without sleeping.
type events[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{} // cap 1
}

func newEvents[T any]() *events[T] { return &events[T]{changed: make(chan struct{}, 1)} }

func (e *events[T]) add(v T) {
	e.mu.Lock()
	e.items = append(e.items, v)
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *events[T]) snapshot() []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]T(nil), e.items...)
}

// waitFor waits until done(items) holds, failing t after timeout.
func (e *events[T]) waitFor(t *testing.T, timeout time.Duration, what string, done func([]T) bool) []T {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		items := e.snapshot()
		if done(items) {
			return items
		}
		select {
		case <-e.changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; have %d events", timeout, what, len(items))
		}
	}
}

// waitLen waits for at least n items.
func (e *events[T]) waitLen(t *testing.T, timeout time.Duration, what string, n int) []T {
	t.Helper()
	return e.waitFor(t, timeout, what, func(items []T) bool { return len(items) >= n })
}

// recorder is a TransportHandler that records everything and flags calls
// made after its subscription's Close returned.
type recorder struct {
	msgs        *events[[]byte]
	gaps        *events[signals.Gap]
	closed      atomic.Bool
	lateCalls   atomic.Int32
	concurrent  atomic.Int32
	overlapping atomic.Bool
}

func newRecorder() *recorder {
	return &recorder{msgs: newEvents[[]byte](), gaps: newEvents[signals.Gap]()}
}

func (r *recorder) enter() func() {
	if r.closed.Load() {
		r.lateCalls.Add(1)
	}
	if r.concurrent.Add(1) > 1 {
		r.overlapping.Store(true)
	}
	return func() { r.concurrent.Add(-1) }
}

func (r *recorder) HandleMessage(msg []byte) {
	defer r.enter()()
	r.msgs.add(msg)
}

func (r *recorder) HandleGap(g signals.Gap) {
	defer r.enter()()
	r.gaps.add(g)
}

// check reports contract violations seen by r.
func (r *recorder) check(t *testing.T, name string) {
	t.Helper()
	if n := r.lateCalls.Load(); n > 0 {
		t.Errorf("%s: handler called %d times after Subscription.Close returned", name, n)
	}
	if r.overlapping.Load() {
		t.Errorf("%s: handler methods called concurrently", name)
	}
}

func subscribe(t *testing.T, tr signals.Transport, name string) (*recorder, signals.Subscription) {
	t.Helper()
	r := newRecorder()
	sub, err := tr.Subscribe(t.Context(), r)
	if err != nil {
		t.Fatalf("Subscribe %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = sub.Close()
		r.check(t, name)
	})
	return r, sub
}

func send(t *testing.T, tr signals.Transport, msg string) {
	t.Helper()
	if err := tr.Send(t.Context(), []byte(msg)); err != nil {
		t.Fatalf("Send %.40q: %v", msg, err)
	}
}

func asStrings(msgs [][]byte) []string {
	s := make([]string, len(msgs))
	for i, m := range msgs {
		s[i] = string(m)
	}
	return s
}

func count(msgs [][]byte, prefix string) int {
	n := 0
	for _, m := range msgs {
		if strings.HasPrefix(string(m), prefix) {
			n++
		}
	}
	return n
}

// testDelivery: each of three instances sends; each instance's subscription,
// the sender's own included, gets every message once.
func testDelivery(t *testing.T, b Backend) {
	const n = 3
	trs := make([]signals.Transport, n)
	recs := make([]*recorder, n)
	for i := range n {
		trs[i] = b.OpenFunc(t)
		recs[i], _ = subscribe(t, trs[i], fmt.Sprintf("instance %d", i))
	}
	for i, tr := range trs {
		send(t, tr, fmt.Sprintf("hello from %d", i))
		send(t, tr, fmt.Sprintf("fence %d", i)) // duplicates of hello would come before it
	}
	for i, r := range recs {
		got := r.msgs.waitFor(t, b.Timeout, fmt.Sprintf("fences on instance %d", i), func(m [][]byte) bool {
			return count(m, "fence ") >= n
		})
		for j := range n {
			if c := count(got, fmt.Sprintf("hello from %d", j)); c != 1 {
				t.Errorf("instance %d got the message of instance %d %d times; all: %q", i, j, c, asStrings(got))
			}
		}
		if len(got) != 2*n {
			t.Errorf("instance %d got %d messages, want %d: %q", i, len(got), 2*n, asStrings(got))
		}
		if gaps := r.gaps.snapshot(); len(gaps) > 0 {
			t.Errorf("instance %d reported gaps on a healthy backend: %+v", i, gaps)
		}
	}
}

// testOrder: sequential sends reach a remote and a local subscription in order.
func testOrder(t *testing.T, b Backend) {
	const n = 300
	sender, other := b.OpenFunc(t), b.OpenFunc(t)
	own, _ := subscribe(t, sender, "sender's own")
	remote, _ := subscribe(t, other, "remote")
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("m%04d", i)
		send(t, sender, want[i])
	}
	for name, r := range map[string]*recorder{"own": own, "remote": remote} {
		got := asStrings(r.msgs.waitLen(t, b.Timeout, name+" messages", n))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s subscription got messages out of order or altered:\n got %q\nwant %q", name, got, want)
		}
	}
}

// testConcurrentSenders: several instances, several goroutines each; every
// subscription gets every message once, in order per goroutine.
func testConcurrentSenders(t *testing.T, b Backend) {
	const instances, goroutines, perGoroutine = 3, 4, 25
	trs := make([]signals.Transport, instances)
	recs := make([]*recorder, instances)
	for i := range instances {
		trs[i] = b.OpenFunc(t)
		recs[i], _ = subscribe(t, trs[i], fmt.Sprintf("instance %d", i))
	}
	sendConcurrently(t, instances, goroutines, perGoroutine, func(i, g, k int) error {
		return trs[i].Send(t.Context(), fmt.Appendf(nil, "%d/%d/%d", i, g, k))
	})
	if t.Failed() {
		return
	}
	total := instances * goroutines * perGoroutine
	for ri, r := range recs {
		got := r.msgs.waitLen(t, b.Timeout, fmt.Sprintf("all messages on instance %d", ri), total)
		inSequence(t, fmt.Sprintf("instance %d", ri), got, total, func(m []byte) (string, int) {
			var i, g, k int
			if _, err := fmt.Sscanf(string(m), "%d/%d/%d", &i, &g, &k); err != nil {
				t.Fatalf("instance %d got an altered message %q", ri, m)
			}
			return fmt.Sprintf("%d/%d", i, g), k
		})
	}
}

// sendConcurrently sends from goroutines goroutines of each of instances
// instances at once, perGoroutine times each, and returns when all are
// done. send sends message k of goroutine g of instance i; an error fails
// t and ends that goroutine.
func sendConcurrently(t *testing.T, instances, goroutines, perGoroutine int, send func(i, g, k int) error) {
	var wg sync.WaitGroup
	for i := range instances {
		for g := range goroutines {
			wg.Go(func() {
				for k := range perGoroutine {
					if err := send(i, g, k); err != nil {
						t.Errorf("sending from instance %d goroutine %d: %v", i, g, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}

// inSequence checks what where received: total items, and from each
// sender its numbers 0, 1, 2, ... in order, so nothing was lost,
// duplicated or reordered. seq says who sent an item and its number.
func inSequence[T any](t *testing.T, where string, got []T, total int, seq func(T) (sender string, n int)) {
	t.Helper()
	next := map[string]int{}
	for _, item := range got {
		sender, n := seq(item)
		if n != next[sender] {
			t.Fatalf("%s: from sender %s got #%d, want #%d (lost, duplicated or reordered)", where, sender, n, next[sender])
		}
		next[sender]++
	}
	if len(got) != total {
		t.Errorf("%s got %d in all, want %d", where, len(got), total)
	}
}

// testLargeMessages: messages around and above PostgreSQL's NOTIFY limit,
// and bytes that are not text, arrive intact and in order.
func testLargeMessages(t *testing.T, b Backend) {
	sender, receiver := b.OpenFunc(t), b.OpenFunc(t)
	r, _ := subscribe(t, receiver, "receiver")
	binary := make([]byte, 3000)
	for i := range binary {
		binary[i] = byte(i) // NUL bytes, invalid UTF-8
	}
	msgs := [][]byte{
		[]byte("small"),
		pattern(7999), pattern(8000), pattern(8001),
		binary,
		pattern(64 << 10), pattern(300_000),
		[]byte("small again"),
	}
	for _, m := range msgs {
		if err := sender.Send(t.Context(), m); err != nil {
			t.Fatalf("Send %d bytes: %v", len(m), err)
		}
	}
	got := r.msgs.waitLen(t, b.Timeout, "large messages", len(msgs))
	for i, m := range msgs {
		if i < len(got) && !bytes.Equal(got[i], m) {
			t.Errorf("message %d (%d bytes) arrived altered or out of order (%d bytes)", i, len(m), len(got[i]))
		}
	}
	if len(got) != len(msgs) {
		t.Errorf("got %d messages, want %d", len(got), len(msgs))
	}
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	copy(p, fmt.Sprintf("<%d>", n))
	return p
}

// testSizeLimit: a SizeLimiter accepts exactly its limit and refuses one
// byte more with ErrTooLarge.
func testSizeLimit(t *testing.T, b Backend) {
	sender := b.OpenFunc(t)
	limiter, ok := sender.(signals.SizeLimiter)
	if !ok {
		t.Skip("transport is not a signals.SizeLimiter")
	}
	limit := limiter.MaxMessageSize()
	if limit < 8001 {
		t.Fatalf("MaxMessageSize() = %d; a transport must carry more than a NOTIFY's 8000 bytes", limit)
	}
	r, _ := subscribe(t, b.OpenFunc(t), "receiver")
	if err := sender.Send(t.Context(), pattern(limit+1)); !errors.Is(err, signals.ErrTooLarge) {
		t.Errorf("Send(MaxMessageSize()+1 bytes) = %v, want an error wrapping signals.ErrTooLarge", err)
	}
	full := pattern(limit)
	if err := sender.Send(t.Context(), full); err != nil {
		t.Fatalf("Send(MaxMessageSize() = %d bytes): %v", limit, err)
	}
	send(t, sender, "after")
	got := r.msgs.waitFor(t, b.Timeout, "the message of the maximum size", func(m [][]byte) bool {
		return count(m, "after") == 1
	})
	if len(got) != 2 || !bytes.Equal(got[0], full) {
		t.Errorf("got %d messages (first %d bytes), want the %d-byte message then \"after\"", len(got), len(got[0]), limit)
	}
}

// testResubscribe: a closed subscription hears nothing more; a new
// subscription on the same transport, and a new transport (a restarted
// instance), receive what is sent after they subscribed.
func testResubscribe(t *testing.T, b Backend) {
	sender, instance := b.OpenFunc(t), b.OpenFunc(t)
	first, sub := subscribe(t, instance, "first subscription")
	send(t, sender, "one")
	first.msgs.waitLen(t, b.Timeout, "message one", 1)
	if err := sub.Close(); err != nil {
		t.Fatalf("Subscription.Close: %v", err)
	}
	first.closed.Store(true)
	if err := sub.Close(); err != nil {
		t.Errorf("second Subscription.Close: %v", err)
	}
	send(t, sender, "two")

	second, _ := subscribe(t, instance, "second subscription")
	restarted, _ := subscribe(t, b.OpenFunc(t), "new instance")
	send(t, sender, "three")
	for name, r := range map[string]*recorder{"second subscription": second, "new instance": restarted} {
		got := asStrings(r.msgs.waitFor(t, b.Timeout, "message three on the "+name, func(m [][]byte) bool {
			return count(m, "three") == 1
		}))
		if got[len(got)-1] != "three" || count(r.msgs.snapshot(), "one") != 0 {
			t.Errorf("%s got %q, want \"three\" last and no \"one\"", name, got)
		}
	}

	if err := instance.Close(); err != nil { // the instance stops
		t.Fatalf("Transport.Close: %v", err)
	}
	second.closed.Store(true)
	send(t, sender, "four")
	restarted.msgs.waitFor(t, b.Timeout, "message four", func(m [][]byte) bool { return count(m, "four") == 1 })
	// The first subscription's late calls, if any, are reported by its cleanup.
}

// testInterrupt: after a lost connection every subscription reports a gap
// once it is live again, and then receives.
func testInterrupt(t *testing.T, b Backend) {
	if b.InterruptFunc == nil {
		t.Skip("Backend.InterruptFunc is nil")
	}
	a, c := b.OpenFunc(t), b.OpenFunc(t)
	ra, _ := subscribe(t, a, "a")
	rc, _ := subscribe(t, c, "c")
	send(t, a, "before")
	ra.msgs.waitLen(t, b.Timeout, "message before the interruption on a", 1)
	rc.msgs.waitLen(t, b.Timeout, "message before the interruption on c", 1)

	start := time.Now()
	b.InterruptFunc(t)
	for name, r := range map[string]*recorder{"a": ra, "c": rc} {
		g := r.gaps.waitLen(t, b.Timeout, "a gap report on "+name, 1)[0]
		if g.Until.Before(start) {
			t.Errorf("%s: gap Until = %v, before the interruption at %v", name, g.Until, start)
		}
		if !g.Since.IsZero() && g.Since.After(g.Until) {
			t.Errorf("%s: gap Since %v is after Until %v", name, g.Since, g.Until)
		}
	}
	send(t, a, "after from a")
	send(t, c, "after from c")
	for name, r := range map[string]*recorder{"a": ra, "c": rc} {
		r.msgs.waitFor(t, b.Timeout, "messages after the interruption on "+name, func(m [][]byte) bool {
			return count(m, "after from a") == 1 && count(m, "after from c") == 1
		})
	}
}

// testClosed: a closed transport refuses work with ErrClosed.
func testClosed(t *testing.T, b Backend) {
	tr := b.OpenFunc(t)
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tr.Send(t.Context(), []byte("x")); !errors.Is(err, signals.ErrClosed) {
		t.Errorf("Send after Close = %v, want an error wrapping signals.ErrClosed", err)
	}
	if _, err := tr.Subscribe(t.Context(), newRecorder()); !errors.Is(err, signals.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want an error wrapping signals.ErrClosed", err)
	}
}

// instance is one simulated Herald instance: a Bus and what reached its
// local Publisher.
type instance struct {
	bus  *signals.Bus
	got  *events[signals.Signal]
	gaps *events[signals.Gap]
}

func newInstance(t *testing.T, b Backend, id string) *instance {
	t.Helper()
	in := &instance{got: newEvents[signals.Signal](), gaps: newEvents[signals.Gap]()}
	bus, err := signals.NewBus(t.Context(), signals.BusConfig{
		Transport:  b.OpenFunc(t),
		InstanceID: id,
		Local: signals.PublisherFunc(func(_ context.Context, s signals.Signal) error {
			in.got.add(s)
			return nil
		}),
		OnGap: func(_ context.Context, g signals.Gap) { in.gaps.add(g) },
	})
	if err != nil {
		t.Fatalf("NewBus %s: %v", id, err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	in.bus = bus
	return in
}

type testMessage struct {
	From string `json:"from"`
	G    int    `json:"g"`
	N    int    `json:"n"`
	Pad  string `json:"pad,omitempty"`
}

func decode(t *testing.T, s signals.Signal) testMessage {
	t.Helper()
	raw, err := json.Marshal(s.Message)
	if err != nil {
		t.Fatalf("re-encode message: %v", err)
	}
	var m testMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode message %s: %v", raw, err)
	}
	return m
}

// testBusDelivery: three instances publish concurrently; each instance's
// local Publisher gets every signal once, in order per publishing goroutine.
func testBusDelivery(t *testing.T, b Backend) {
	const instances, goroutines, perGoroutine = 3, 3, 10
	ins := make([]*instance, instances)
	for i := range ins {
		ins[i] = newInstance(t, b, fmt.Sprintf("i%d", i))
	}
	sendConcurrently(t, instances, goroutines, perGoroutine, func(i, g, n int) error {
		return ins[i].bus.Publish(t.Context(), signals.Signal{
			Recipients: signals.Entity("user:default/jane", "group:default/team"),
			Channel:    "notifications",
			Message:    testMessage{From: fmt.Sprintf("i%d", i), G: g, N: n},
		})
	})
	if t.Failed() {
		return
	}
	total := instances * goroutines * perGoroutine
	for i, in := range ins {
		got := in.got.waitLen(t, b.Timeout, fmt.Sprintf("every signal on i%d", i), total)
		inSequence(t, fmt.Sprintf("i%d", i), got, total, func(s signals.Signal) (string, int) {
			if s.Channel != "notifications" || s.Recipients.Type != signals.RecipientUser ||
				strings.Join(s.Recipients.EntityRefs, ",") != "user:default/jane,group:default/team" {
				t.Fatalf("i%d got an altered signal %+v", i, s)
			}
			m := decode(t, s)
			return fmt.Sprintf("%s/%d", m.From, m.G), m.N
		})
		if gaps := in.gaps.snapshot(); len(gaps) > 0 {
			t.Errorf("i%d reported gaps on a healthy backend: %+v", i, gaps)
		}
	}
}

// testBusLargeSignal: a signal far above 8000 bytes crosses instances.
func testBusLargeSignal(t *testing.T, b Backend) {
	a, c := newInstance(t, b, "a"), newInstance(t, b, "c")
	want := testMessage{From: "a", Pad: string(pattern(20_000))}
	if err := a.bus.Publish(t.Context(), signals.Signal{
		Recipients: signals.Broadcast(), Channel: "big", Message: want,
	}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := c.got.waitLen(t, b.Timeout, "the large signal", 1)
	if m := decode(t, got[0]); m != want || !got[0].Recipients.IsBroadcast() {
		t.Errorf("large signal arrived altered: %d-byte pad, broadcast %v", len(m.Pad), got[0].Recipients.IsBroadcast())
	}
}

// testBusRestart: an instance that closes hears nothing more; its
// replacement hears what is published after it started.
func testBusRestart(t *testing.T, b Backend) {
	a, c := newInstance(t, b, "a"), newInstance(t, b, "c")
	publish := func(n int) {
		t.Helper()
		if err := a.bus.Publish(t.Context(), signals.Signal{
			Recipients: signals.Broadcast(), Channel: "c", Message: testMessage{From: "a", N: n},
		}); err != nil {
			t.Fatalf("Publish %d: %v", n, err)
		}
	}
	publish(0)
	c.got.waitLen(t, b.Timeout, "signal 0", 1)
	if err := c.bus.Close(); err != nil {
		t.Fatalf("Bus.Close: %v", err)
	}
	if err := c.bus.Publish(t.Context(), signals.Signal{
		Recipients: signals.Broadcast(), Channel: "c", Message: testMessage{},
	}); !errors.Is(err, signals.ErrClosed) {
		t.Errorf("Publish on a closed Bus = %v, want ErrClosed", err)
	}
	before := len(c.got.snapshot())
	publish(1)
	restarted := newInstance(t, b, "c") // same id, new run
	publish(2)
	got := restarted.got.waitFor(t, b.Timeout, "signal 2 on the restarted instance", func(s []signals.Signal) bool {
		return len(s) > 0 && decode(t, s[len(s)-1]).N == 2
	})
	for _, s := range got {
		if decode(t, s).N == 0 {
			t.Errorf("restarted instance got signal 0, published before it started")
		}
	}
	a.got.waitLen(t, b.Timeout, "a's own signals", 3)
	if after := len(c.got.snapshot()); after != before {
		t.Errorf("closed Bus delivered %d more signals", after-before)
	}
}
