package signalstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/heraldhq/herald/signals"
)

// This file holds the helpers a transport package's own tests share
// beyond the conformance suite: the backend's address from the
// environment, unique names, simulated instances, and waiting on
// channels and logs without sleeping.

// RequireServicesEnv is the environment variable that turns a missing
// backend from a skip into a failure: CI sets it so that tests against a
// real server cannot silently stop running.
const RequireServicesEnv = "HERALD_REQUIRE_SERVICES"

// BackendFromEnv returns the value of the environment variable name, the
// address of a real backend (a DSN, a server URL). When it is unset it
// skips tb, or fails it when RequireServicesEnv is set.
func BackendFromEnv(tb testing.TB, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	switch {
	case v != "":
	case os.Getenv(RequireServicesEnv) != "":
		tb.Fatalf("%s is not set but %s is: the tests against a real backend must run", name, RequireServicesEnv)
	default:
		tb.Skipf("%s is not set; skipping the tests against a real backend", name)
	}
	return v
}

// UniqueName returns prefix followed by 16 random hex digits: a channel or
// subject of its own for one test, so tests running in parallel on one
// server do not hear each other.
func UniqueName(prefix string) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + hex.EncodeToString(b[:])
}

// Receive returns the next value of c, failing tb (what names the value)
// when none arrives within 15 seconds.
func Receive[T any](tb testing.TB, c <-chan T, what string) T {
	tb.Helper()
	timer := time.NewTimer(defaultTimeout)
	defer timer.Stop()
	select {
	case v := <-c:
		return v
	case <-timer.C:
		tb.Fatalf("timed out after %v waiting for %s", defaultTimeout, what)
		panic("unreachable")
	}
}

// Node is one simulated Herald instance for a transport's tests: a Bus on
// the transport whose local Publisher and OnGap hand what they receive to
// Signals and Gaps (each buffered for 100; a full buffer blocks the Bus's
// receiving goroutine, so drain them in tests that send more).
type Node struct {
	// Bus publishes to the other nodes on the same backend.
	Bus *signals.Bus
	// Signals receives every signal the Bus delivers locally: the node's
	// own and the other nodes'.
	Signals chan signals.Signal
	// Gaps receives every gap the Bus reports.
	Gaps chan signals.Gap
}

// NewNode starts a Bus on tr, which it then owns, and closes it at the end
// of the test.
func NewNode(tb testing.TB, tr signals.Transport) *Node {
	tb.Helper()
	n := &Node{Signals: make(chan signals.Signal, 100), Gaps: make(chan signals.Gap, 100)}
	bus, err := signals.NewBus(context.Background(), signals.BusConfig{
		Transport: tr,
		Local: signals.PublisherFunc(func(_ context.Context, s signals.Signal) error {
			n.Signals <- s
			return nil
		}),
		OnGap: func(_ context.Context, g signals.Gap) { n.Gaps <- g },
	})
	if err != nil {
		tb.Fatalf("NewBus: %v", err)
	}
	tb.Cleanup(func() { _ = bus.Close() })
	n.Bus = bus
	return n
}

// Publish broadcasts {"n": i} on channel "c", failing tb on error.
func (n *Node) Publish(tb testing.TB, i int) {
	tb.Helper()
	err := n.Bus.Publish(context.Background(), signals.Signal{Recipients: signals.Broadcast(), Channel: "c", Message: map[string]int{"n": i}})
	if err != nil {
		tb.Fatalf("Publish %d: %v", i, err)
	}
}

// NextMessage waits for the next signal delivered to the node (what names
// it) and returns its message as JSON, like {"n":1}.
func (n *Node) NextMessage(tb testing.TB, what string) string {
	tb.Helper()
	s := Receive(tb, n.Signals, what)
	raw, err := json.Marshal(s.Message)
	if err != nil {
		tb.Fatalf("%s: the message does not encode: %v", what, err)
	}
	return string(raw)
}

// NoMoreGaps fails tb if a gap report is waiting in Gaps: one outage must
// be reported once. It does not wait, so call it after something that
// follows the outage has arrived.
func (n *Node) NoMoreGaps(tb testing.TB) {
	tb.Helper()
	select {
	case g := <-n.Gaps:
		tb.Errorf("a second gap report for one outage: %+v", g)
	default:
	}
}

// LogRecorder is a slog.Handler that hands each record at or above its
// level to a channel, so a test can wait for a log line instead of
// sleeping. Records that find the channel full (100 waiting) are dropped.
type LogRecorder struct {
	level   slog.Level
	records chan slog.Record
}

var _ slog.Handler = (*LogRecorder)(nil)

// NewLogRecorder returns a LogRecorder of the records at level and above.
func NewLogRecorder(level slog.Level) *LogRecorder {
	return &LogRecorder{level: level, records: make(chan slog.Record, 100)}
}

// Logger returns a logger writing to l.
func (l *LogRecorder) Logger() *slog.Logger { return slog.New(l) }

// WaitFor returns the next record whose message is message (any record
// when message is empty), discarding the others, and fails tb when none
// arrives within 15 seconds.
func (l *LogRecorder) WaitFor(tb testing.TB, message string) slog.Record {
	tb.Helper()
	timer := time.NewTimer(defaultTimeout)
	defer timer.Stop()
	for {
		select {
		case r := <-l.records:
			if message == "" || r.Message == message {
				return r
			}
		case <-timer.C:
			tb.Fatalf("timed out after %v waiting for the log line %q", defaultTimeout, message)
		}
	}
}

// Enabled reports whether level is at or above l's level.
func (l *LogRecorder) Enabled(_ context.Context, level slog.Level) bool { return level >= l.level }

// Handle hands r to the waiting test, or drops it when the channel is full.
func (l *LogRecorder) Handle(_ context.Context, r slog.Record) error {
	select {
	case l.records <- r.Clone():
	default:
	}
	return nil
}

// WithAttrs returns l: attributes are not recorded.
func (l *LogRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup returns l: groups are not recorded.
func (l *LogRecorder) WithGroup(string) slog.Handler { return l }
