//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/heraldhq/herald/internal/testdb"
)

// serverInbox is BenchmarkServer's inbox: 10,000 for the list user, half
// of them broadcasts, interleaved in time; odd notifications and even
// broadcasts are read, and a few percent are archived or snoozed (see
// state and statusState), so about 4,800 are unread and visible.
var serverInbox = inbox{Users: 2, Rows: 5_000, Heavy: 0, Broadcasts: 5_000}

const (
	serverServiceToken = "bench-service-token"
	serverUserToken    = "bench-user-token"
	// serverClients is how many clients send at once, each on its own
	// keep-alive connection.
	serverClients = 8
	// serverBlock/4 requests to each side warm up a kind; the time
	// Herald takes over them sizes the kind's turns to about serverTurn
	// of wall time (on PostgreSQL most of a list's is the database's).
	serverBlock = 400
	serverTurn  = 300 * time.Millisecond
	// serverCold is how many requests after a start count as cold.
	serverCold = 1000
)

// sendTarget receives the benchmark's one-user sends: not the list user,
// whose inbox stays as seeded.
var sendTarget = userRef(2)

// serverRequest is one kind of request BenchmarkServer sends.
type serverRequest struct {
	name   string
	method string
	path   string
	token  string
	body   []byte
}

var serverRequests = []serverRequest{
	{"send", http.MethodPost, "/api/notifications/notifications", serverServiceToken,
		[]byte(`{"recipients":{"type":"entity","entityRef":"` + sendTarget + `"},` +
			`"payload":{"title":"Build failed","description":"main is red","link":"/ci/builds/1","severity":"high","topic":"builds"}}`)},
	{"list", http.MethodGet, "/api/notifications/notifications?limit=20&read=false", serverUserToken, nil},
	{"status", http.MethodGet, "/api/notifications/status", serverUserToken, nil},
	// Broadcasts come last: each one grows the list user's inbox.
	{"broadcast", http.MethodPost, "/api/notifications/notifications", serverServiceToken,
		[]byte(`{"recipients":{"type":"broadcast"},` +
			`"payload":{"title":"Maintenance tonight","description":"CI is down from 22:00","severity":"normal","topic":"ops"}}`)},
}

// BenchmarkServer drives the real HTTP stack over loopback: the
// examples/server binary (authentication, JSON, validation, store,
// signals), each in a process of its own, against the HTTP floor (see
// TestServerFloorProcess), on SQLite and, with HERALD_TEST_POSTGRES_DSN
// set, on PostgreSQL. Both servers get a fresh database holding
// serverInbox, seeded before they start.
//
// For each request kind (send to one user, list a page of 20 unread,
// status, broadcast) serverClients clients send a turn of requests to
// one server (about serverTurn of Herald's wall time), then as many to
// the other, the order swapped every turn,
// so both see the same load from the rest of the machine. What is
// measured is the server process's CPU time (user and system), not wall
// time, since the clients share the cores:
//
//   - µs/req and floor-µs/req: server CPU per request, utime+stime from
//     /proc/PID/stat over the kind's timed phase;
//   - x-floor: the median over the turns of the floor's CPU per request
//     over Herald's (1.0 = as cheap as the floor), from the process CPU
//     clock (nanoseconds), each side's turn charged with everything its
//     process spent until its next turn (work finishing after the
//     responses, a collection it set off);
//   - rss-MiB and floor-rss-MiB: the server's resident set at the end
//     of the kind.
//
// BenchmarkServer/DB/cold runs first, on servers that have just started:
// it reports the first serverCold sends (cold-µs/req, floor-cold-µs/req)
// and the next serverCold (µs/req, floor-µs/req), and the RSS once the
// servers opened the seeded database, before any request (start-rss-MiB,
// floor-start-rss-MiB).
//
// An op is one turn of each side; ns/op is wall time and says little.
func BenchmarkServer(b *testing.B) {
	bin := heraldServerBinary(b)
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			b.Run("cold", func(b *testing.B) { benchCold(b, bin, db) })
			herald, floor := startServers(b, bin, db)
			benchServers(b, herald, floor)
		})
	}
}

// startServers seeds two fresh databases of kind db ("sqlite" or
// "postgres", which skips without HERALD_TEST_POSTGRES_DSN) with
// serverInbox and starts examples/server on one and the floor server on
// the other.
func startServers(tb testing.TB, bin, db string, env ...string) (herald, floor *serverProcess) {
	tb.Helper()
	ctx := context.Background()
	if db == "sqlite" {
		dir := tb.TempDir()
		h, f := filepath.Join(dir, "herald.db"), filepath.Join(dir, "floor.db")
		for _, p := range []string{h, f} {
			if err := seedSQLite(ctx, p, serverInbox); err != nil {
				tb.Fatal(err)
			}
		}
		dropTriggers(tb, "sqlite", sqliteDSN(f))
		return startHerald(tb, bin, env, "-db", h), startFloor(tb, env, "sqlite:"+f)
	}
	h, f := testdb.PostgresSchema(tb), testdb.PostgresSchema(tb)
	for _, dsn := range []string{h, f} {
		if _, err := seedPostgres(ctx, dsn, serverInbox); err != nil {
			tb.Fatal(err)
		}
	}
	dropTriggers(tb, "pgx", f)
	return startHerald(tb, bin, env, "-postgres", h), startFloor(tb, env, "postgres:"+f)
}

// dropTriggers drops the triggers of the floor's database, seeded with
// Herald's schema: they keep Herald's inbox counters (migration
// 20261206000001), which a plain handler does not keep (it counts on
// every read instead), so the floor's writes must not pay for them.
// What they cost Herald shows in the ratio.
func dropTriggers(tb testing.TB, driver, dsn string) {
	tb.Helper()
	ctx := context.Background()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	list := `SELECT name || ' ON ' || tbl_name FROM sqlite_master WHERE type = 'trigger'`
	drop := "DROP TRIGGER "
	if driver == "pgx" {
		list = `SELECT quote_ident(t.tgname) || ' ON ' || quote_ident(c.relname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid ` +
			`WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace`
	}
	triggers, err := queryStrings(ctx, db, list)
	if err != nil || len(triggers) == 0 {
		tb.Fatalf("the floor's triggers: %q, %v", triggers, err)
	}
	for _, t := range triggers {
		if driver != "pgx" {
			t, _, _ = strings.Cut(t, " ON ") // SQLite's DROP TRIGGER names no table
		}
		if _, err := db.ExecContext(ctx, drop+t); err != nil {
			tb.Fatalf("%s%s: %v", drop, t, err)
		}
	}
}

// coldStarts is how many times BenchmarkServer/DB/cold starts both
// servers afresh.
const coldStarts = 5

// benchCold starts both servers coldStarts times, each time on freshly
// seeded databases, and sends each serverCold sends and then serverCold
// more, reporting the medians: server CPU per request (cold-µs/req,
// µs/req and the floor's) and the request rate over the wall clock
// (cold-req/s, req/s and the floor's), which shows what CPU time does
// not (waiting on locks, on the disk, for connections to open); the
// garbage collections each phase ran (cold-gcs, gcs: the servers run with
// GODEBUG=gctrace=1 and the lines are counted) and the minor page faults
// per request (cold-faults/req, faults/req: memory touched for the first
// time). It also
// reports the servers' RSS once they opened the seeded database, before
// any request (start-rss-MiB, floor-start-rss-MiB).
func benchCold(b *testing.B, bin, db string) {
	var coldCPU, warmCPU, coldRate, warmRate, coldGCs, warmGCs, coldFaults, warmFaults, rss [2][]float64
	for start := range coldStarts {
		herald, floor := startServers(b, bin, db, "GODEBUG=gctrace=1")
		sides := []*serverProcess{herald, floor}
		if start%2 == 1 {
			sides = []*serverProcess{floor, herald}
		}
		for _, s := range sides {
			i := 0
			if s == floor {
				i = 1
			}
			rss[i] = append(rss[i], s.rssMiB(b))
			c := s.newClients()
			for _, m := range []struct{ cpu, rate, gcs, faults *[]float64 }{
				{&coldCPU[i], &coldRate[i], &coldGCs[i], &coldFaults[i]},
				{&warmCPU[i], &warmRate[i], &warmGCs[i], &warmFaults[i]},
			} {
				t0, gcs, faults := time.Now(), s.gcs(), s.stat(b, statMinorFaults)
				*m.cpu = append(*m.cpu, s.cpuPerRequest(b, c, serverRequests[0], serverCold))
				*m.rate = append(*m.rate, serverCold/time.Since(t0).Seconds())
				*m.gcs = append(*m.gcs, float64(s.gcs()-gcs))
				*m.faults = append(*m.faults, float64(s.stat(b, statMinorFaults)-faults)/serverCold)
			}
			c.close()
		}
		herald.stop()
		floor.stop()
	}
	for b.Loop() { // the figures are above; nothing to repeat
	}
	for i, prefix := range []string{"", "floor-"} {
		b.ReportMetric(median(coldCPU[i]), prefix+"cold-µs/req")
		b.ReportMetric(median(warmCPU[i]), prefix+"µs/req")
		b.ReportMetric(median(coldRate[i]), prefix+"cold-req/s")
		b.ReportMetric(median(warmRate[i]), prefix+"req/s")
		b.ReportMetric(median(coldGCs[i]), prefix+"cold-gcs")
		b.ReportMetric(median(warmGCs[i]), prefix+"gcs")
		b.ReportMetric(median(coldFaults[i]), prefix+"cold-faults/req")
		b.ReportMetric(median(warmFaults[i]), prefix+"faults/req")
		b.ReportMetric(median(rss[i]), prefix+"start-rss-MiB")
	}
}

func benchServers(b *testing.B, herald, floor *serverProcess) {
	for _, req := range serverRequests {
		b.Run(req.name, func(b *testing.B) {
			hc, fc := herald.newClients(), floor.newClients()
			defer hc.close()
			defer fc.close()
			// One short untimed turn each: the kind's first requests
			// on these connections. Herald's sizes the turns.
			t0 := time.Now()
			if err := hc.run(req, serverBlock/4); err != nil {
				b.Fatal(herald.name, ": ", err)
			}
			perReq := time.Since(t0) / (serverBlock / 4)
			if err := fc.run(req, serverBlock/4); err != nil {
				b.Fatal(floor.name, ": ", err)
			}
			block := min(max(int(serverTurn/perReq), 50), 2000)
			var ratios []float64
			var hNanos, fNanos []int64 // per turn
			hTicks0, fTicks0 := herald.ticks(b), floor.ticks(b)
			hLast, fLast := herald.cpuNanos(b), floor.cpuNanos(b)
			turn := 0
			for b.Loop() {
				first, second := herald, floor
				if turn%2 == 1 {
					first, second = floor, herald
				}
				for _, s := range []*serverProcess{first, second} {
					c := hc
					if s == floor {
						c = fc
					}
					if err := c.run(req, block); err != nil {
						b.Fatal(s.name, ": ", err)
					}
				}
				// Each side's turn is charged until now: whatever it did
				// after its responses (and while idle) is its own.
				h, f := herald.cpuNanos(b), floor.cpuNanos(b)
				hNanos, fNanos = append(hNanos, h-hLast), append(fNanos, f-fLast)
				hLast, fLast = h, f
				turn++
			}
			hTicks, fTicks := herald.ticks(b)-hTicks0, floor.ticks(b)-fTicks0
			for i := range hNanos {
				ratios = append(ratios, float64(fNanos[i])/float64(hNanos[i]))
			}
			n := float64(turn * block)
			b.ReportMetric(ticksMicros(hTicks)/n, "µs/req")
			b.ReportMetric(ticksMicros(fTicks)/n, "floor-µs/req")
			b.ReportMetric(median(ratios), "x-floor")
			b.ReportMetric(herald.rssMiB(b), "rss-MiB")
			b.ReportMetric(floor.rssMiB(b), "floor-rss-MiB")
		})
	}
	b.Run("websockets", func(b *testing.B) { benchWebSockets(b, herald) })
}

// serverSockets is how many WebSocket connections
// BenchmarkServer/DB/websockets holds open.
const serverSockets = 1000

// benchWebSockets opens serverSockets WebSocket connections to Herald's
// /api/signals, each subscribed to the notifications channel, and reports
// the server's RSS with them open (rss-MiB) and its growth per connection
// (KiB/conn). It runs last: the RSS is the server's after every request
// kind, the seeded inbox read. (The floor serves no WebSockets.)
func benchWebSockets(b *testing.B, herald *serverProcess) {
	before := herald.rssMiB(b)
	socks := dialSockets(b, herald, serverSockets)
	defer socks.close()
	after := herald.rssMiB(b)
	for b.Loop() { // the figures are above; nothing to repeat
	}
	b.ReportMetric(after, "rss-MiB")
	b.ReportMetric((after-before)*1024/serverSockets, "KiB/conn")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (m + xs[len(xs)/2-1]) / 2
	}
	return m
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

func ticksMicros(ticks int64) float64 { return float64(ticks) * 1e6 / clockTicks }

// heraldServerBinary builds examples/server into tb's temporary
// directory (go's build cache makes it quick after the first time).
func heraldServerBinary(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "herald-server")
	cmd := exec.Command("go", "build", "-o", path, "github.com/heraldhq/herald/examples/server")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build examples/server: %v\n%s", err, out)
	}
	return path
}

// serverProcess is a server under test, running in a child process.
type serverProcess struct {
	name string
	cmd  *exec.Cmd
	url  string        // http://ADDR
	log  *bytes.Buffer // its stderr

	logMu    sync.Mutex
	stopOnce sync.Once
}

// startHerald runs examples/server with a service token (origin
// benchOrigin) and a user token for the list user.
func startHerald(tb testing.TB, bin string, env []string, dbArgs ...string) *serverProcess {
	tb.Helper()
	args := append([]string{"-addr", "127.0.0.1:0",
		"-service-token", serverServiceToken + "=" + benchOrigin,
		"-user-token", serverUserToken + "=" + listUser}, dbArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return startServer(tb, "herald", cmd, "Herald listening on http://")
}

// startFloor re-executes the test binary as the floor server (see
// TestServerFloorProcess) on db ("sqlite:PATH" or "postgres:DSN").
func startFloor(tb testing.TB, env []string, db string) *serverProcess {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerFloorProcess$", "-test.timeout=0")
	cmd.Env = append(append(os.Environ(), env...), floorDBEnv+"="+db,
		floorServiceEnv+"="+serverServiceToken+"="+benchOrigin, floorUserEnv+"="+serverUserToken+"="+listUser)
	return startServer(tb, "floor", cmd, "listening ")
}

// startServer starts cmd and waits for the line starting with prefix
// that says where it listens; the server is stopped (SIGTERM) when tb
// ends.
func startServer(tb testing.TB, name string, cmd *exec.Cmd, prefix string) *serverProcess {
	tb.Helper()
	s := &serverProcess{name: name, cmd: cmd, log: &bytes.Buffer{}}
	// A benchmark killed midway takes its servers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stderr = &lockedWriter{mu: &s.logMu, w: s.log}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	tb.Cleanup(s.stop)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				a, _, _ := strings.Cut(rest, " ")
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			tb.Fatalf("%s exited before listening:\n%s", name, s.log)
		}
		s.url = "http://" + a
	case <-time.After(60 * time.Second):
		tb.Fatalf("%s did not say where it listens within a minute:\n%s", name, s.log)
	}
	return s
}

// stop stops the server (SIGTERM, then SIGKILL after 20 seconds) and
// waits for it to exit; it may be called more than once.
func (s *serverProcess) stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Fields of /proc/PID/stat, numbered as proc(5) numbers them.
const (
	statMinorFaults = 10
	statUtime       = 14
	statStime       = 15
)

// stat returns field of the process's /proc/PID/stat.
func (s *serverProcess) stat(tb testing.TB, field int) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name may hold spaces; field 3 follows its ")".
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	v, err := strconv.ParseInt(fields[field-3], 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// ticks returns the process's utime+stime in clock ticks.
func (s *serverProcess) ticks(tb testing.TB) int64 {
	return s.stat(tb, statUtime) + s.stat(tb, statStime)
}

// gcs counts the garbage collections the process has logged (with
// GODEBUG=gctrace=1) so far.
func (s *serverProcess) gcs() int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return bytes.Count(s.log.Bytes(), []byte("\ngc ")) + bool2int(bytes.HasPrefix(s.log.Bytes(), []byte("gc ")))
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cpuNanos returns the CPU time of the whole process (every thread, the
// exited ones included) in nanoseconds, from its CPU clock: the clock id
// clock_getcpuclockid(3) returns, (^pid << 3) | CPUCLOCK_SCHED.
func (s *serverProcess) cpuNanos(tb testing.TB) int64 {
	tb.Helper()
	const cpuClockSched = 2
	clock := (^int64(s.cmd.Process.Pid) << 3) | cpuClockSched
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		tb.Fatalf("clock_gettime(%s's CPU clock): %v", s.name, errno)
	}
	return ts.Nano()
}

// rssMiB returns the process's resident set (VmRSS) in MiB.
func (s *serverProcess) rssMiB(tb testing.TB) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// cpuPerRequest sends n requests of req and returns the server's CPU time
// per request in microseconds, from the process CPU clock.
func (s *serverProcess) cpuPerRequest(tb testing.TB, c *clients, req serverRequest, n int) float64 {
	tb.Helper()
	before := s.cpuNanos(tb)
	if err := c.run(req, n); err != nil {
		tb.Fatal(s.name, ": ", err)
	}
	return float64(s.cpuNanos(tb)-before) / 1e3 / float64(n)
}

// clients are serverClients HTTP clients of one server, each with its own
// keep-alive connection.
type clients struct {
	base      string
	transport *http.Transport
	client    *http.Client
}

func (s *serverProcess) newClients() *clients {
	t := &http.Transport{
		MaxIdleConns: serverClients, MaxIdleConnsPerHost: serverClients, MaxConnsPerHost: serverClients,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
	return &clients{base: s.url, transport: t, client: &http.Client{Transport: t, Timeout: time.Minute}}
}

func (c *clients) close() { c.transport.CloseIdleConnections() }

// run sends n requests of req, serverClients at a time, and returns the
// first failure.
func (c *clients) run(req serverRequest, n int) error {
	var next atomic.Int64
	errs := make([]error, serverClients)
	var wg sync.WaitGroup
	for i := range serverClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.do(req); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// do sends req once and returns the response body of a 200.
func (c *clients) do(req serverRequest) ([]byte, error) {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	r, err := http.NewRequestWithContext(context.Background(), req.method, c.base+req.path, body)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+req.token)
	if req.body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(r)
	if err != nil {
		return nil, err
	}
	defer drain(resp.Body)
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %d %s", req.method, req.path, resp.StatusCode, b)
	}
	return b, err
}

// TestServer checks that the floor server answers what examples/server
// answers: a send to one user stores one notification for that user, and
// then both give the same status, and the same page of the seeded inbox
// (the same ids in the same order, the same total).
func TestServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds examples/server")
	}
	t.Parallel()
	bin := heraldServerBinary(t)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			herald, floor := startServers(t, bin, db)
			type page struct {
				TotalCount    int `json:"totalCount"`
				Notifications []struct {
					ID   string  `json:"id"`
					User *string `json:"user"`
				} `json:"notifications"`
			}
			var pages [2]page
			var statuses [2]floorStatus
			for i, s := range []*serverProcess{herald, floor} {
				c := s.newClients()
				defer c.close()
				body, err := c.do(serverRequests[0])
				if err != nil {
					t.Fatal(s.name, ": ", err)
				}
				var sent []struct {
					User string `json:"user"`
				}
				if err := json.Unmarshal(body, &sent); err != nil || len(sent) != 1 || sent[0].User != sendTarget {
					t.Errorf("%s: send answered %s (%v), want one notification for %s", s.name, body, err, sendTarget)
				}
				for _, x := range []struct {
					req serverRequest
					dst any
				}{{serverRequests[1], &pages[i]}, {serverRequests[2], &statuses[i]}} {
					body, err := c.do(x.req)
					if err == nil {
						err = json.Unmarshal(body, x.dst)
					}
					if err != nil {
						t.Fatalf("%s %s: %v", s.name, x.req.name, err)
					}
				}
			}
			st := serverInbox.wantStatusOf(1)
			if want := (floorStatus{Unread: st.Unread, Read: st.Read, Unseen: st.Unseen}); statuses[0] != want || statuses[1] != want {
				t.Errorf("status: herald %+v, floor %+v, want %+v", statuses[0], statuses[1], want)
			}
			if pages[0].TotalCount != st.Unread || len(pages[0].Notifications) != 20 {
				t.Errorf("herald: page of %d of %d, want 20 of %d", len(pages[0].Notifications), pages[0].TotalCount, st.Unread)
			}
			if !reflect.DeepEqual(pages[0], pages[1]) {
				t.Errorf("pages differ:\nherald %+v\nfloor  %+v", pages[0], pages[1])
			}
		})
	}
}
