package pgbus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/pgbus"
	"github.com/heraldhq/herald/signals/signalstest"
)

const dsnEnv = "HERALD_TEST_POSTGRES_DSN"

// testDSN returns the test database, skipping when there is none.
func testDSN(tb testing.TB) string {
	tb.Helper()
	return signalstest.BackendFromEnv(tb, dsnEnv)
}

// uniqueChannel keeps parallel tests apart.
func uniqueChannel() string { return signalstest.UniqueName("herald_test_") }

func open(tb testing.TB, cfg pgbus.Config) *pgbus.Transport {
	tb.Helper()
	if cfg.DSN == "" && cfg.ConnConfig == nil {
		cfg.DSN = testDSN(tb)
	}
	if cfg.ReconnectDelay == 0 {
		cfg.ReconnectDelay = 10 * time.Millisecond
	}
	tr, err := pgbus.New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("pgbus.New: %v", err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

// admin is a connection of the test's own, to look at and break the
// transport's connections.
func admin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), testDSN(tb))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// terminate kills the connections whose application_name is LIKE pattern
// and returns how many there were.
func terminate(t *testing.T, conn *pgx.Conn, pattern string) int {
	t.Helper()
	var n int
	err := conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`, pattern).Scan(&n)
	if err != nil {
		t.Fatalf("pg_terminate_backend: %v", err)
	}
	return n
}

func listenerPIDs(t *testing.T, conn *pgx.Conn, channel string) []int {
	t.Helper()
	rows, _ := conn.Query(t.Context(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid`,
		"herald-pgbus listen "+channel)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("listener pids: %v", err)
	}
	return pids
}

func TestConformance(t *testing.T) {
	t.Parallel()
	testDSN(t)
	signalstest.RunTransportTests(t, func(t *testing.T) signalstest.Backend {
		channel := uniqueChannel()
		return signalstest.Backend{
			OpenFunc: func(t *testing.T) signals.Transport { return open(t, pgbus.Config{Channel: channel}) },
			InterruptFunc: func(t *testing.T) {
				// Both the listening and the sending connections.
				if n := terminate(t, admin(t), "herald-pgbus % "+channel); n == 0 {
					t.Fatal("no connection to terminate")
				}
			},
		}
	})
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  pgbus.Config
		want string
	}{
		{"no DSN", pgbus.Config{}, "DSN is required"},
		{"bad DSN", pgbus.Config{DSN: "postgres://%zz"}, "parse DSN"},
		{"long channel", pgbus.Config{DSN: "postgres://localhost/db", Channel: strings.Repeat("c", 64)}, "at most 63"},
		{"negative size", pgbus.Config{DSN: "postgres://localhost/db", MaxMessageSize: -1}, "MaxMessageSize"},
		{"negative delay", pgbus.Config{DSN: "postgres://localhost/db", ReconnectDelay: -time.Second}, "ReconnectDelay"},
		{"no server", pgbus.Config{DSN: "postgres://u@127.0.0.1:1/db?connect_timeout=1"}, "connect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, err := pgbus.New(t.Context(), tc.cfg)
			if err == nil {
				tr.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	tr := open(t, pgbus.Config{})
	if got := tr.MaxMessageSize(); got != pgbus.DefaultMaxMessageSize {
		t.Errorf("MaxMessageSize() = %d, want %d", got, pgbus.DefaultMaxMessageSize)
	}
	var n int
	err := admin(t).QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`,
		"herald-pgbus send "+pgbus.DefaultChannel).Scan(&n)
	if err != nil || n == 0 {
		t.Errorf("no sending connection on the default channel %q (err %v)", pgbus.DefaultChannel, err)
	}
}

// TestReconnectAfterTerminate kills the listening connection while the
// network is down, publishes into the outage, and checks that the listener
// comes back on a new connection, reports the gap once, and receives again.
func TestReconnectAfterTerminate(t *testing.T) {
	t.Parallel()
	dsn, channel := testDSN(t), uniqueChannel()
	conf, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	conf.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, errors.New("test: network down")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	logs := signalstest.NewLogRecorder(slog.LevelDebug)
	a := signalstest.NewNode(t, open(t, pgbus.Config{DSN: dsn, Channel: channel}))
	b := signalstest.NewNode(t, open(t, pgbus.Config{ConnConfig: conf, Channel: channel, Logger: logs.Logger()}))
	db := admin(t)

	a.Publish(t, 1)
	if got := b.NextMessage(t, "signal 1"); got != `{"n":1}` {
		t.Fatalf("got %s, want signal 1", got)
	}
	before := listenerPIDs(t, db, channel)
	if len(before) != 2 {
		t.Fatalf("listener pids = %v, want a's and b's", before)
	}

	down.Store(true)
	if n := terminate(t, db, "herald-pgbus listen "+channel); n != 2 {
		t.Fatalf("terminated %d listeners, want 2", n)
	}
	logs.WaitFor(t, "pgbus: reconnect failed")
	signalstest.Receive(t, a.Gaps, "a's gap report") // a reconnects at once: its network is up
	a.Publish(t, 2)                                  // b is away: lost to it
	down.Store(false)

	g := signalstest.Receive(t, b.Gaps, "b's gap report")
	if g.Err == nil || g.Since.IsZero() || !g.Until.After(g.Since) || g.Origin != "" {
		t.Errorf("gap = %+v, want a lost connection with its cause and times", g)
	}
	after := listenerPIDs(t, db, channel)
	if len(after) != 2 || slices.ContainsFunc(after, func(p int) bool { return slices.Contains(before, p) }) {
		t.Errorf("listener pids after reconnection = %v, before %v: want two new ones", after, before)
	}
	a.Publish(t, 3)
	if got := b.NextMessage(t, "signal 3"); got != `{"n":3}` {
		t.Errorf("after reconnection got %s, want signal 3 (signal 2 was sent during the outage)", got)
	}
	b.NoMoreGaps(t)
}

// TestHealthCheck lets a listener idle past its health check interval many
// times and checks it still receives: a timed-out wait must not spoil the
// connection.
func TestHealthCheck(t *testing.T) {
	t.Parallel()
	channel := uniqueChannel()
	a := signalstest.NewNode(t, open(t, pgbus.Config{Channel: channel}))
	b := signalstest.NewNode(t, open(t, pgbus.Config{Channel: channel, HealthCheckInterval: 5 * time.Millisecond}))
	db := admin(t)
	// Wait until b's listener has pinged at least once (pgx pings with an
	// empty statement), polling on a ticker with a deadline.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for pinged := false; !pinged; {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("timed out waiting for the listener's health check")
		}
		err := db.QueryRow(t.Context(), `SELECT count(*) > 0 FROM pg_stat_activity
			WHERE application_name = $1 AND query = '-- ping'`, "herald-pgbus listen "+channel).Scan(&pinged)
		if err != nil {
			t.Fatal(err)
		}
	}
	a.Publish(t, 1)
	if got := b.NextMessage(t, "signal after health checks"); got != `{"n":1}` {
		t.Errorf("got %s", got)
	}
	select {
	case g := <-b.Gaps:
		t.Errorf("health checks caused a gap: %+v", g)
	default:
	}
}

type handler struct {
	msgs chan string
	gaps chan signals.Gap
}

func (h handler) HandleMessage(m []byte)  { h.msgs <- string(m) }
func (h handler) HandleGap(g signals.Gap) { h.gaps <- g }

// TestForeignNotifications checks what a listener does with notifications
// it did not write: garbage is ignored, a reference to a deleted message
// is reported as a gap.
func TestForeignNotifications(t *testing.T) {
	t.Parallel()
	channel := uniqueChannel()
	tr := open(t, pgbus.Config{Channel: channel})
	h := handler{msgs: make(chan string, 10), gaps: make(chan signals.Gap, 10)}
	sub, err := tr.Subscribe(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	db := admin(t)
	for _, p := range []string{"", "x-unknown", "rnot-a-number", "r-1", "ihello"} {
		if _, err := db.Exec(t.Context(), "SELECT pg_notify($1, $2)", channel, p); err != nil {
			t.Fatal(err)
		}
	}
	if g := signalstest.Receive(t, h.gaps, "the gap for the missing reference"); g.Err == nil || !strings.Contains(g.Err.Error(), "deleted") {
		t.Errorf("gap = %+v, want a deleted message", g)
	}
	if m := signalstest.Receive(t, h.msgs, "the valid notification"); m != "hello" {
		t.Errorf("got %q, want only \"hello\"", m)
	}
}

// TestPayloadCleanup checks that a large send deletes payload rows older
// than the retention and keeps its own.
func TestPayloadCleanup(t *testing.T) {
	t.Parallel()
	tr := open(t, pgbus.Config{Channel: uniqueChannel()})
	db := admin(t)
	var old int64
	err := db.QueryRow(t.Context(), `INSERT INTO `+pgbus.PayloadTable+` (created_at, body)
		VALUES (now() - interval '2 minutes', 'stale') RETURNING id`).Scan(&old)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(t.Context(), make([]byte, 10_000)); err != nil {
		t.Fatal(err)
	}
	var stale, fresh int
	err = db.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE id = $1), count(*) FILTER (WHERE id > $1)
		FROM `+pgbus.PayloadTable, old).Scan(&stale, &fresh)
	if err != nil {
		t.Fatal(err)
	}
	if stale != 0 || fresh == 0 {
		t.Errorf("after a large send: %d stale rows (want 0), %d newer rows (want the send's own)", stale, fresh)
	}
}

// BenchmarkLatency measures the time from Publish on one instance to the
// delivery to another instance's local Publisher, one signal at a time.
func BenchmarkLatency(b *testing.B) {
	testDSN(b)
	for _, size := range []int{100, 20_000} {
		name := fmt.Sprintf("message=%dB", size)
		if size > 7998 {
			name += "/by-reference"
		}
		b.Run(name, func(b *testing.B) {
			channel := uniqueChannel()
			signalstest.BenchmarkLatency(b, func(b *testing.B) signals.Transport {
				return open(b, pgbus.Config{Channel: channel})
			}, size)
		})
	}
}
