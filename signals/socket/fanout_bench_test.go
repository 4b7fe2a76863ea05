//go:build unix

package socket_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
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
// server, each a distinct user subscribed to "notifications". The clients
// run in a child process (this test binary again, as
// TestFanoutClientProcess), so each side stays under the open-file limit
// and the server's figures are its own. It reports
//
//   - publish-µs and publish-p99-µs: the median and 99th percentile time
//     for Hub.Publish to return, which is what DESIGN.md's "does not block
//     senders" promises (publish-max-µs is the slowest one);
//   - all-delivered-ms and all-delivered-p99-ms: the time from the call to
//     Publish until every reading client has read the frame (stamped by
//     the child with the system clock both processes share);
//   - server-cpu-ms/op and clients-cpu-ms/op: the CPU time (user and
//     system) the server process and the client process spent per
//     broadcast (Linux): on a machine whose cores both share, their sum
//     over the number of cores bounds how soon the last client can hold
//     the frame, whatever else runs;
//   - idle-KiB/conn: how much the server process's Go memory (heap and
//     goroutine stacks) grew per connection once all were open and
//     subscribed, before any broadcast. Kernel socket buffers are not
//     counted: they are not the process's.
//   - idle-rss-KiB/conn: the same growth measured as the process's
//     resident set size (Linux), after a collection that returns freed
//     memory to the system, so it counts what the process really holds:
//     heap, stacks, and the runtime's metadata for them. The client
//     process's memory is not in it.
//
// allocs/op counts the server process only: the Hub and every server
// connection's write of one broadcast.
//
// The stalled variants add 1% of clients that stop reading after setup. So
// that their pile-up happens within a short run rather than after
// thousands of iterations, each has a small receive buffer and is first
// sent a 4 MiB frame on a channel only the stalled clients subscribe to:
// its server writer is then blocked from the first iteration, its Hub
// buffer fills one event per iteration, and after DefaultBufferSize
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
			raiseFileLimit(b, bc.conns+512) // a server fd per connection
			f := setupFanout(b, bc.conns, bc.stalled)
			live := f.hub.Len()
			var publish, delivered []time.Duration

			b.ReportAllocs()
			n := 0
			serverCPU, clientCPU := processCPU(os.Getpid()), processCPU(f.clients.pid)
			for b.Loop() {
				n++
				s := broadcast("notifications", map[string]any{
					"action": "new_notification", "notification_id": "0198c3a4-6d2e-7c1a-9a51-3f0b3f6c2d11", "n": n,
				})
				start := time.Now()
				err := f.hub.Publish(context.Background(), s)
				published := time.Now()
				if err != nil {
					b.Fatalf("Publish: %v", err)
				}
				last := f.clients.waitAll(b, n)
				publish = append(publish, published.Sub(start))
				delivered = append(delivered, last.Sub(start))
			}
			b.StopTimer()
			serverCPU, clientCPU = processCPU(os.Getpid())-serverCPU, processCPU(f.clients.pid)-clientCPU

			if serverCPU >= 0 && clientCPU >= 0 {
				b.ReportMetric(serverCPU.Seconds()*1e3/float64(n), "server-cpu-ms/op")
				b.ReportMetric(clientCPU.Seconds()*1e3/float64(n), "clients-cpu-ms/op")
			}
			b.ReportMetric(quantile(publish, 0.5).Seconds()*1e6, "publish-µs")
			b.ReportMetric(quantile(publish, 0.99).Seconds()*1e6, "publish-p99-µs")
			b.ReportMetric(slices.Max(publish).Seconds()*1e6, "publish-max-µs")
			b.ReportMetric(quantile(delivered, 0.5).Seconds()*1e3, "all-delivered-ms")
			b.ReportMetric(quantile(delivered, 0.99).Seconds()*1e3, "all-delivered-p99-ms")
			b.ReportMetric(f.idlePerConn/1024, "idle-KiB/conn")
			if f.idleRSS > 0 {
				b.ReportMetric(f.idleRSS/1024, "idle-rss-KiB/conn")
			}
			if bc.stalled > 0 {
				b.ReportMetric(float64(f.slowDrops.Load()), "slow-drops")
			}
			if gone := live - f.hub.Len(); gone > bc.stalled {
				b.Fatalf("%d connections left the Hub, more than the %d stalled ones", gone, bc.stalled)
			}
		})
	}
}

// fanout is one benchmark's server and its client process.
type fanout struct {
	hub         *signals.Hub
	clients     *clientProcess
	slowDrops   atomic.Int64 // subscribers the Hub dropped as slow
	idlePerConn float64      // bytes of server Go memory per open, idle connection
	idleRSS     float64      // bytes of server RSS per open, idle connection; 0 if unknown
}

// setupFanout starts a server and a child process that dials conns
// clients to it, all subscribed to "notifications"; the first stalled of
// them stop reading once setup is done, with a 4 MiB frame stuck on the
// way to them. Everything is torn down in b.Cleanup.
func setupFanout(b *testing.B, conns, stalled int) *fanout {
	b.Helper()
	f := &fanout{}
	f.hub = signals.NewHub(signals.HubConfig{Logger: slog.New(countHandler{&f.slowDrops})})
	h, err := socket.New(socket.Config{Hub: f.hub, Authenticator: benchAuthenticate})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", h))
	srv := httptest.NewServer(mux)
	b.Cleanup(func() {
		_ = h.Close()
		srv.Close()
		f.hub.Close()
	})

	before, rssBefore := goMemory(), residentSize()
	f.clients = startClients(b, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/signals", conns, stalled)
	if n := f.hub.Len(); n != conns {
		b.Fatalf("the Hub has %d subscribers, want %d", n, conns)
	}
	f.idlePerConn = float64(goMemory()-before) / float64(conns)
	if rss := residentSize(); rss > 0 && rssBefore > 0 {
		f.idleRSS = float64(rss-rssBefore) / float64(conns)
	}

	// A first broadcast (n 0) reaches every client, stalled ones included;
	// it is the last frame a stalled client reads.
	if err := f.hub.Publish(context.Background(), broadcast("notifications", map[string]any{"warmup": true, "n": 0})); err != nil {
		b.Fatalf("Publish: %v", err)
	}
	f.clients.waitAll(b, 0)
	if stalled > 0 {
		pad := strings.Repeat("x", 4<<20)
		if err := f.hub.Publish(context.Background(), broadcast("backlog", map[string]string{"pad": pad})); err != nil {
			b.Fatalf("Publish: %v", err)
		}
	}
	return f
}

// goMemory is what this process's Go runtime holds after a collection:
// live heap spans and goroutine stacks. Unlike the resident set size it
// goes down when memory is freed, so a difference between two readings is
// what was allocated in between, whatever ran before.
func goMemory() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// processCPU is the user and system CPU time process pid has used, from
// /proc/PID/stat, or -1 where it cannot be read.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis, where utime and stime are the 12th
	// and 13th (fields 14 and 15 of proc(5)).
	i := strings.LastIndexByte(string(b), ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const userHZ = 100 // the unit of /proc/PID/stat's times on Linux
	return time.Duration(utime+stime) * time.Second / userHZ
}

// residentSize is this process's resident set size after a collection
// that returns what it freed to the system, or 0 where /proc/self/statm
// cannot be read.
func residentSize() int64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// The client process: the benchmark starts this test binary again with
// these variables set, running only TestFanoutClientProcess.
const (
	clientURLEnv     = "HERALD_FANOUT_URL"
	clientConnsEnv   = "HERALD_FANOUT_CONNS"
	clientStalledEnv = "HERALD_FANOUT_STALLED"
)

// clientProcess is the benchmark's side of the child: it reads the
// child's report lines, "ready" once every client is subscribed, then
// "got N UNIXNANO" when the last reading client has read frame N.
type clientProcess struct {
	pid    int
	got    chan clientReport
	failed chan error
}

type clientReport struct {
	n  int
	at time.Time
}

func startClients(b *testing.B, url string, conns, stalled int) *clientProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFanoutClientProcess$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), clientURLEnv+"="+url,
		clientConnsEnv+"="+strconv.Itoa(conns), clientStalledEnv+"="+strconv.Itoa(stalled))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the client process: %v", err)
	}
	p := &clientProcess{pid: cmd.Process.Pid, got: make(chan clientReport, 16), failed: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			var r clientReport
			var nanos int64
			switch {
			case line == "ready":
				close(ready)
			case fmtSscan(line, &r.n, &nanos):
				r.at = time.Unix(0, nanos)
				p.got <- r
			case strings.HasPrefix(line, "PASS"), strings.HasPrefix(line, "ok"), line == "":
			default:
				p.fail(fmt.Errorf("client process: %s", line))
			}
		}
		p.fail(errors.New("client process: its output ended"))
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	select {
	case <-ready:
	case err := <-p.failed:
		b.Fatal(err)
	case <-time.After(4 * timeout):
		b.Fatal("the client process did not get ready")
	}
	return p
}

func fmtSscan(line string, n *int, nanos *int64) bool {
	_, err := fmt.Sscanf(line, "got %d %d", n, nanos)
	return err == nil
}

func (p *clientProcess) fail(err error) {
	select {
	case p.failed <- err:
	default:
	}
}

// waitAll returns when every reading client has read frame n.
func (p *clientProcess) waitAll(b *testing.B, n int) time.Time {
	b.Helper()
	for {
		select {
		case r := <-p.got:
			if r.n == n {
				return r.at
			}
		case err := <-p.failed:
			b.Fatal(err)
		case <-time.After(timeout):
			b.Fatalf("the clients did not all get frame %d", n)
		}
	}
}

// TestFanoutClientProcess is BenchmarkWebSocketFanout's client process;
// run on its own, it skips. It dials the clients, 64 handshakes at a time,
// each reading in the background from the start so its Ping gets its pong
// and the subscription is in place when dialing returns; then it reports
// on stdout (see clientProcess) until interrupted.
func TestFanoutClientProcess(t *testing.T) {
	url := os.Getenv(clientURLEnv)
	if url == "" {
		t.Skip("run by BenchmarkWebSocketFanout in a child process")
	}
	conns, _ := strconv.Atoi(os.Getenv(clientConnsEnv))
	stalled, _ := strconv.Atoi(os.Getenv(clientStalledEnv))
	raiseFileLimit(t, conns+512)

	// Transports of their own; a stalled client's small receive buffer
	// makes its server writer block after a few KiB instead of megabytes.
	readingClient := &http.Client{Transport: &http.Transport{}}
	stalledClient := &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{Control: smallReceiveBuffer}).DialContext,
	}}
	counts := newFrameCounter(conns, conns-stalled)
	var closing atomic.Bool
	fail := func(err error) {
		if !closing.Load() {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}

	ws := make([]*websocket.Conn, conns)
	var readers sync.WaitGroup
	next := make(chan int)
	var dialers sync.WaitGroup
	for range 64 {
		dialers.Go(func() {
			for i := range next {
				hc, channels := readingClient, []string{"notifications"}
				if i < stalled {
					hc, channels = stalledClient, []string{"notifications", "backlog"}
				}
				_, err := dialSubscribed(url, fmt.Sprintf("bench-%05d", i), hc, channels, func(c *websocket.Conn) {
					ws[i] = c
					readers.Go(func() { readFrames(c, i < stalled, counts, fail) })
				})
				if err != nil {
					fail(fmt.Errorf("client %d: %w", i, err))
				}
			}
		})
	}
	for i := range conns {
		next <- i
	}
	close(next)
	dialers.Wait()
	fmt.Println("ready")

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	closing.Store(true)
	for _, c := range ws {
		if c != nil {
			_ = c.CloseNow()
		}
	}
	readers.Wait()
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

// frameCounter counts, per frame number, the clients that have read it,
// and reports a number once all of them have (the warm-up frame 0 is read
// by every client, later ones by the reading clients only).
type frameCounter struct {
	mu      sync.Mutex
	seen    map[int]int
	all     int
	readers int
}

func newFrameCounter(all, readers int) *frameCounter {
	return &frameCounter{seen: make(map[int]int), all: all, readers: readers}
}

func (fc *frameCounter) add(n int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.seen[n]++
	want := fc.readers
	if n == 0 {
		want = fc.all
	}
	if fc.seen[n] == want {
		delete(fc.seen, n)
		fmt.Printf("got %d %d\n", n, time.Now().UnixNano())
	}
}

// readFrames counts the frames of one client until the connection closes
// or, for a stalled client, until its first frame; after that the
// connection stays open and nothing reads it.
func readFrames(c *websocket.Conn, stall bool, counts *frameCounter, fail func(error)) {
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			fail(fmt.Errorf("read: %w", err))
			return
		}
		var frame struct {
			Channel string
			Message struct{ N *int }
		}
		if err := json.Unmarshal(data, &frame); err != nil || frame.Channel != "notifications" || frame.Message.N == nil {
			fail(fmt.Errorf("unexpected frame %.80s", data))
			return
		}
		counts.add(*frame.Message.N)
		if stall {
			return
		}
	}
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
func raiseFileLimit(b testing.TB, need int) {
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

// quantile returns the q-quantile of d (nearest rank), 0 when d is empty.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
