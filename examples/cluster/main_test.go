package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
)

// wait bounds every wait; tests never get near it unless broken.
const wait = 15 * time.Second

// database returns a DSN on a fresh schema of the test server and a NOTIFY
// channel of the test's own, so tests run in parallel. Without the server
// it skips, or fails when CI says the services must run.
func database(tb testing.TB) (dsn, channel string) {
	tb.Helper()
	if os.Getenv(testdb.PostgresEnv) == "" {
		if os.Getenv("HERALD_REQUIRE_SERVICES") != "" {
			tb.Fatal(testdb.PostgresEnv + " is not set but HERALD_REQUIRE_SERVICES is: PostgreSQL tests must run")
		}
		tb.Skip(testdb.PostgresEnv + " not set: the cluster tests need PostgreSQL")
	}
	var b [8]byte
	rand.Read(b[:])
	return testdb.PostgresSchema(tb), "herald_cluster_test_" + hex.EncodeToString(b[:])
}

func newCluster(tb testing.TB) *cluster {
	tb.Helper()
	dsn, channel := database(tb)
	c, err := startCluster(context.Background(), clusterConfig{dsn: dsn, channel: channel, addrA: "127.0.0.1:0", addrB: "127.0.0.1:0"})
	if err != nil {
		tb.Fatalf("startCluster: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.close(context.Background()); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return c
}

func connectTB(ctx context.Context, tb testing.TB, n *node, since string) *browser {
	tb.Helper()
	b, err := connect(ctx, n.url, userToken, since)
	if err != nil {
		tb.Fatalf("connect to %s: %v", n.name, err)
	}
	tb.Cleanup(b.close)
	return b
}

func sendTo(ctx context.Context, tb testing.TB, n *node, user, title string) notifications.Notification {
	tb.Helper()
	ns, err := n.svc.Sender("plugin:test").Send(ctx, notifications.Entity(user), notifications.Payload{Title: title})
	if err != nil || len(ns) != 1 {
		tb.Fatalf("Send on %s: %v (%d notifications)", n.name, err, len(ns))
	}
	return ns[0]
}

// TestSendOnAReachesWebSocketOnB is the cluster's end-to-end test: two
// Services on one PostgreSQL database, a WebSocket client on the second,
// a send on the first.
func TestSendOnAReachesWebSocketOnB(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	onB := connectTB(ctx, t, c.b, "")

	// Someone else's notification must not reach alice; sent first, it
	// would arrive first, since one instance's signals keep their order.
	sendTo(ctx, t, c.a, "user:default/bob", "for bob")
	sent := sendTo(ctx, t, c.a, userRef, "for alice")
	f, err := onB.next(ctx)
	if err != nil {
		t.Fatalf("no frame on B: %v", err)
	}
	if f.Channel != notifications.SignalChannel || f.Message.Action != notifications.ActionNewNotification ||
		f.Message.NotificationID != sent.ID || f.Message.Notification == nil ||
		f.Message.Notification.Payload.Title != "for alice" || f.Message.Notification.Origin != "plugin:test" {
		t.Fatalf("frame on B = %s, want alice's new_notification %s with the notification", f.raw, sent.ID)
	}
	if f.Cursor == "" {
		t.Errorf("frame on B has no cursor: %s", f.raw)
	}

	// What B stores is what A sent: one database.
	got, err := c.b.svc.Get(ctx, userRef, sent.ID)
	if err != nil || got.Payload.Title != "for alice" {
		t.Errorf("Get on B = %+v, %v", got, err)
	}

	// The other way round, and B's own clients hear B's sends at once.
	onA := connectTB(ctx, t, c.a, "")
	back := sendTo(ctx, t, c.b, userRef, "from B")
	for name, cl := range map[string]*browser{"A": onA, "B": onB} {
		if _, err := cl.await(ctx, back.ID); err != nil {
			t.Errorf("send on B did not reach the client on %s: %v", name, err)
		}
	}
}

// TestCatchUpAcrossInstances drops a client of B, sends on A meanwhile,
// and reconnects the client to A with its cursor: the cursor is valid on
// any instance.
func TestCatchUpAcrossInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	onB := connectTB(ctx, t, c.b, "")
	seen := sendTo(ctx, t, c.a, userRef, "seen")
	if _, err := onB.await(ctx, seen.ID); err != nil {
		t.Fatal(err)
	}
	onB.close()
	missed := sendTo(ctx, t, c.a, userRef, "missed")
	if _, err := c.b.svc.MarkAllRead(ctx, userRef, notifications.Filter{IDs: []string{seen.ID}}); err != nil {
		t.Fatal(err)
	}

	again := connectTB(ctx, t, c.a, onB.cursor)
	replayed := map[string]*notifications.Notification{}
	for len(replayed) < 2 {
		f, err := again.next(ctx)
		if err != nil {
			t.Fatalf("replay: got %d of 2: %v", len(replayed), err)
		}
		if f.Message.Action == notifications.ActionNewNotification {
			replayed[f.Message.NotificationID] = f.Message.Notification
		}
	}
	if n := replayed[missed.ID]; n == nil || n.Payload.Title != "missed" {
		t.Errorf("the missed notification was not replayed: %v", slices.Collect(maps.Keys(replayed)))
	}
	// The read made on B meanwhile comes back as the notification's state.
	if n := replayed[seen.ID]; n == nil || n.Read == nil {
		t.Errorf("the notification read meanwhile was not replayed as read: %+v", n)
	}
}

// TestDemo runs the program as the README tells: it must get to the end.
func TestDemo(t *testing.T) {
	t.Parallel()
	dsn, channel := database(t)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-postgres", dsn, "-channel", channel, "-addr-a", "127.0.0.1:0", "-addr-b", "127.0.0.1:0"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	for _, want := range []string{"received on B", "replayed:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &stdout)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("warnings:\n%s", &stderr)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	var stderr bytes.Buffer
	if _, err := parseFlags(nil, noEnv, &stderr); err == nil || !strings.Contains(err.Error(), "-postgres is required") {
		t.Errorf("no DSN: %v, want -postgres is required", err)
	}
	if _, err := parseFlags([]string{"-postgres", "x", "extra"}, noEnv, &stderr); err == nil {
		t.Error("an extra argument was accepted")
	}
	env := func(k string) string {
		if k == dsnEnv {
			return "postgres://from-env"
		}
		return ""
	}
	cfg, err := parseFlags([]string{"-addr-b", ":9"}, env, &stderr)
	if err != nil || cfg.dsn != "postgres://from-env" || cfg.addrA != "127.0.0.1:7007" || cfg.addrB != ":9" || !cfg.demo {
		t.Errorf("parseFlags = %+v, %v", cfg, err)
	}
}

// BenchmarkSendToRemoteWebSocket measures what a user waits for in a
// cluster: from Send on instance A to the frame on a WebSocket connected to
// instance B (through the commit, pgbus and B's Hub). Sends are one at a
// time; it reports the median and the 99th percentile.
func BenchmarkSendToRemoteWebSocket(b *testing.B) {
	c := newCluster(b)
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, wait)
	client := connectTB(cctx, b, c.b, "")
	cancel()
	sender := c.a.svc.Sender("plugin:bench")
	payload := notifications.Payload{Title: "Build finished", Topic: "ci"}
	var latencies []time.Duration
	for b.Loop() {
		start := time.Now()
		ns, err := sender.Send(ctx, notifications.Entity(userRef), payload)
		if err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		f, err := client.await(wctx, ns[0].ID)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, f.at.Sub(start))
	}
	slices.Sort(latencies)
	quantile := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(quantile(0.5), "p50-µs")
	b.ReportMetric(quantile(0.99), "p99-µs")
}
