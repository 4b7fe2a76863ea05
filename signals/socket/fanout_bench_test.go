//go:build unix

package socket_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/socket"
)

// BenchmarkWebSocketFanout broadcasts one signal per iteration through the
// Hub to 1,000 or 10,000 real WebSocket connections of one httptest
// server, each a distinct user subscribed to "notifications", and reports
//
//   - publish-µs: the median time for Hub.Publish to return, which is what
//     DESIGN.md's "does not block senders" promises (publish-max-µs is the
//     slowest one);
//   - all-delivered-ms: the median time from the call to Publish until
//     every reading client has read the frame.
//
// allocs/op counts the whole process: the Hub, every server connection's
// write and every client's read of one broadcast.
//
// The stalled variants add 1% of clients that stop reading after setup. So
// that their pile-up happens within a short run rather than after
// thousands of iterations, each has a small receive buffer and is first
// sent a 4 MiB frame on a channel only the stalled clients subscribe to:
// its server writer is then blocked from the first iteration, its Hub
// buffer fills one delivery per iteration, and after DefaultBufferSize
// iterations the Hub drops it as slow (counted as slow-drops). Run with
// more iterations than that, e.g. -benchtime=100x, to see the drops.
//
// Nothing here asserts timing; the figures are for reading.
func BenchmarkWebSocketFanout(b *testing.B) {
	for _, bc := range []struct{ conns, stalled int }{
		{1_000, 0},
		{10_000, 0},
		{1_000, 10},
		{10_000, 100},
	} {
		name := fmt.Sprintf("conns=%d", bc.conns)
		if bc.stalled > 0 {
			name += fmt.Sprintf("/stalled=%d", bc.stalled)
		}
		b.Run(name, func(b *testing.B) {
			raiseFileLimit(b, 2*bc.conns+512) // a client and a server fd per connection
			f := setupFanout(b, bc.conns, bc.stalled)
			s := broadcast("notifications", map[string]string{
				"action": "new_notification", "notification_id": "0198c3a4-6d2e-7c1a-9a51-3f0b3f6c2d11",
			})
			readers := bc.conns - bc.stalled
			live := f.hub.Len()
			var publish, delivered []time.Duration

			b.ReportAllocs()
			for b.Loop() {
				f.remaining.Store(int64(readers))
				start := time.Now()
				err := f.hub.Publish(context.Background(), s)
				published := time.Now()
				if err != nil {
					b.Fatalf("Publish: %v", err)
				}
				last := f.wait(b)
				publish = append(publish, published.Sub(start))
				delivered = append(delivered, last.Sub(start))
			}
			b.StopTimer()

			b.ReportMetric(median(publish).Seconds()*1e6, "publish-µs")
			b.ReportMetric(slices.Max(publish).Seconds()*1e6, "publish-max-µs")
			b.ReportMetric(median(delivered).Seconds()*1e3, "all-delivered-ms")
			if bc.stalled > 0 {
				b.ReportMetric(float64(f.slowDrops.Load()), "slow-drops")
			}
			if gone := live - f.hub.Len(); gone > bc.stalled {
				b.Fatalf("%d connections left the Hub, more than the %d stalled ones", gone, bc.stalled)
			}
		})
	}
}

// fanout is one benchmark's server and clients. Reading clients count
// each frame they read down from remaining; the one that reaches zero
// sends the time on last.
type fanout struct {
	hub       *signals.Hub
	remaining atomic.Int64
	last      chan time.Time
	failed    chan error
	closing   atomic.Bool
	slowDrops atomic.Int64 // subscribers the Hub dropped as slow
}

// setupFanout starts a server and dials conns clients to it, 64 at a time,
// all subscribed to "notifications"; the first stalled of them stop
// reading once setup is done, with a 4 MiB frame stuck on the way to them.
// Everything is torn down in b.Cleanup.
func setupFanout(b *testing.B, conns, stalled int) *fanout {
	b.Helper()
	f := &fanout{last: make(chan time.Time, 1), failed: make(chan error, 1)}
	f.hub = signals.NewHub(signals.HubConfig{Logger: slog.New(countHandler{&f.slowDrops})})
	h, err := socket.New(socket.Config{Hub: f.hub, Authenticator: benchAuthenticate})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", h))
	srv := httptest.NewServer(mux)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/signals"

	// Transports of their own, so nothing is shared with other tests; a
	// stalled client's small receive buffer makes its server writer block
	// after a few KiB instead of megabytes.
	readingClient := &http.Client{Transport: &http.Transport{}}
	stalledClient := &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext,
	}}

	ws := make([]*websocket.Conn, conns)
	var readers sync.WaitGroup
	b.Cleanup(func() {
		f.closing.Store(true)
		for _, c := range ws {
			if c != nil {
				_ = c.CloseNow()
			}
		}
		readers.Wait()
		_ = h.Close()
		srv.Close()
		f.hub.Close()
		readingClient.CloseIdleConnections()
		stalledClient.CloseIdleConnections()
	})

	// Dial with at most 64 handshakes in flight; each client reads in the
	// background from the start, so its Ping below gets its pong and the
	// subscription is in place when dialing returns.
	next := make(chan int)
	errs := make(chan error, 64)
	var dialers sync.WaitGroup
	for range 64 {
		dialers.Go(func() {
			for i := range next {
				hc, channels := readingClient, []string{"notifications"}
				if i < stalled {
					hc, channels = stalledClient, []string{"notifications", "backlog"}
				}
				c, err := dialSubscribed(url, fmt.Sprintf("bench-%05d", i), hc, channels, func(c *websocket.Conn) {
					ws[i] = c
					readers.Go(func() { f.read(c, i < stalled) })
				})
				if err != nil {
					if c != nil {
						_ = c.CloseNow()
					}
					select {
					case errs <- fmt.Errorf("client %d: %w", i, err):
					default:
					}
				}
			}
		})
	}
	var dialErr error
dial:
	for i := range conns {
		select {
		case next <- i:
		case dialErr = <-errs:
			break dial
		}
	}
	close(next)
	dialers.Wait()
	if dialErr == nil {
		select {
		case dialErr = <-errs:
		default:
		}
	}
	if dialErr != nil {
		b.Fatal(dialErr)
	}

	// A first broadcast reaches every client, stalled ones included; it is
	// the last frame a stalled client reads.
	f.remaining.Store(int64(conns))
	if err := f.hub.Publish(context.Background(), broadcast("notifications", map[string]bool{"warmup": true})); err != nil {
		b.Fatalf("Publish: %v", err)
	}
	f.wait(b)
	if stalled > 0 {
		pad := strings.Repeat("x", 4<<20)
		if err := f.hub.Publish(context.Background(), broadcast("backlog", map[string]string{"pad": pad})); err != nil {
			b.Fatalf("Publish: %v", err)
		}
	}
	if n := f.hub.Len(); n != conns {
		b.Fatalf("the Hub has %d subscribers, want %d", n, conns)
	}
	return f
}

// dialSubscribed connects with token, hands the connection to started
// (which must start reading it), subscribes to channels and waits until the
// server has applied the subscriptions.
func dialSubscribed(url, token string, hc *http.Client, channels []string, started func(*websocket.Conn)) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{token}, HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("dial: %w (%s)", err, statusOf(resp))
	}
	started(c)
	for _, ch := range channels {
		if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"action":"subscribe","channel":%q}`, ch)); err != nil {
			return c, fmt.Errorf("subscribe: %w", err)
		}
	}
	// The server reads frames in order, so its pong follows the subscribes.
	if err := c.Ping(ctx); err != nil {
		return c, fmt.Errorf("ping: %w", err)
	}
	return c, nil
}

// read counts the frames of one client until the connection closes or, for
// a stalled client, until its first frame; after that the connection stays
// open and nothing reads it.
func (f *fanout) read(c *websocket.Conn, stall bool) {
	prefix := []byte(`{"channel":"notifications",`)
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			if !f.closing.Load() {
				f.fail(fmt.Errorf("read: %w", err))
			}
			return
		}
		if !bytes.HasPrefix(data, prefix) {
			f.fail(fmt.Errorf("unexpected frame %.80s", data))
			return
		}
		if f.remaining.Add(-1) == 0 {
			f.last <- time.Now()
		}
		if stall {
			return
		}
	}
}

func (f *fanout) fail(err error) {
	select {
	case f.failed <- err:
	default:
	}
}

// wait returns when the last client counted down remaining.
func (f *fanout) wait(b *testing.B) time.Time {
	b.Helper()
	select {
	case t := <-f.last:
		return t
	case err := <-f.failed:
		b.Fatal(err)
	case <-time.After(timeout):
		b.Fatalf("%d clients did not get the frame", f.remaining.Load())
	}
	return time.Time{}
}

// benchAuthenticate makes every token a user of its own.
var benchAuthenticate = auth.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
	name, ok := strings.CutPrefix(token, "bench-")
	if !ok {
		return auth.Principal{}, fmt.Errorf("unknown token: %w", auth.ErrUnauthenticated)
	}
	ref := "user:default/" + name
	return auth.Principal{Kind: auth.PrincipalUser, User: ref, OwnershipRefs: []string{ref}}, nil
})

// smallReceiveBuffer is a net.Dialer Control that sets the socket's receive
// buffer to the minimum before it connects, so the window stays small.
func smallReceiveBuffer(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}

// countHandler counts the Hub's warnings, which it logs only for the
// subscribers it drops as slow.
type countHandler struct{ n *atomic.Int64 }

func (h countHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h countHandler) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h countHandler) WithGroup(string) slog.Handler                { return h }

// raiseFileLimit makes sure the process may open need files, raising the
// limit if it has to, and skips the benchmark if it cannot.
func raiseFileLimit(b *testing.B, need int) {
	b.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("cannot read the open file limit: %v", err)
	}
	was := fmt.Sprintf("soft %v, hard %v", lim.Cur, lim.Max)
	if !raise(&lim.Cur, &lim.Max, need) {
		return
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("needs %d open files (two per connection plus slack) but the limit is %s and cannot be raised: %v; "+
			"raise ulimit -n (the hard limit needs CAP_SYS_RESOURCE)", need, was, err)
	}
}

// raise sets *cur, and *hi when it is lower, to need, and reports whether
// it changed anything. It is generic because Rlimit's fields are uint64 on
// some systems and int64 on others.
func raise[T int64 | uint64](cur, hi *T, need int) bool {
	n := T(need)
	if *cur >= n {
		return false
	}
	*cur = n
	if *hi < n {
		*hi = n
	}
	return true
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
