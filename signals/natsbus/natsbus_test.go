package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/natsbus"
	"github.com/heraldhq/herald/signals/signalstest"
)

const (
	urlEnv = "HERALD_TEST_NATS_URL"
	wait   = 15 * time.Second
)

func uniqueSubject() string { return signalstest.UniqueName("herald.test.") }

// testServer is an in-process NATS server that can be restarted on its
// port.
type testServer struct {
	tb        testing.TB
	opts      server.Options
	clientURL string

	mu sync.Mutex
	s  *server.Server
}

func startServer(tb testing.TB, configure ...func(*server.Options)) *testServer {
	tb.Helper()
	ts := &testServer{tb: tb, opts: server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true}}
	for _, c := range configure {
		c(&ts.opts)
	}
	ts.start()
	ts.opts.Port = ts.s.Addr().(*net.TCPAddr).Port // restarts reuse it
	ts.clientURL = ts.s.ClientURL()
	tb.Cleanup(ts.shutdown)
	return ts
}

func (ts *testServer) start() {
	ts.tb.Helper()
	opts := ts.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		ts.tb.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		ts.tb.Fatal("nats server did not start")
	}
	ts.mu.Lock()
	ts.s = s
	ts.mu.Unlock()
}

func (ts *testServer) shutdown() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.s.Shutdown()
	ts.s.WaitForShutdown()
}

// restart shuts the server down and starts a new one on the same port.
func (ts *testServer) restart() {
	ts.tb.Helper()
	ts.shutdown()
	ts.start()
}

func (ts *testServer) url() string { return ts.clientURL }

func open(tb testing.TB, cfg natsbus.Config) *natsbus.Transport {
	tb.Helper()
	// Reconnect quickly to the restarted test server.
	cfg.Options = append([]nats.Option{nats.ReconnectWait(10 * time.Millisecond), nats.ReconnectJitter(0, 0)}, cfg.Options...)
	tr, err := natsbus.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("natsbus.New: %v", err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

func TestConformance(t *testing.T) {
	t.Parallel()
	signalstest.RunTransportTests(t, func(t *testing.T) signalstest.Backend {
		ts := startServer(t)
		return signalstest.Backend{
			OpenFunc:      func(t *testing.T) signals.Transport { return open(t, natsbus.Config{URL: ts.url()}) },
			InterruptFunc: func(t *testing.T) { ts.restart() },
		}
	})
}

func TestConformanceRealServer(t *testing.T) {
	t.Parallel()
	url := signalstest.BackendFromEnv(t, urlEnv)
	signalstest.RunTransportTests(t, func(t *testing.T) signalstest.Backend {
		subject := uniqueSubject()
		return signalstest.Backend{
			OpenFunc: func(t *testing.T) signals.Transport { return open(t, natsbus.Config{URL: url, Subject: subject}) },
		}
	})
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  natsbus.Config
		want string
	}{
		{"no URL", natsbus.Config{}, "URL is required"},
		{"wildcard subject", natsbus.Config{URL: "nats://127.0.0.1:1", Subject: "herald.*"}, "not a literal"},
		{"empty token", natsbus.Config{URL: "nats://127.0.0.1:1", Subject: "herald..signals"}, "not a literal"},
		{"space", natsbus.Config{URL: "nats://127.0.0.1:1", Subject: "herald signals"}, "not a literal"},
		{"no server", natsbus.Config{URL: "nats://127.0.0.1:1"}, "connect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, err := natsbus.New(t.Context(), tc.cfg)
			if err == nil {
				tr.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestSizeLimitFollowsServer checks that the limit is the server's
// max_payload, with a clear error above it, and that the connection
// survives the refusal.
func TestSizeLimitFollowsServer(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *server.Options) { o.MaxPayload = 16 << 10 })
	tr := open(t, natsbus.Config{URL: ts.url()})
	if got := tr.MaxMessageSize(); got != 16<<10 {
		t.Fatalf("MaxMessageSize() = %d, want the server's 16384", got)
	}
	err := tr.Send(t.Context(), make([]byte, 16<<10+1))
	if !errors.Is(err, signals.ErrTooLarge) || !strings.Contains(err.Error(), "max_payload is 16384") {
		t.Errorf("Send(16385 bytes) = %v, want ErrTooLarge naming the limit", err)
	}
	if err := tr.Send(t.Context(), make([]byte, 16<<10)); err != nil {
		t.Errorf("Send(16384 bytes) after the refusal: %v", err)
	}
}

// TestOptionsHandlersStillRun checks that handlers a host sets through
// Config.Options are chained, not replaced.
func TestOptionsHandlersStillRun(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	disconnected, reconnected := make(chan struct{}, 1), make(chan struct{}, 1)
	open(t, natsbus.Config{URL: ts.url(), Options: []nats.Option{
		nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnected <- struct{}{} }),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }),
	}})
	ts.restart()
	for name, c := range map[string]chan struct{}{"disconnect": disconnected, "reconnect": reconnected} {
		select {
		case <-c:
		case <-time.After(wait):
			t.Errorf("the host's %s handler did not run", name)
		}
	}
}

// TestReconnect restarts the server under two instances: each reports the
// gap once, with the disconnection's time and cause, and signals flow
// again.
func TestReconnect(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	a := signalstest.NewNode(t, open(t, natsbus.Config{URL: ts.url()}))
	b := signalstest.NewNode(t, open(t, natsbus.Config{URL: ts.url()}))
	a.Publish(t, 1)
	b.NextMessage(t, "signal 1 on b")
	a.NextMessage(t, "signal 1 on a")

	restarted := time.Now()
	ts.restart()
	for name, n := range map[string]*signalstest.Node{"a": a, "b": b} {
		g := signalstest.Receive(t, n.Gaps, "the gap report on "+name)
		if g.Err == nil || g.Since.IsZero() || g.Since.After(g.Until) || g.Until.Before(restarted) || g.Origin != "" {
			t.Errorf("%s: gap = %+v, want a lost connection with its cause and times", name, g)
		}
	}
	a.Publish(t, 2)
	b.Publish(t, 3)
	for name, n := range map[string]*signalstest.Node{"a": a, "b": b} {
		got := []string{n.NextMessage(t, "a signal after the restart on "+name), n.NextMessage(t, "a signal after the restart on "+name)}
		slices.Sort(got)
		if fmt.Sprint(got) != `[{"n":2} {"n":3}]` {
			t.Errorf("%s got %v after the restart, want signals 2 and 3", name, got)
		}
		n.NoMoreGaps(t)
	}
}

// BenchmarkLatency measures the time from Publish on one instance to the
// delivery to another instance's local Publisher, one signal at a time, on
// an in-process server and, when HERALD_TEST_NATS_URL is set, a real one.
func BenchmarkLatency(b *testing.B) {
	servers := map[string]string{"in-process": startServer(b).url()}
	if url := os.Getenv(urlEnv); url != "" {
		servers["real"] = url
	}
	for name, url := range servers {
		for _, size := range []int{100, 20_000} {
			b.Run(fmt.Sprintf("server=%s/message=%dB", name, size), func(b *testing.B) {
				subject := uniqueSubject()
				signalstest.BenchmarkLatency(b, func(b *testing.B) signals.Transport {
					return open(b, natsbus.Config{URL: url, Subject: subject})
				}, size)
			})
		}
	}
}

type blockingHandler struct {
	release chan struct{}
	gaps    chan signals.Gap
	once    sync.Once
}

func (h *blockingHandler) HandleMessage([]byte)    { h.once.Do(func() { <-h.release }) }
func (h *blockingHandler) HandleGap(g signals.Gap) { h.gaps <- g }

// TestSlowConsumerReportsGap stalls a subscriber until the client drops
// messages for it (past its pending limit, 2 MiB here) and checks the gap
// report.
func TestSlowConsumerReportsGap(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *server.Options) { o.MaxPending = 1 << 30 }) // the client, not the server, gives up
	logs := signalstest.NewLogRecorder(slog.LevelWarn)
	tr := open(t, natsbus.Config{URL: ts.url(), PendingBytes: 2 << 20, Logger: logs.Logger()})
	h := &blockingHandler{release: make(chan struct{}), gaps: make(chan signals.Gap, 10)}
	if _, err := tr.Subscribe(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, tr.MaxMessageSize())
	for range 8 { // 8 MB
		if err := tr.Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	// Release the handler only once the client has dropped messages: a
	// handler released earlier may keep up and nothing would be dropped.
	logs.WaitFor(t, "natsbus: slow consumer; messages dropped")
	close(h.release)
	g := signalstest.Receive(t, h.gaps, "the slow-consumer gap")
	if !errors.Is(g.Err, nats.ErrSlowConsumer) {
		t.Errorf("gap = %+v, want nats.ErrSlowConsumer", g)
	}
}
