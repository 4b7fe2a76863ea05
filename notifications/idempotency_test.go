package notifications_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/store"
)

// keyed is a send of title to refs from origin with key.
func keyed(key, title string, refs ...string) notifications.SendOptions {
	return notifications.SendOptions{Origin: origin, Recipients: notifications.Entity(refs...),
		Payload: notifications.Payload{Title: title}, IdempotencyKey: key}
}

// idemService is a Service on st with a counting post-processor, a fake
// clock and no workers.
type idemService struct {
	svc      *notifications.Service
	st       *store.Store
	clock    *notificationstest.Clock
	signals  *signalLog
	resolved *atomic.Int32
}

func newIdemService(t *testing.T, st *store.Store, edit func(*notifications.Config)) idemService {
	t.Helper()
	is := idemService{st: st, clock: notificationstest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)),
		signals: &signalLog{}, resolved: &atomic.Int32{}}
	cfg := notifications.Config{
		Store: st, Signals: is.signals, Now: is.clock.Now, DeliveryWorkers: -1,
		Resolver: notifications.RecipientResolverFunc(func(_ context.Context, o notifications.ResolveOptions) ([]string, error) {
			is.resolved.Add(1)
			return o.EntityRefs, nil
		}),
		Processors: []notifications.Processor{&notifications.PostProcessorFunc{ProcessorName: "audit",
			Func: func(context.Context, notifications.Notification, notifications.SendOptions) error { return nil }}},
	}
	if edit != nil {
		edit(&cfg)
	}
	svc := startService(t, cfg)
	is.svc = svc
	return is
}

// count runs a COUNT(*) query on the store's database.
func count(t *testing.T, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func ids(ns []notifications.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func mustSend(t *testing.T, svc *notifications.Service, o notifications.SendOptions) []notifications.Notification {
	t.Helper()
	ns, err := svc.Send(t.Context(), o)
	if err != nil {
		t.Fatalf("Send %q: %v", o.IdempotencyKey, err)
	}
	return ns
}

func TestIdempotentSendTwice(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, nil)
		first := mustSend(t, is.svc, keyed("k-1", "Build failed", "user:alice", "user:bob"))
		// The same request spelled differently: user:alice is
		// user:default/alice, and severity normal is the default.
		again := keyed("k-1", "Build failed", "user:default/alice", "user:bob")
		again.Payload.Severity = notifications.SeverityNormal
		second := mustSend(t, is.svc, again)
		if len(first) != 2 || !slices.Equal(ids(first), ids(second)) {
			t.Fatalf("replay returned %v, first send %v", ids(second), ids(first))
		}
		for i := range first {
			if !first[i].Created.Equal(second[i].Created) || first[i].User != second[i].User || first[i].Payload.Title != second[i].Payload.Title {
				t.Errorf("replayed notification %d = %+v, first %+v", i, second[i], first[i])
			}
		}
		if n := is.resolved.Load(); n != 1 {
			t.Errorf("recipients resolved %d times, want once: the replay must not run the pipeline", n)
		}
		if got := count(t, st, "SELECT COUNT(*) FROM notification"); got != 2 {
			t.Errorf("%d notifications stored, want 2", got)
		}
		if got := count(t, st, "SELECT COUNT(*) FROM delivery"); got != 2 {
			t.Errorf("%d deliveries stored, want 2", got)
		}
		if got := len(is.signals.all()); got != 2 {
			t.Errorf("%d signals, want 2 (none for the replay)", got)
		}
		// A plugin's Sender takes the key through SendWith.
		third, err := notifications.SendWith(t.Context(), is.svc.Sender(origin), again)
		if err != nil || !slices.Equal(ids(third), ids(first)) {
			t.Fatalf("SendWith: %v, %v", ids(third), err)
		}
	})
}

func TestIdempotencyConflict(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, nil)
		mustSend(t, is.svc, keyed("k-2", "one", "user:alice"))
		for name, o := range map[string]notifications.SendOptions{
			"title":      keyed("k-2", "two", "user:alice"),
			"recipients": keyed("k-2", "one", "user:bob"),
			"severity": func() notifications.SendOptions {
				o := keyed("k-2", "one", "user:alice")
				o.Payload.Severity = notifications.SeverityHigh
				return o
			}(),
		} {
			if _, err := is.svc.Send(t.Context(), o); !errors.Is(err, notifications.ErrIdempotencyConflict) {
				t.Errorf("%s changed: %v, want ErrIdempotencyConflict", name, err)
			}
		}
		if got := count(t, st, "SELECT COUNT(*) FROM notification"); got != 1 {
			t.Errorf("%d notifications stored, want 1", got)
		}
	})
}

func TestIdempotencyKeyPerOrigin(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, nil)
		a := mustSend(t, is.svc, keyed("shared", "t", "user:alice"))
		o := keyed("shared", "t", "user:alice")
		o.Origin = "external:other"
		b := mustSend(t, is.svc, o)
		if len(a) != 1 || len(b) != 1 || a[0].ID == b[0].ID {
			t.Fatalf("another origin's key replayed: %v and %v", ids(a), ids(b))
		}
		if got := count(t, st, "SELECT COUNT(*) FROM herald_send WHERE idempotency_key = 'shared'"); got != 2 {
			t.Errorf("%d keyed send rows, want 2", got)
		}
	})
}

func TestIdempotencyKeyValidated(t *testing.T) {
	t.Parallel()
	is := newIdemService(t, memoryStore(t), nil)
	for _, key := range []string{"with space", "tab\t", "é", string(make([]byte, notifications.MaxIdempotencyKeyLength+1))} {
		_, err := is.svc.Send(t.Context(), keyed(key, "t", "user:alice"))
		var verr *notifications.ValidationError
		if !errors.As(err, &verr) || verr.Fields[0].Field != "idempotencyKey" {
			t.Errorf("key %q: %v, want a ValidationError naming idempotencyKey", key, err)
		}
	}
	if got := count(t, is.st, "SELECT COUNT(*) FROM herald_send"); got != 0 {
		t.Errorf("bad keys wrote %d send rows", got)
	}
}

// A send that stores nothing (its only recipient turned the in-app channel
// and the processor off) still holds its key: the replay returns the same
// empty result and writes nothing.
func TestIdempotentSendEmptyResult(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, nil)
		off := notifications.Settings{Channels: []notifications.ChannelSettings{
			{ID: notifications.WebChannel, Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}},
			{ID: "audit", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}},
		}}
		if _, err := is.svc.SaveSettings(t.Context(), "user:default/alice", off); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if ns := mustSend(t, is.svc, keyed("empty", "t", "user:alice")); len(ns) != 0 {
				t.Fatalf("sent %d, want none", len(ns))
			}
		}
		if n := is.resolved.Load(); n != 1 {
			t.Errorf("resolved %d times, want once", n)
		}
		if got := count(t, st, "SELECT COUNT(*) FROM herald_send WHERE idempotency_key = 'empty'"); got != 1 {
			t.Errorf("%d send rows for the key, want 1", got)
		}
		if _, err := is.svc.Send(t.Context(), keyed("empty", "other", "user:alice")); !errors.Is(err, notifications.ErrIdempotencyConflict) {
			t.Errorf("different request after an empty send: %v, want ErrIdempotencyConflict", err)
		}
	})
}

func TestIdempotentBroadcast(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, nil)
		o := notifications.SendOptions{Origin: origin, Recipients: notifications.Broadcast(),
			Payload: notifications.Payload{Title: "maintenance", Scope: "m-1"}, IdempotencyKey: "b-1"}
		first := mustSend(t, is.svc, o)
		second := mustSend(t, is.svc, o)
		if len(first) != 1 || !slices.Equal(ids(first), ids(second)) {
			t.Fatalf("broadcast replay %v, first %v", ids(second), ids(first))
		}
		if got := count(t, st, "SELECT COUNT(*) FROM broadcast"); got != 1 {
			t.Errorf("%d broadcasts, want 1", got)
		}
	})
}

// The key expires Config.IdempotencyTTL after the first send: then the
// same key sends again, even a different request, and the cleaner forgets
// expired keys.
func TestIdempotencyKeyExpires(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, func(c *notifications.Config) { c.IdempotencyTTL = time.Hour })
		first := mustSend(t, is.svc, keyed("ttl", "t", "user:alice"))
		is.clock.Advance(time.Hour)
		if again := mustSend(t, is.svc, keyed("ttl", "t", "user:alice")); !slices.Equal(ids(again), ids(first)) {
			t.Fatalf("within the TTL: %v, want the first send %v", ids(again), ids(first))
		}
		is.clock.Advance(time.Millisecond)
		later := mustSend(t, is.svc, keyed("ttl", "changed", "user:alice"))
		if len(later) != 1 || later[0].ID == first[0].ID {
			t.Fatalf("after the TTL: %v, want a new send", ids(later))
		}
		if replay := mustSend(t, is.svc, keyed("ttl", "changed", "user:alice")); !slices.Equal(ids(replay), ids(later)) {
			t.Fatalf("the new send holds the key: %v, want %v", ids(replay), ids(later))
		}
		if got := count(t, st, "SELECT COUNT(*) FROM herald_send WHERE idempotency_key = 'ttl'"); got != 1 {
			t.Errorf("%d rows hold the key, want 1", got)
		}
		// Retention: the first send gave its key up to the new one, whose
		// key has not expired yet; then it goes.
		if n, err := is.svc.DeleteExpiredIdempotencyKeys(t.Context()); err != nil || n != 0 {
			t.Fatalf("DeleteExpiredIdempotencyKeys = %d, %v; want 0", n, err)
		}
		is.clock.Advance(time.Hour + time.Millisecond)
		if n, err := is.svc.DeleteExpiredIdempotencyKeys(t.Context()); err != nil || n != 1 {
			t.Fatalf("DeleteExpiredIdempotencyKeys = %d, %v; want 1", n, err)
		}
		if got := count(t, st, "SELECT COUNT(*) FROM herald_send WHERE idempotency_key IS NOT NULL"); got != 0 {
			t.Errorf("%d keys left after expiry", got)
		}
	})
}

// concurrentKeyed sends one keyed request 8 times at once, spread over
// svcs, and checks that exactly one send was stored and every caller got
// its result.
func concurrentKeyed(t *testing.T, st *store.Store, svcs ...*notifications.Service) {
	t.Helper()
	const senders = 8
	results := make([][]notifications.Notification, senders)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			<-start
			ns, err := svcs[i%len(svcs)].Send(context.Background(), keyed("concurrent", "t", "user:alice", "user:bob"))
			if err != nil {
				t.Errorf("sender %d: %v", i, err)
			}
			results[i] = ns
		})
	}
	close(start)
	wg.Wait()
	for i := range results {
		if len(results[i]) != 2 || !slices.Equal(ids(results[i]), ids(results[0])) {
			t.Errorf("sender %d got %v, sender 0 %v", i, ids(results[i]), ids(results[0]))
		}
	}
	if got := count(t, st, "SELECT COUNT(*) FROM herald_send"); got != 1 {
		t.Errorf("%d send rows, want 1", got)
	}
	if got := count(t, st, "SELECT COUNT(*) FROM notification"); got != 2 {
		t.Errorf("%d notifications, want 2", got)
	}
	if got := count(t, st, "SELECT COUNT(*) FROM delivery"); got != 2 {
		t.Errorf("%d deliveries, want 2", got)
	}
}

func TestConcurrentIdempotentSends(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "herald.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		concurrentKeyed(t, st, newIdemService(t, st, nil).svc)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		st := postgresStore(t, testdb.PostgresSchema(t))
		concurrentKeyed(t, st, newIdemService(t, st, nil).svc)
	})
	t.Run("postgres-two-services", func(t *testing.T) {
		t.Parallel()
		dsn := testdb.PostgresSchema(t)
		st := postgresStore(t, dsn)
		concurrentKeyed(t, st, newIdemService(t, st, nil).svc, newIdemService(t, postgresStore(t, dsn), nil).svc)
	})
}

// A first send that failed holds no key: the next one runs.
func TestIdempotentSendAfterFailure(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	is := newIdemService(t, memoryStore(t), func(c *notifications.Config) {
		c.Resolver = notifications.RecipientResolverFunc(func(_ context.Context, o notifications.ResolveOptions) ([]string, error) {
			if down.Load() {
				return nil, errors.New("catalog down")
			}
			return o.EntityRefs, nil
		})
	})
	if _, err := is.svc.Send(t.Context(), keyed("retry", "t", "user:alice")); err == nil {
		t.Fatal("send with the catalog down succeeded")
	}
	down.Store(false)
	if ns := mustSend(t, is.svc, keyed("retry", "t", "user:alice")); len(ns) != 1 {
		t.Fatalf("retry sent %d, want 1", len(ns))
	}
}
