package notifications_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/store"
)

func toAlice(title string) notifications.SendOptions {
	return notifications.SendOptions{Origin: origin, Recipients: notifications.Entity("user:alice"), Payload: notifications.Payload{Title: title}}
}

func mustSchedule(t *testing.T, svc *notifications.Service, o notifications.SendOptions, at time.Time) notifications.ScheduledSend {
	t.Helper()
	s, err := svc.Schedule(t.Context(), o, at)
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	return s
}

func runSchedules(t *testing.T, svc *notifications.Service) int {
	t.Helper()
	return notificationstest.RunSchedules(t, svc)
}

func scheduleStatus(t *testing.T, svc *notifications.Service, id string) notifications.ScheduledSend {
	t.Helper()
	s, err := svc.ScheduledSend(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScheduleDueEarlyPast(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, nil)
		now := is.clock.Now()
		at := now.Add(time.Hour)
		s := mustSchedule(t, is.svc, toAlice("in an hour"), at)
		if s.Status != notifications.ScheduleWaiting || !s.At.Equal(at) || s.Options.Recipients.EntityRefs[0] != "user:default/alice" ||
			s.Options.Payload.Severity != notifications.SeverityNormal || s.Options.Origin != origin {
			t.Fatalf("scheduled %+v; want waiting, canonical", s)
		}
		// Early: nothing runs, nothing is resolved.
		if n := runSchedules(t, is.svc); n != 0 || is.resolved.Load() != 0 {
			t.Fatalf("ran %d (resolved %d) an hour early", n, is.resolved.Load())
		}
		is.clock.Set(at.Add(-time.Millisecond))
		if n := runSchedules(t, is.svc); n != 0 {
			t.Fatalf("ran %d a millisecond early", n)
		}
		// Due.
		is.clock.Set(at)
		if n := runSchedules(t, is.svc); n != 1 {
			t.Fatalf("ran %d at the due time, want 1", n)
		}
		if got := count(t, st, "SELECT COUNT(*) FROM notification"); got != 1 {
			t.Fatalf("%d notifications, want 1", got)
		}
		if got := scheduleStatus(t, is.svc, s.ID); got.Status != notifications.ScheduleSent || got.Attempts != 1 {
			t.Fatalf("after the run: %+v, want sent after 1 attempt", got)
		}
		if n := runSchedules(t, is.svc); n != 0 {
			t.Fatalf("ran %d again", n)
		}
		// A deliveries' send: the post-processor's delivery was written
		// with the run.
		if got := count(t, st, "SELECT COUNT(*) FROM delivery"); got != 1 {
			t.Errorf("%d deliveries, want 1", got)
		}
		// Past: due at once.
		past := mustSchedule(t, is.svc, toAlice("yesterday"), is.clock.Now().Add(-24*time.Hour))
		if n := runSchedules(t, is.svc); n != 1 {
			t.Fatalf("a past schedule ran %d times, want 1", n)
		}
		if got := scheduleStatus(t, is.svc, past.ID); got.Status != notifications.ScheduleSent {
			t.Fatalf("past schedule %+v", got)
		}
		sent, err := is.svc.ScheduledSends(t.Context(), notifications.ScheduleFilter{Status: notifications.ScheduleSent})
		if err != nil || len(sent) != 2 || sent[0].ID != past.ID || sent[1].ID != s.ID {
			t.Fatalf("ScheduledSends(sent) = %v, %v; want past then s, by At", sent, err)
		}
	})
}

func TestScheduleCancel(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, nil)
		s := mustSchedule(t, is.svc, toAlice("never"), is.clock.Now().Add(time.Minute))
		if err := is.svc.CancelScheduled(t.Context(), s.ID); err != nil {
			t.Fatal(err)
		}
		if err := is.svc.CancelScheduled(t.Context(), s.ID); !errors.Is(err, notifications.ErrNotFound) {
			t.Fatalf("cancelled twice: %v, want ErrNotFound", err)
		}
		is.clock.Advance(time.Hour)
		if n := runSchedules(t, is.svc); n != 0 {
			t.Fatalf("a cancelled schedule ran %d times", n)
		}
		if got := count(t, st, "SELECT COUNT(*) FROM notification"); got != 0 {
			t.Fatalf("%d notifications from a cancelled schedule", got)
		}
		if got := scheduleStatus(t, is.svc, s.ID); got.Status != notifications.ScheduleCancelled {
			t.Fatalf("status %s, want cancelled", got.Status)
		}
		// One that ran cannot be cancelled.
		ran := mustSchedule(t, is.svc, toAlice("now"), is.clock.Now())
		runSchedules(t, is.svc)
		if err := is.svc.CancelScheduled(t.Context(), ran.ID); !errors.Is(err, notifications.ErrNotFound) {
			t.Fatalf("cancel after the run: %v, want ErrNotFound", err)
		}
		for _, id := range []string{"nope", "00000000-0000-4000-8000-000000000000"} {
			if err := is.svc.CancelScheduled(t.Context(), id); !errors.Is(err, notifications.ErrNotFound) {
				t.Errorf("cancel %q: %v, want ErrNotFound", id, err)
			}
		}
	})
}

// A cancel that lands while the run resolves recipients wins: the run's
// commit is fenced and writes nothing.
func TestScheduleCancelledDuringRun(t *testing.T) {
	t.Parallel()
	var svc atomic.Pointer[notifications.Service]
	var id atomic.Value
	is := newIdemService(t, memoryStore(t), func(c *notifications.Config) {
		c.Resolver = notifications.RecipientResolverFunc(func(ctx context.Context, o notifications.ResolveOptions) ([]string, error) {
			if err := svc.Load().CancelScheduled(ctx, id.Load().(string)); err != nil {
				return nil, err
			}
			return o.EntityRefs, nil
		})
	})
	svc.Store(is.svc)
	s := mustSchedule(t, is.svc, toAlice("raced"), is.clock.Now())
	id.Store(s.ID)
	if n := runSchedules(t, is.svc); n != 0 {
		t.Fatalf("committed %d runs of a cancelled schedule", n)
	}
	if got := count(t, is.st, "SELECT COUNT(*) FROM notification"); got != 0 {
		t.Fatalf("%d notifications", got)
	}
	if got := scheduleStatus(t, is.svc, s.ID); got.Status != notifications.ScheduleCancelled {
		t.Fatalf("status %s, want cancelled", got.Status)
	}
}

func TestScheduleValidatesNow(t *testing.T) {
	t.Parallel()
	is := newIdemService(t, memoryStore(t), nil)
	for name, o := range map[string]notifications.SendOptions{
		"no title": toAlice(""),
		"bad ref":  {Origin: origin, Recipients: notifications.Entity("not a ref"), Payload: notifications.Payload{Title: "t"}},
		"bad key":  func() notifications.SendOptions { o := toAlice("t"); o.IdempotencyKey = "a b"; return o }(),
	} {
		if _, err := is.svc.Schedule(t.Context(), o, is.clock.Now()); !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	var verr *notifications.ValidationError
	if _, err := is.svc.Schedule(t.Context(), toAlice("t"), time.Time{}); !errors.As(err, &verr) || verr.Fields[0].Field != "deliverAt" {
		t.Errorf("zero time: %v, want a ValidationError naming deliverAt", err)
	}
	if got := count(t, is.st, "SELECT COUNT(*) FROM herald_schedule"); got != 0 {
		t.Errorf("%d schedules stored from bad input", got)
	}
}

func TestScheduleIdempotencyKey(t *testing.T) {
	t.Parallel()
	eachStoreOpen(t, func(t *testing.T, st *store.Store) {
		is := newIdemService(t, st, func(c *notifications.Config) { c.IdempotencyTTL = time.Hour })
		at := is.clock.Now().Add(time.Minute)
		o := toAlice("keyed")
		o.IdempotencyKey = "job-7"
		first := mustSchedule(t, is.svc, o, at)
		if again := mustSchedule(t, is.svc, o, at); again.ID != first.ID || again.Options.IdempotencyKey != "job-7" {
			t.Fatalf("rescheduled: %+v, want %s", again, first.ID)
		}
		if _, err := is.svc.Schedule(t.Context(), o, at.Add(time.Second)); !errors.Is(err, notifications.ErrIdempotencyConflict) {
			t.Fatalf("another time: %v, want ErrIdempotencyConflict", err)
		}
		// The run carries no key into the send: a plain send with the key
		// is unrelated.
		is.clock.Set(at)
		runSchedules(t, is.svc)
		if got := count(t, st, "SELECT COUNT(*) FROM herald_send WHERE idempotency_key IS NOT NULL"); got != 0 {
			t.Errorf("the run wrote %d keyed send rows", got)
		}
		// The key holds for the TTL after the run, then is free again.
		is.clock.Advance(time.Hour)
		if again := mustSchedule(t, is.svc, o, at); again.ID != first.ID {
			t.Fatalf("within the TTL after the run: %s, want %s", again.ID, first.ID)
		}
		is.clock.Advance(time.Millisecond)
		if n, err := is.svc.DeleteExpiredIdempotencyKeys(t.Context()); err != nil || n != 1 {
			t.Fatalf("DeleteExpiredIdempotencyKeys = %d, %v; want the schedule's key", n, err)
		}
		if next := mustSchedule(t, is.svc, o, at); next.ID == first.ID {
			t.Fatal("after the TTL the key still returned the old schedule")
		}
		if got := count(t, st, "SELECT COUNT(*) FROM herald_schedule"); got != 2 {
			t.Errorf("%d schedules, want 2", got)
		}
	})
}

// A run that fails for a reason that may pass is retried with the retry
// policy, then marked failed with its error; an invalid one fails at once.
func TestScheduleRetriesThenFails(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	is := newIdemService(t, memoryStore(t), func(c *notifications.Config) {
		c.Retry = notifications.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Minute, MaxBackoff: time.Minute}
		c.Resolver = notifications.RecipientResolverFunc(func(_ context.Context, o notifications.ResolveOptions) ([]string, error) {
			if down.Load() {
				return nil, errors.New("catalog down")
			}
			if o.EntityRefs[0] == "group:default/gone" {
				return nil, &notifications.ValidationError{Fields: []notifications.FieldError{{Field: "recipients", Message: "unknown group"}}}
			}
			return o.EntityRefs, nil
		})
	})
	s := mustSchedule(t, is.svc, toAlice("flaky"), is.clock.Now())
	runSchedules(t, is.svc)
	got := scheduleStatus(t, is.svc, s.ID)
	if got.Status != notifications.ScheduleWaiting || got.Attempts != 1 || got.LastError == "" {
		t.Fatalf("after a failed run: %+v, want waiting with the error", got)
	}
	if n := runSchedules(t, is.svc); n != 0 {
		t.Fatalf("the retry ran before its backoff")
	}
	is.clock.Advance(time.Minute)
	down.Store(false)
	if n := runSchedules(t, is.svc); n != 1 {
		t.Fatalf("the retry committed %d sends, want 1", n)
	}
	if got := scheduleStatus(t, is.svc, s.ID); got.Status != notifications.ScheduleSent || got.Attempts != 2 {
		t.Fatalf("after the retry: %+v", got)
	}

	down.Store(true)
	exhausted := mustSchedule(t, is.svc, toAlice("down"), is.clock.Now())
	for range 3 {
		runSchedules(t, is.svc)
		is.clock.Advance(time.Minute)
	}
	if got := scheduleStatus(t, is.svc, exhausted.ID); got.Status != notifications.ScheduleFailed || got.Attempts != 3 || got.LastError == "" {
		t.Fatalf("after 3 failed runs: %+v, want failed", got)
	}

	down.Store(false)
	invalid := mustSchedule(t, is.svc, notifications.SendOptions{Origin: origin, Recipients: notifications.Entity("group:gone"),
		Payload: notifications.Payload{Title: "t"}}, is.clock.Now())
	runSchedules(t, is.svc)
	if got := scheduleStatus(t, is.svc, invalid.ID); got.Status != notifications.ScheduleFailed || got.Attempts != 1 {
		t.Fatalf("an invalid run: %+v, want failed after 1 attempt", got)
	}
}

// A schedule survives a restart between Schedule and its time: the SQLite
// file is closed and opened again, and the new Service runs it.
func TestScheduleSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	clock := notificationstest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	open := func() (*store.Store, *notifications.Service) {
		st, err := store.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := notifications.New(notifications.Config{Store: st, Now: clock.Now, DeliveryWorkers: -1})
		if err != nil {
			t.Fatal(err)
		}
		return st, svc
	}
	st, svc := open()
	s := mustSchedule(t, svc, toAlice("after the restart"), clock.Now().Add(time.Hour))
	if err := svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(2 * time.Hour)
	st, svc = open()
	t.Cleanup(func() { closeService(t, svc); st.Close() })
	if n := runSchedules(t, svc); n != 1 {
		t.Fatalf("after the restart %d runs, want 1", n)
	}
	res, err := svc.List(t.Context(), "user:default/alice", notifications.ListOptions{})
	if err != nil || res.TotalCount != 1 || res.Notifications[0].Payload.Title != "after the restart" {
		t.Fatalf("inbox after the run: %+v, %v", res, err)
	}
	if got := scheduleStatus(t, svc, s.ID); got.Status != notifications.ScheduleSent {
		t.Fatalf("status %s", got.Status)
	}
}

// The Service's own scheduler runs a due schedule without being asked.
func TestSchedulerRunsInBackground(t *testing.T) {
	t.Parallel()
	sent := make(chan notifications.Notification, 1)
	svc, err := notifications.New(notifications.Config{
		Store: memoryStore(t), DeliveryPollInterval: 10 * time.Millisecond,
		Processors: []notifications.Processor{&notifications.PostProcessorFunc{ProcessorName: "audit",
			Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
				sent <- n
				return nil
			}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeService(t, svc) })
	mustSchedule(t, svc, toAlice("soon"), time.Now().Add(20*time.Millisecond))
	if n := waitFor(t, sent, "the scheduled send's delivery"); n.Payload.Title != "soon" {
		t.Fatalf("delivered %+v", n)
	}
}

// Two Services on one PostgreSQL database, both running their schedulers
// over the same due schedules: each is sent exactly once.
func TestSchedulesRunOnceAcrossServices(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	const schedules = 50
	clock := notificationstest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	svcs := make([]*notifications.Service, 2)
	stores := make([]*store.Store, 2)
	for i := range svcs {
		stores[i] = postgresStore(t, dsn)
		svc := startService(t, notifications.Config{Store: stores[i], Now: clock.Now, DeliveryWorkers: -1})
		svcs[i] = svc
	}
	for i := range schedules {
		mustSchedule(t, svcs[i%2], toAlice("once"), clock.Now().Add(time.Minute))
	}
	clock.Advance(time.Minute)
	var wg sync.WaitGroup
	var runs [2]int
	for i, svc := range svcs {
		wg.Go(func() {
			n, err := svc.RunDueSchedules(context.Background())
			if err != nil {
				t.Error(err)
			}
			runs[i] = n
		})
	}
	wg.Wait()
	if runs[0]+runs[1] != schedules {
		t.Errorf("runs %v, want %d in all", runs, schedules)
	}
	if got := count(t, stores[0], "SELECT COUNT(*) FROM notification"); got != schedules {
		t.Errorf("%d notifications, want %d", got, schedules)
	}
	if got := count(t, stores[0], "SELECT COUNT(*) FROM herald_schedule WHERE status = 'sent'"); got != schedules {
		t.Errorf("%d schedules sent, want %d", got, schedules)
	}
}
