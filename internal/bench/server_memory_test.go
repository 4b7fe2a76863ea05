//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/internal/testdb"
)

// memorySignals is how many broadcasts BenchmarkServerMemory sends while
// the WebSockets are open; each reaches every one of them.
const memorySignals = 20

// BenchmarkServerMemory measures examples/server's memory from outside,
// as the resident set (VmRSS) of its process, on SQLite and, with
// HERALD_TEST_POSTGRES_DSN set, on PostgreSQL. The server starts on a
// database holding serverInbox (10,000 notifications in the list user's
// inbox, half of them broadcasts) and reports
//
//   - start-rss-MiB: after a hundred pages of that inbox were read;
//   - rss-MiB: with serverSockets (1,000) WebSockets open as well, each
//     subscribed to the notifications channel, and KiB/conn, the growth
//     per connection; anon-rss-MiB and file-rss-MiB split it into the
//     process's own memory and the pages of files it maps (its
//     executable, a SQLite database's shared memory);
//   - signals-rss-MiB: after memorySignals broadcasts, sent through the
//     REST API, reached every connection;
//   - left-rss-MiB: once the clients have left, when the resident set has
//     stopped falling (at most 30 seconds after they left), and
//     left-after-s, how long that took.
//
// An op is the whole sequence; ns/op says little.
func BenchmarkServerMemory(b *testing.B) {
	bin := heraldServerBinary(b)
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			ctx := context.Background()
			var herald *serverProcess
			if db == "sqlite" {
				path := filepath.Join(b.TempDir(), "herald.db")
				if err := seedSQLite(ctx, path, serverInbox); err != nil {
					b.Fatal(err)
				}
				herald = startHerald(b, bin, nil, "-db", path)
			} else {
				dsn := testdb.PostgresSchema(b)
				if _, err := seedPostgres(ctx, dsn, serverInbox); err != nil {
					b.Fatal(err)
				}
				herald = startHerald(b, bin, nil, "-postgres", dsn)
			}
			for b.Loop() {
				benchServerMemory(b, herald)
			}
		})
	}
}

func benchServerMemory(b *testing.B, herald *serverProcess) {
	c := herald.newClients()
	defer c.close()
	if err := c.run(serverRequests[1], 100); err != nil { // pages of 20 unread
		b.Fatal(err)
	}
	start := herald.rssMiB(b)

	socks := dialSockets(b, herald, serverSockets)
	defer socks.close()
	open := herald.rssMiB(b)
	anon, file := herald.rssParts(b)

	broadcast := serverRequests[3]
	for range memorySignals {
		if _, err := c.do(broadcast); err != nil {
			b.Fatal(err)
		}
	}
	socks.waitFrames(b, memorySignals)
	signalled := herald.rssMiB(b)

	socks.close()
	left, took := herald.settledRSS(b, 30*time.Second)

	b.ReportMetric(start, "start-rss-MiB")
	b.ReportMetric(open, "rss-MiB")
	b.ReportMetric(anon, "anon-rss-MiB")
	b.ReportMetric(file, "file-rss-MiB")
	b.ReportMetric((open-start)*1024/serverSockets, "KiB/conn")
	b.ReportMetric(signalled, "signals-rss-MiB")
	b.ReportMetric(left, "left-rss-MiB")
	b.ReportMetric(took.Seconds(), "left-after-s")
}

// sockets are WebSocket clients of one server, each counting the frames
// it reads.
type sockets struct {
	conns  []*websocket.Conn
	frames atomic.Int64 // read by all clients together
	once   sync.Once
	done   sync.WaitGroup
}

// dialSockets opens n WebSockets to herald's /api/signals as the list
// user, serverClients at a time, each subscribed to the notifications
// channel before it returns.
func dialSockets(b *testing.B, herald *serverProcess, n int) *sockets {
	b.Helper()
	ctx := context.Background()
	url := "ws" + strings.TrimPrefix(herald.url, "http") + "/api/signals"
	s := &sockets{conns: make([]*websocket.Conn, n)}
	var next atomic.Int64
	errs := make([]error, serverClients)
	var wg sync.WaitGroup
	for w := range serverClients {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{serverUserToken}})
				if err != nil {
					errs[w] = err
					return
				}
				s.conns[i] = c
				s.done.Go(func() { // reading also answers pings
					for {
						if _, _, err := c.Read(ctx); err != nil {
							return
						}
						s.frames.Add(1)
					}
				})
				if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","channel":"notifications"}`)); err != nil {
					errs[w] = err
					return
				}
				// The server applies a connection's frames in order: once
				// the ping is answered, the subscription is in place.
				if err := c.Ping(ctx); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.close()
		b.Fatal(err)
	}
	return s
}

// waitFrames waits until every client has read perClient frames.
func (s *sockets) waitFrames(b *testing.B, perClient int) {
	b.Helper()
	want := int64(perClient * len(s.conns))
	deadline := time.Now().Add(time.Minute)
	for s.frames.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("the clients read %d frames, want %d", s.frames.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// close closes every connection and waits for their readers.
func (s *sockets) close() {
	s.once.Do(func() {
		for _, c := range s.conns {
			if c != nil {
				_ = c.CloseNow()
			}
		}
		s.done.Wait()
	})
}

// rssParts returns the anonymous and the file-backed parts of the
// process's resident set (RssAnon, and RssFile with RssShmem), in MiB.
func (s *serverProcess) rssParts(tb testing.TB) (anon, file float64) {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch name {
		case "RssAnon":
			anon = kib / 1024
		case "RssFile", "RssShmem":
			file += kib / 1024
		}
	}
	return anon, file
}

// settledRSS samples the server's resident set every 250 ms and returns
// it once it has not fallen for two seconds, or after limit, with the time
// that took.
func (s *serverProcess) settledRSS(b *testing.B, limit time.Duration) (float64, time.Duration) {
	b.Helper()
	start := time.Now()
	low, lowAt := s.rssMiB(b), start
	for time.Since(lowAt) < 2*time.Second && time.Since(start) < limit {
		time.Sleep(250 * time.Millisecond)
		if r := s.rssMiB(b); r < low-0.05 {
			low, lowAt = r, time.Now()
		}
	}
	return low, lowAt.Sub(start)
}
