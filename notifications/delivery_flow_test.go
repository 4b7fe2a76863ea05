package notifications_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/store"
)

// eachStore runs test on a fresh in-memory SQLite store and, when
// testdb.PostgresEnv is set, on a fresh PostgreSQL schema.
func eachStore(t *testing.T, test func(t *testing.T, st notifications.Store)) {
	t.Helper()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) { test(t, st) })
}

// eachStoreOpen is eachStore for tests that need the concrete store.
func eachStoreOpen(t *testing.T, test func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, memoryStore(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, postgresStore(t, testdb.PostgresSchema(t)))
	})
}

// postgresStore opens a PostgreSQL store on dsn, closed when t ends.
func postgresStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// script is a post-processor whose attempts return results in turn (nil
// once they run out), recording each call.
type script struct {
	name    string
	mu      sync.Mutex
	results []func() error
	calls   []scriptCall
}

type scriptCall struct {
	delivery     notifications.Delivery
	notification notifications.Notification
	options      notifications.SendOptions
}

func (s *script) processor() *notifications.PostProcessorFunc {
	return &notifications.PostProcessorFunc{ProcessorName: s.name, Func: func(ctx context.Context, n notifications.Notification, o notifications.SendOptions) error {
		d, _ := notifications.DeliveryFromContext(ctx)
		s.mu.Lock()
		s.calls = append(s.calls, scriptCall{delivery: d, notification: n, options: o})
		var next func() error
		if len(s.results) > 0 {
			next, s.results = s.results[0], s.results[1:]
		}
		s.mu.Unlock()
		if next == nil {
			return nil
		}
		return next()
	}}
}

func (s *script) recorded() []scriptCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func fail(err error) func() error { return func() error { return err } }

// stallingProcessor returns an "audit" post-processor for one attempt
// that blocks until its context ends; started is closed when the attempt
// begins, cancelled when its context has ended.
func stallingProcessor() (p *notifications.PostProcessorFunc, started, cancelled chan struct{}) {
	started, cancelled = make(chan struct{}), make(chan struct{})
	p = &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(ctx context.Context, _ notifications.Notification, _ notifications.SendOptions) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}}
	return p, started, cancelled
}

// scriptedSend returns a delivery fixture on st whose one post-processor,
// "audit", returns results in turn (then nil), and the notification of a
// send to mockUser that it has to deliver.
func scriptedSend(t *testing.T, st notifications.Store, results ...func() error) (deliveryFixture, *script, notifications.Notification) {
	t.Helper()
	sc := &script{name: "audit", results: results}
	f := deliverySetup(t, st, nil, sc.processor())
	ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	return f, sc, ns[0]
}

// outcomeLog records what Config.OnDelivery is called with.
type outcomeLog struct {
	mu sync.Mutex
	ds []notifications.Delivery
}

func (l *outcomeLog) add(_ context.Context, d notifications.Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ds = append(l.ds, d)
}

func (l *outcomeLog) statuses() []notifications.DeliveryStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]notifications.DeliveryStatus, len(l.ds))
	for i, d := range l.ds {
		out[i] = d.Status
	}
	return out
}

type deliveryFixture struct {
	fixture
	clock    *notificationstest.Clock
	outcomes *outcomeLog
	logs     *logRecords
}

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// deliverySetup is setup on st with a fake clock at start, no delivery
// workers (the test runs deliveries), ps as the processors, and
// OnDelivery and the logs recorded.
func deliverySetup(t *testing.T, st notifications.Store, edit func(*notifications.Config), ps ...notifications.Processor) deliveryFixture {
	t.Helper()
	f := deliveryFixture{clock: notificationstest.NewClock(start), outcomes: &outcomeLog{}, logs: &logRecords{}}
	f.fixture = setup(t, func(c *notifications.Config) {
		c.Store = st
		c.Now = f.clock.Now
		c.Processors = ps
		c.OnDelivery = f.outcomes.add
		c.Logger = slog.New(f.logs)
		if edit != nil {
			edit(c)
		}
	})
	return f
}

// only returns the one delivery of notification id.
func (f deliveryFixture) only(t *testing.T, id string) notifications.Delivery {
	t.Helper()
	ds, err := f.svc.Deliveries(f.ctx, notifications.DeliveryFilter{NotificationID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("%d deliveries of %s, want 1: %+v", len(ds), id, ds)
	}
	return ds[0]
}

func TestDeliveryRetriesUntilSent(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		f, sc, n := scriptedSend(t, st, fail(errors.New("boom 1")), fail(errors.New("boom 2")))
		d := f.only(t, n.ID)
		if d.Status != notifications.DeliveryPending || d.Attempts != 0 || d.User != mockUser || d.Processor != "audit" || d.Origin != origin ||
			d.NextAttempt == nil || !d.NextAttempt.Equal(start) {
			t.Fatalf("new delivery %+v", d)
		}

		if n := notificationstest.DeliverAll(t, f.svc); n != 1 {
			t.Fatalf("first run: %d attempts", n)
		}
		d = f.only(t, n.ID)
		// The first retry waits exactly MinBackoff (10s by default).
		if d.Status != notifications.DeliveryRetrying || d.Attempts != 1 || d.LastError != "boom 1" || !d.NextAttempt.Equal(start.Add(10*time.Second)) {
			t.Fatalf("after one failure %+v", d)
		}
		f.clock.Advance(10*time.Second - time.Millisecond)
		if n := notificationstest.DeliverAll(t, f.svc); n != 0 {
			t.Fatalf("%d attempts before the backoff ran out", n)
		}
		f.clock.Advance(time.Millisecond)
		if n := notificationstest.DeliverAll(t, f.svc); n != 1 {
			t.Fatalf("%d attempts once the backoff ran out", n)
		}
		d = f.only(t, n.ID)
		if now := f.clock.Now(); d.Status != notifications.DeliveryRetrying || d.Attempts != 2 || d.LastError != "boom 2" ||
			d.NextAttempt.Before(now.Add(10*time.Second)) || d.NextAttempt.After(now.Add(20*time.Second)) {
			t.Fatalf("after two failures (at %v) %+v", now, d)
		}
		if n := notificationstest.AdvanceUntilDelivered(t, f.svc, f.clock); n != 1 {
			t.Fatalf("%d more attempts, want 1", n)
		}
		d = f.only(t, n.ID)
		if d.Status != notifications.DeliverySent || d.Attempts != 3 || d.NextAttempt != nil {
			t.Fatalf("after the third attempt %+v", d)
		}
		if got, want := f.outcomes.statuses(), []notifications.DeliveryStatus{"retrying", "retrying", "sent"}; !slices.Equal(got, want) {
			t.Fatalf("OnDelivery saw %v, want %v", got, want)
		}
		calls := sc.recorded()
		if len(calls) != 3 {
			t.Fatalf("%d calls", len(calls))
		}
		for i, c := range calls {
			if c.delivery.ID != d.ID || c.delivery.Attempts != i+1 || c.notification.ID != n.ID || c.notification.User != mockUser ||
				c.options.Origin != origin || c.options.Payload.Title != "t" || !slices.Equal(c.options.Recipients.EntityRefs, []string{mockUser}) {
				t.Errorf("call %d: %+v", i+1, c)
			}
		}
		if got := processorFailures(f.logs); len(got) != 2 || attr(got[0], "outcome") != "retrying" || attr(got[0], "delivery_id") != d.ID {
			t.Errorf("failures logged: %v, want one per failed attempt", got)
		}
	})
}

// processorFailures returns the "processor failed" log records.
func processorFailures(l *logRecords) []slog.Record {
	var out []slog.Record
	for _, r := range l.all() {
		if r.Message == "notifications: processor failed" {
			out = append(out, r)
		}
	}
	return out
}

func TestDeliveryPermanentFailsAtOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		f, _, n := scriptedSend(t, st, fail(notifications.Permanent(errors.New("no such mailbox"))))
		if n := notificationstest.AdvanceUntilDelivered(t, f.svc, f.clock); n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
		d := f.only(t, n.ID)
		if d.Status != notifications.DeliveryFailed || d.Attempts != 1 || d.LastError != "no such mailbox" || d.NextAttempt != nil {
			t.Fatalf("delivery %+v", d)
		}
		if got := f.outcomes.statuses(); !slices.Equal(got, []notifications.DeliveryStatus{"failed"}) {
			t.Fatalf("OnDelivery saw %v", got)
		}
	})
}

func TestDeliveryRetryLaterIsHonoured(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		f, _, n := scriptedSend(t, st, fail(notifications.RetryLater(errors.New("429"), time.Hour)))
		notificationstest.DeliverAll(t, f.svc)
		if d := f.only(t, n.ID); d.Status != notifications.DeliveryRetrying || !d.NextAttempt.Equal(start.Add(time.Hour)) {
			t.Fatalf("after a RetryLater of an hour: %+v", d)
		}
		f.clock.Advance(time.Hour - time.Second)
		if n := notificationstest.DeliverAll(t, f.svc); n != 0 {
			t.Fatalf("%d attempts before the asked wait", n)
		}
		f.clock.Advance(time.Second)
		if n := notificationstest.DeliverAll(t, f.svc); n != 1 {
			t.Fatalf("%d attempts after the asked wait", n)
		}
		if d := f.only(t, n.ID); d.Status != notifications.DeliverySent || d.Attempts != 2 {
			t.Fatalf("delivery %+v", d)
		}
	})
}

func TestDeliveryAttemptsExhausted(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		secretURL := "https://hooks.example.com/services/T0/B0/s3cret?token=abc"
		always := func() error {
			return fmt.Errorf("Post %q: %s", secretURL, strings.Repeat("unavailable ", 200))
		}
		sc := &script{name: "audit", results: []func() error{always, always, always, always}}
		f := deliverySetup(t, st, func(c *notifications.Config) {
			c.Retry = notifications.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: time.Minute}
		}, sc.processor())
		ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
		if n := notificationstest.AdvanceUntilDelivered(t, f.svc, f.clock); n != 3 {
			t.Fatalf("%d attempts, want MaxAttempts", n)
		}
		d := f.only(t, ns[0].ID)
		if d.Status != notifications.DeliveryFailed || d.Attempts != 3 || d.NextAttempt != nil {
			t.Fatalf("delivery %+v", d)
		}
		if !strings.HasPrefix(d.LastError, `Post "https://hooks.example.com": unavailable`) || strings.Contains(d.LastError, "s3cret") ||
			len(d.LastError) > notifications.MaxDeliveryErrorLength {
			t.Fatalf("LastError (%d bytes) %q", len(d.LastError), d.LastError)
		}
		if got, want := f.outcomes.statuses(), []notifications.DeliveryStatus{"retrying", "retrying", "failed"}; !slices.Equal(got, want) {
			t.Fatalf("OnDelivery saw %v, want %v", got, want)
		}
	})
}

func TestDeliveryPanicIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		f, _, n := scriptedSend(t, st, func() error { panic("kaboom") })
		notificationstest.DeliverAll(t, f.svc)
		if d := f.only(t, n.ID); d.Status != notifications.DeliveryRetrying || d.Attempts != 1 || d.LastError != "panic: kaboom" {
			t.Fatalf("after a panic: %+v", d)
		}
		logged := processorFailures(f.logs)
		if len(logged) != 1 || !strings.Contains(attr(logged[0], "stack"), "delivery_flow_test.go") {
			t.Fatalf("the panic was not logged once with its stack: %v", logged)
		}
		notificationstest.AdvanceUntilDelivered(t, f.svc, f.clock)
		if d := f.only(t, n.ID); d.Status != notifications.DeliverySent || d.Attempts != 2 {
			t.Fatalf("delivery %+v", d)
		}
	})
}

func TestDeliveryCancelledWhenChannelTurnedOff(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		sc := &script{name: "audit"}
		f := deliverySetup(t, st, nil, sc.processor())
		ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t", Topic: "builds"})
		// Before the attempt, the user turns the audit channel off for
		// the topic.
		saveSettings(t, f.fixture, mockUser, notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "audit",
			Origins: []notifications.OriginSettings{{ID: origin, Enabled: true, Topics: []notifications.TopicSettings{{ID: "builds", Enabled: false}}}}}}})
		if n := notificationstest.AdvanceUntilDelivered(t, f.svc, f.clock); n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
		if calls := sc.recorded(); len(calls) != 0 {
			t.Fatalf("the processor ran for a channel the user turned off: %+v", calls)
		}
		d := f.only(t, ns[0].ID)
		if d.Status != notifications.DeliveryCancelled || d.NextAttempt != nil || !strings.Contains(d.LastError, "audit channel off") {
			t.Fatalf("delivery %+v", d)
		}
		if got := f.outcomes.statuses(); !slices.Equal(got, []notifications.DeliveryStatus{"cancelled"}) {
			t.Fatalf("OnDelivery saw %v", got)
		}
		if logged := processorFailures(f.logs); len(logged) != 0 {
			t.Fatalf("a cancellation was logged as a failure: %v", logged)
		}
	})
}

// Deliveries are written for each (notification, post-processor) the
// filters and channel settings let through: for inbox rows, for a user
// who turned the in-app channel off (from a snapshot), and for broadcasts.
func TestDeliveriesWrittenWithTheSend(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		audit, pager := &script{name: "audit"}, &script{name: "pager"}
		pagerProc := pager.processor()
		pagerProc.ProcessorFilter = notifications.ProcessorFilter{MinSeverity: notifications.SeverityHigh}
		pre := &notifications.PreProcessorFunc{ProcessorName: "pre", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
			return n, nil
		}}
		f := deliverySetup(t, st, nil, pre, audit.processor(), pagerProc)
		other := "user:default/other"
		saveSettings(t, f.fixture, other, webOrigin(origin, false))
		muted := "user:default/muted"
		saveSettings(t, f.fixture, muted, notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "audit", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}}}})

		normal := f.send(t, notifications.Entity(mockUser, muted), notifications.Payload{Title: "normal"})
		if len(normal) != 2 {
			t.Fatalf("sent %v", normal)
		}
		if suppressed := f.send(t, notifications.Entity(other), notifications.Payload{Title: "high", Severity: notifications.SeverityHigh}); len(suppressed) != 0 {
			t.Fatalf("Web off still stored %v", suppressed)
		}
		bcast := f.send(t, notifications.Broadcast(), notifications.Payload{Title: "everyone"})

		all, err := f.svc.Deliveries(f.ctx, notifications.DeliveryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, d := range all {
			got[d.Processor+" "+cmp.Or(d.User, "everyone")]++
		}
		want := map[string]int{"audit " + mockUser: 1, "audit " + other: 1, "pager " + other: 1, "audit everyone": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("deliveries %v, want %v", got, want)
		}
		if byPager, err := f.svc.Deliveries(f.ctx, notifications.DeliveryFilter{Processor: "pager"}); err != nil || len(byPager) != 1 {
			t.Fatalf("pager's deliveries: %v, %v", byPager, err)
		}
		if n := notificationstest.DeliverAll(t, f.svc); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
		titles := map[string]string{}
		for _, c := range append(audit.recorded(), pager.recorded()...) {
			titles[c.delivery.Processor+" "+cmp.Or(c.notification.User, "everyone")] = c.notification.Payload.Title
			if c.notification.ID != c.delivery.NotificationID {
				t.Errorf("delivery %+v ran for notification %s", c.delivery, c.notification.ID)
			}
		}
		if titles["audit "+mockUser] != "normal" || titles["pager "+other] != "high" || titles["audit "+other] != "high" || titles["audit everyone"] != "everyone" {
			t.Fatalf("processors saw %v", titles)
		}
		if d := f.only(t, bcast[0].ID); d.User != "" || d.Status != notifications.DeliverySent {
			t.Fatalf("broadcast delivery %+v", d)
		}
		// A send that no post-processor takes writes no delivery.
		saveSettings(t, f.fixture, mockUser, notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "audit", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}}}})
		none := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "none"})
		if ds, err := f.svc.Deliveries(f.ctx, notifications.DeliveryFilter{NotificationID: none[0].ID}); err != nil || len(ds) != 0 {
			t.Fatalf("deliveries of a send no processor takes: %+v, %v", ds, err)
		}
	})
}

func TestRetryDelivery(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		f, _, n := scriptedSend(t, st, fail(notifications.Permanent(errors.New("rejected"))))
		notificationstest.DeliverAll(t, f.svc)
		d := f.only(t, n.ID)
		if d.Status != notifications.DeliveryFailed {
			t.Fatalf("delivery %+v", d)
		}
		f.clock.Advance(time.Hour)
		if err := f.svc.RetryDelivery(f.ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if d := f.only(t, n.ID); d.Status != notifications.DeliveryPending || d.Attempts != 0 || !d.NextAttempt.Equal(f.clock.Now()) {
			t.Fatalf("requeued %+v", d)
		}
		if n := notificationstest.DeliverAll(t, f.svc); n != 1 {
			t.Fatalf("%d attempts after RetryDelivery", n)
		}
		if d := f.only(t, n.ID); d.Status != notifications.DeliverySent || d.Attempts != 1 {
			t.Fatalf("retried %+v", d)
		}
		for _, id := range []string{d.ID, "5f1d1b7e-9a9b-4c47-8c0e-1d2e3f405162", "not-a-uuid"} {
			if err := f.svc.RetryDelivery(f.ctx, id); !errors.Is(err, notifications.ErrNotFound) {
				t.Errorf("RetryDelivery(%s) = %v, want ErrNotFound", id, err)
			}
		}
		if _, err := f.svc.Delivery(f.ctx, "5f1d1b7e-9a9b-4c47-8c0e-1d2e3f405162"); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("Delivery(unknown) = %v", err)
		}
		if got, err := f.svc.Delivery(f.ctx, d.ID); err != nil || got.Status != notifications.DeliverySent {
			t.Errorf("Delivery = %+v, %v", got, err)
		}
	})
}

// A scoped re-send before the attempt replaces the pending delivery: one
// attempt, with the new content.
func TestScopedResendReplacesPendingDelivery(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		sc := &script{name: "audit"}
		f := deliverySetup(t, st, nil, sc.processor())
		first := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "v1", Scope: "deploy"})
		before := f.only(t, first[0].ID)
		f.clock.Advance(time.Second)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "v2", Scope: "deploy"})
		if after := f.only(t, first[0].ID); after.ID != before.ID || after.Status != notifications.DeliveryPending {
			t.Fatalf("re-sent delivery %+v, was %+v", after, before)
		}
		if n := notificationstest.DeliverAll(t, f.svc); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		if calls := sc.recorded(); len(calls) != 1 || calls[0].notification.Payload.Title != "v2" || calls[0].options.Payload.Title != "v2" {
			t.Fatalf("calls %+v", calls)
		}
	})
}

// A local send wakes the workers at once: with an hour between polls, the
// delivery still runs.
func TestLocalSendWakesWorkers(t *testing.T) {
	t.Parallel()
	outcomes := make(chan notifications.Delivery, 4)
	sc := &script{name: "audit", results: []func() error{fail(notifications.Permanent(errors.New("rejected")))}}
	f := setup(t, func(c *notifications.Config) {
		c.Processors = []notifications.Processor{sc.processor()}
		c.DeliveryWorkers = 2
		c.DeliveryPollInterval = time.Hour
		c.OnDelivery = func(_ context.Context, d notifications.Delivery) { outcomes <- d }
	})
	// The dispatcher's first claim runs at start; the send comes after.
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	if d := waitFor(t, outcomes, "the delivery"); d.Status != notifications.DeliveryFailed {
		t.Fatalf("first outcome %+v", d)
	}
	// RetryDelivery wakes them too.
	ds, err := f.svc.Deliveries(f.ctx, notifications.DeliveryFilter{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v, %v", ds, err)
	}
	if err := f.svc.RetryDelivery(f.ctx, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	if d := waitFor(t, outcomes, "the retried delivery"); d.Status != notifications.DeliverySent || d.ID != ds[0].ID {
		t.Fatalf("second outcome %+v", d)
	}
}

// Polling picks up deliveries another Service wrote.
func TestWorkersPollTheStore(t *testing.T) {
	t.Parallel()
	st := memoryStore(t)
	writer := setup(t, func(c *notifications.Config) {
		c.Store = st
		c.Processors = []notifications.Processor{(&script{name: "audit"}).processor()}
	})
	outcomes := make(chan notifications.Delivery, 1)
	sc := &script{name: "audit"}
	setup(t, func(c *notifications.Config) {
		c.Store = st
		c.Processors = []notifications.Processor{sc.processor()}
		c.DeliveryWorkers = 1
		c.DeliveryPollInterval = 10 * time.Millisecond
		c.OnDelivery = func(_ context.Context, d notifications.Delivery) { outcomes <- d }
	})
	ns := writer.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	if d := waitFor(t, outcomes, "the other Service's delivery"); d.Status != notifications.DeliverySent || d.NotificationID != ns[0].ID {
		t.Fatalf("outcome %+v", d)
	}
}

// renewSpy reports every lease renewal a Service makes, after the store
// took it.
type renewSpy struct {
	notifications.Store
	renewed chan time.Time
}

func (s renewSpy) RenewDeliveryLease(ctx context.Context, id, token string, until time.Time) error {
	err := s.Store.RenewDeliveryLease(ctx, id, token, until)
	if err == nil {
		select {
		case s.renewed <- until:
		default:
		}
	}
	return err
}

// A running attempt renews its lease, so no other Service takes the
// delivery over while it runs.
func TestLeaseRenewedWhileAttemptRuns(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		const lease = 300 * time.Millisecond
		started, release := make(chan struct{}), make(chan struct{})
		slow := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(context.Context, notifications.Notification, notifications.SendOptions) error {
			close(started)
			<-release
			return nil
		}}
		spy := renewSpy{Store: st, renewed: make(chan time.Time, 1)}
		a := deliverySetup(t, spy, func(c *notifications.Config) { c.DeliveryLease = lease }, slow)
		ns := a.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
		ran := runInBackground(a.svc)
		waitFor(t, started, "the attempt")
		a.clock.Advance(time.Second) // past the first lease
		for {
			if until := waitFor(t, spy.renewed, "a renewal"); until.Equal(a.clock.Now().Add(lease)) {
				break
			}
		}
		// Another Service at the same time finds nothing due.
		b := deliverySetup(t, st, nil, (&script{name: "audit"}).processor())
		b.clock.Set(a.clock.Now())
		if n := notificationstest.DeliverAll(t, b.svc); n != 0 {
			t.Fatalf("another Service took over a renewed lease (%d attempts)", n)
		}
		close(release)
		if r := waitFor(t, ran, "the attempt to end"); r.n != 1 || r.err != nil {
			t.Fatalf("RunDueDeliveries = %d, %v", r.n, r.err)
		}
		if d := a.only(t, ns[0].ID); d.Status != notifications.DeliverySent || d.Attempts != 1 {
			t.Fatalf("delivery %+v", d)
		}
	})
}

// When a lease runs out and another Service claims the delivery, the
// first attempt's context is cancelled with ErrLeaseLost and its outcome
// is never recorded: the attempts do not overlap for long, and the later
// claim's outcome stands.
func TestLostLeaseFencesTheAttempt(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		started, cause := make(chan struct{}), make(chan error, 1)
		stalled := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(ctx context.Context, _ notifications.Notification, _ notifications.SendOptions) error {
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		}}
		a := deliverySetup(t, st, func(c *notifications.Config) { c.DeliveryLease = 300 * time.Millisecond }, stalled)
		ns := a.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
		ran := runInBackground(a.svc)
		waitFor(t, started, "the first attempt")

		sc := &script{name: "audit"}
		b := deliverySetup(t, st, nil, sc.processor())
		b.clock.Set(start.Add(time.Second)) // a's clock stands still: its lease is out for b
		// On PostgreSQL a claim skips a row locked by a renewal under way
		// (SKIP LOCKED): try again until the claim lands between two.
		for try := 0; notificationstest.DeliverAll(t, b.svc) == 0; try++ {
			if try == 1000 {
				t.Fatal("the second Service never took the lapsed delivery over")
			}
		}
		if err := waitFor(t, cause, "the first attempt's cancellation"); !errors.Is(err, notifications.ErrLeaseLost) {
			t.Fatalf("first attempt cancelled by %v, want ErrLeaseLost", err)
		}
		if r := waitFor(t, ran, "the first Service's run"); r.n != 1 || r.err != nil {
			t.Fatalf("RunDueDeliveries = %d, %v", r.n, r.err)
		}
		if d := b.only(t, ns[0].ID); d.Status != notifications.DeliverySent || d.Attempts != 2 {
			t.Fatalf("delivery %+v", d)
		}
		if got := a.outcomes.statuses(); len(got) != 0 {
			t.Fatalf("the fenced attempt recorded %v", got)
		}
	})
}

type runResult struct {
	n   int
	err error
}

// runInBackground runs svc's due deliveries on another goroutine and
// reports the result.
func runInBackground(svc *notifications.Service) <-chan runResult {
	ran := make(chan runResult, 1)
	go func() {
		n, err := svc.RunDueDeliveries(context.Background())
		ran <- runResult{n, err}
	}()
	return ran
}
