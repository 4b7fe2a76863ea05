package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// killable is a PostgreSQL store whose connections a test can terminate,
// as an administrator or a restarting server would.
type killable struct {
	*store.Store
	app   string // the store's application_name
	admin *pgx.Conn
}

func openKillable(t *testing.T) *killable {
	t.Helper()
	dsn := testdb.PostgresSchema(t)
	var b [6]byte
	rand.Read(b[:])
	app := "herald-store-test-" + hex.EncodeToString(b[:])
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	admin, err := pgx.Connect(context.Background(), testdb.PostgresDSN(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return &killable{Store: openPostgresDSN(t, u.String()), app: app, admin: admin}
}

// kill terminates every connection of the store and waits until they are
// gone (pg_terminate_backend's timeout), so the next statement on one of
// them fails. It returns how many there were.
func (k *killable) kill(t testing.TB) int {
	var n int
	err := k.admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
		WHERE application_name = $1`, k.app).Scan(&n)
	if err != nil {
		t.Errorf("pg_terminate_backend: %v", err)
	}
	return n
}

// killHook terminates the store's connections just before the statements
// that match, and counts what runs.
type killHook struct {
	k *killable
	t testing.TB
	// match says whether to kill before query, the n-th matching one
	// counted from 1 by the caller.
	match func(query string) bool

	mu      sync.Mutex
	queries []string
	failed  []error // errors of the statements themselves
	kills   int
}

func (h *killHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	h.mu.Lock()
	h.queries = append(h.queries, e.Query)
	kill := h.match != nil && h.match(e.Query)
	h.mu.Unlock()
	if kill && h.k.kill(h.t) > 0 {
		h.mu.Lock()
		h.kills++
		h.mu.Unlock()
	}
	return ctx
}

func (h *killHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Err != nil {
		h.mu.Lock()
		h.failed = append(h.failed, e.Err)
		h.mu.Unlock()
	}
}

// count returns how many statements ran that start with prefix.
func (h *killHook) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, q := range h.queries {
		if strings.HasPrefix(q, prefix) {
			n++
		}
	}
	return n
}

// nth matches the n-th query starting with prefix (from 1), once.
func nth(prefix string, n int) func(string) bool {
	seen := 0
	return func(q string) bool {
		if strings.HasPrefix(q, prefix) {
			seen++
			return seen == n
		}
		return false
	}
}

func (k *killable) hook(t *testing.T, match func(string) bool) *killHook {
	h := &killHook{k: k, t: t, match: match}
	k.DB().AddQueryHook(h) //nolint:staticcheck // the store's own *bun.DB must carry the hook; WithQueryHook returns a copy
	// The inbox's reads run prepared, beneath bun: they are told of
	// just before they run, which is when the hook kills.
	store.ObserveReads(k.Store, func(query string, _ []any) {
		h.BeforeQuery(context.Background(), &bun.QueryEvent{Query: query})
	})
	return h
}

func userNotification(i int, u string, now time.Time) notifications.Notification {
	return notifications.Notification{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), User: u, Origin: "o",
		Created: now, Payload: notifications.Payload{Title: fmt.Sprint("n", i)}}
}

// TestPostgresRetriesLostConnections kills the store's connections just
// before one statement of a call, and checks that the call succeeds
// anyway, run again on a fresh connection, with the same result as if
// nothing had happened.
func TestPostgresRetriesLostConnections(t *testing.T) {
	t.Parallel()
	testdb.PostgresDSN(t)
	const u = "user:default/u"
	now := time.Now().UTC().Truncate(time.Millisecond)

	t.Run("Read", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		if _, err := k.SaveNotifications(t.Context(), []notifications.Notification{userNotification(1, u, now)}, nil); err != nil {
			t.Fatal(err)
		}
		h := k.hook(t, nth("SELECT", 1))
		ns, err := k.List(t.Context(), notifications.Query{User: u, Limit: 20})
		if err != nil || len(ns) != 1 {
			t.Fatalf("List after a lost connection = %d notifications, %v; want 1", len(ns), err)
		}
		if n, err := k.Count(t.Context(), u, notifications.Filter{}); err != nil || n != 1 {
			t.Errorf("Count = %d, %v", n, err)
		}
		if h.kills == 0 {
			t.Fatal("no connection was killed")
		}
	})

	t.Run("TransactionFromBegin", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		ns := make([]notifications.Notification, 2500) // three INSERTs in one transaction
		for i := range ns {
			ns[i] = userNotification(i, fmt.Sprintf("user:default/u%d", i), now)
		}
		h := k.hook(t, nth("INSERT INTO notification", 2))
		got, err := k.SaveNotifications(t.Context(), ns, nil)
		if err != nil || len(got) != len(ns) {
			t.Fatalf("SaveNotifications after a lost connection = %d, %v", len(got), err)
		}
		if h.kills == 0 || len(h.failed) == 0 {
			t.Fatalf("%d kills, %d failed statements: the connection was not lost mid-transaction", h.kills, len(h.failed))
		}
		if n := h.count("BEGIN"); n != 2 {
			t.Errorf("%d BEGINs, want 2 (the transaction run again from the start)", n)
		}
		var rows int
		if err := k.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM notification").Scan(&rows); err != nil || rows != len(ns) {
			t.Errorf("%d rows stored (%v), want %d, each once", rows, err, len(ns))
		}
	})

	t.Run("ScopedRestore", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		first := userNotification(1, u, now.Add(-time.Hour))
		first.Payload.Scope = "s"
		if _, err := k.SaveNotifications(t.Context(), []notifications.Notification{first}, nil); err != nil {
			t.Fatal(err)
		}
		again := userNotification(2, u, now)
		again.Payload.Scope = "s"
		h := k.hook(t, nth("INSERT INTO notification", 1))
		got, err := k.SaveNotifications(t.Context(), []notifications.Notification{again, userNotification(3, u, now)}, nil)
		if err != nil {
			t.Fatalf("SaveNotifications after a lost connection: %v", err)
		}
		if h.kills == 0 || h.count("BEGIN") != 2 {
			t.Fatalf("%d kills, %d BEGINs: want the upsert's transaction run twice", h.kills, h.count("BEGIN"))
		}
		if got[0].ID != first.ID || !got[0].Created.Equal(first.Created) || got[0].Updated == nil || !got[0].Updated.Equal(now) {
			t.Errorf("restored = id %s created %s updated %v; want the first's id and created, updated %s", got[0].ID, got[0].Created, got[0].Updated, now)
		}
		if got[1].ID != userNotification(3, u, now).ID {
			t.Errorf("second result id %s", got[1].ID)
		}
	})

	t.Run("DeliveriesFromBegin", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		h := k.hook(t, nth("INSERT INTO delivery", 2))
		sendWithDeliveries(t, k.Store, 1500, now) // two delivery INSERTs
		if h.kills == 0 || h.count("BEGIN") != 2 {
			t.Fatalf("%d kills, %d BEGINs: want the send's transaction run twice", h.kills, h.count("BEGIN"))
		}
		var deliveries, sends int
		if err := k.DB().QueryRowContext(t.Context(), "SELECT (SELECT COUNT(*) FROM delivery), (SELECT COUNT(*) FROM herald_send)").
			Scan(&deliveries, &sends); err != nil || deliveries != 1500 || sends != 1 {
			t.Errorf("%d deliveries and %d sends stored (%v), want 1500 and 1, each once", deliveries, sends, err)
		}
	})

	t.Run("ClaimFromBegin", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		sendWithDeliveries(t, k.Store, 3, now)
		h := k.hook(t, nth("SELECT id, origin, options", 1)) // the claim's read of its sends
		cs := claim(t, k.Store, now, time.Minute, 10)
		if h.kills == 0 || h.count("BEGIN") != 2 {
			t.Fatalf("%d kills, %d BEGINs: want the claim's transaction run twice", h.kills, h.count("BEGIN"))
		}
		if len(cs) != 3 {
			t.Fatalf("claimed %d, want 3", len(cs))
		}
		for _, c := range cs {
			if c.Delivery.Attempts != 1 || c.Options.Origin != "plugin:ci" {
				t.Errorf("claim %s: attempts %d, options origin %q; want 1 (the lost claim rolled back) and the send's", c.Delivery.ID, c.Delivery.Attempts, c.Options.Origin)
			}
		}
	})

	t.Run("OneStatementWrite", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		if _, err := k.SaveNotifications(t.Context(), []notifications.Notification{userNotification(1, u, now)}, nil); err != nil {
			t.Fatal(err)
		}
		h := k.hook(t, nth("INSERT INTO notification", 1))
		// Two rows: one of them would take the prepared INSERT (hot.go),
		// which bun's hooks do not see; two go as one statement's text.
		_, err := k.SaveNotifications(t.Context(), []notifications.Notification{userNotification(2, u, now), userNotification(3, u, now)}, nil)
		if h.kills == 0 {
			t.Fatal("no connection was killed")
		}
		// The server reports the termination (57P01) before running
		// anything it receives: the INSERT did not run and is sent again.
		if err != nil {
			t.Fatalf("SaveNotifications after a lost connection: %v", err)
		}
		if n, err := k.Count(t.Context(), u, notifications.Filter{}); err != nil || n != 3 {
			t.Errorf("Count = %d, %v; want 3", n, err)
		}
	})

	t.Run("CommitNotRetried", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		if _, err := k.SaveNotifications(t.Context(), []notifications.Notification{userNotification(1, u, now)}, nil); err != nil {
			t.Fatal(err)
		}
		h := k.hook(t, nth("COMMIT", 1))
		err := k.SetRead(t.Context(), u, []string{userNotification(1, u, now).ID}, &now, now)
		if !errors.Is(err, notifications.ErrUnavailable) {
			t.Fatalf("SetRead with its COMMIT lost = %v, want ErrUnavailable", err)
		}
		if n := h.count("BEGIN"); n != 1 {
			t.Errorf("%d BEGINs, want 1: a failed COMMIT is not run again", n)
		}
		n, err := k.Get(t.Context(), u, userNotification(1, u, now).ID)
		if err != nil || n.Read != nil {
			t.Errorf("after the lost COMMIT: read %v, %v; want unread (the server rolled back)", n.Read, err)
		}
	})

	t.Run("GivesUp", func(t *testing.T) {
		t.Parallel()
		k := openKillable(t)
		if _, err := k.SaveNotifications(t.Context(), []notifications.Notification{userNotification(1, u, now)}, nil); err != nil {
			t.Fatal(err)
		}
		// Outside a transaction database/sql itself takes another
		// connection when one is found dead before use; inside one only
		// the store can start over.
		h := k.hook(t, func(q string) bool { return strings.HasPrefix(q, "UPDATE") })
		err := k.SetRead(t.Context(), u, []string{userNotification(1, u, now).ID}, &now, now)
		if !errors.Is(err, notifications.ErrUnavailable) {
			t.Fatalf("SetRead with its connection killed every time = %v, want ErrUnavailable", err)
		}
		if n := h.count("BEGIN"); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
}

// TestPostgresSendsUnderTermination sends from several goroutines while
// another keeps terminating the store's connections: every send that
// returned is stored, and every error is ErrUnavailable, never a raw
// driver error.
func TestPostgresSendsUnderTermination(t *testing.T) {
	t.Parallel()
	k := openKillable(t)
	ctx := t.Context()
	const senders, perSender = 4, 60

	var (
		mu      sync.Mutex
		stored  []notifications.Notification // acknowledged
		failed  []error
		done    atomic.Int64
		kicks   = make(chan struct{}, 1)
		stopped = make(chan struct{})
		kills   int
	)
	go func() {
		defer close(stopped)
		for range kicks {
			kills += k.kill(t)
		}
	}()
	record := func(ns []notifications.Notification, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, err)
			return
		}
		stored = append(stored, ns...)
	}
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range perSender {
				n := g*1000 + i
				u := fmt.Sprintf("user:default/u%d", g)
				switch i % 4 {
				case 0: // one row, one statement
					record(k.SaveNotifications(ctx, []notifications.Notification{userNotification(100000+n, u, time.Now())}, nil))
				case 1: // a scoped row and another: a transaction
					a, b := userNotification(200000+n, u, time.Now()), userNotification(300000+n, u, time.Now())
					a.Payload.Scope = fmt.Sprint("scope", n)
					record(k.SaveNotifications(ctx, []notifications.Notification{a, b}, nil))
				case 2:
					b, err := k.SaveBroadcast(ctx, userNotification(400000+n, "", time.Now()), nil)
					record([]notifications.Notification{b}, err)
				default: // reads and state changes
					_, err := k.List(ctx, notifications.Query{User: u, Limit: 20})
					if err == nil {
						_, err = k.MarkAllRead(ctx, u, notifications.Filter{}, time.Now())
					}
					record(nil, err)
				}
				// Every eight operations, kick the killer (never blocking).
				if done.Add(1)%8 == 0 {
					select {
					case kicks <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	wg.Wait()
	close(kicks)
	<-stopped

	if kills == 0 {
		t.Fatal("no connection was terminated during the run")
	}
	for _, err := range failed {
		if !errors.Is(err, notifications.ErrUnavailable) {
			t.Errorf("error is not ErrUnavailable: %v", err)
		}
	}
	for _, n := range stored {
		u := n.User
		if u == "" {
			u = "user:default/anyone"
		}
		if _, err := k.Get(ctx, u, n.ID); err != nil {
			t.Errorf("acknowledged %s for %q is not stored: %v", n.ID, n.User, err)
		}
	}
	t.Logf("%d connections terminated; %d notifications acknowledged, %d calls failed with ErrUnavailable", kills, len(stored), len(failed))
}
