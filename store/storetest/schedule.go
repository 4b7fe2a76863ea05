package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Scheduled sends: stored waiting, claimed when due under leases like
// deliveries, marked sent only by a send whose lease still holds,
// cancelled only while waiting, retried and failed by FinishSchedule,
// listed, keyed, retained.

func scheduleID(i int) string { return fmt.Sprintf("00000000-0000-4000-b000-%012d", i) }

// newSchedule is schedule i of origin, due at.
func newSchedule(i int, origin string, at, created time.Time) notifications.ScheduledSend {
	return notifications.ScheduledSend{ID: scheduleID(i), Options: options(origin, fmt.Sprintf("scheduled %d", i)), At: at,
		Status: notifications.ScheduleWaiting, Created: created, Updated: created}
}

func (e *env) schedule(sc notifications.ScheduledSend, hash string, expiredBefore time.Time) notifications.SaveScheduleResult {
	e.t.Helper()
	res, err := e.s.SaveSchedule(e.ctx, notifications.SaveScheduleOptions{Schedule: sc, RequestHash: hash, KeyExpiredBefore: expiredBefore})
	if err != nil {
		e.t.Fatalf("SaveSchedule %s: %v", sc.ID, err)
	}
	return res
}

func (e *env) claimSchedules(now time.Time, limit int) []notifications.ScheduleClaim {
	e.t.Helper()
	cs, err := e.s.ClaimSchedules(e.ctx, notifications.ClaimOptions{Now: now, Lease: lease, Limit: limit})
	if err != nil {
		e.t.Fatalf("ClaimSchedules at %s: %v", now, err)
	}
	return cs
}

func scheduleClaimIDs(cs []notifications.ScheduleClaim) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Schedule.ID
	}
	return out
}

func (e *env) getSchedule(id string) notifications.ScheduledSend {
	e.t.Helper()
	sc, err := e.s.GetSchedule(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetSchedule %s: %v", id, err)
	}
	return sc
}

// runWrite is the send record of a run holding the lease of c.
func runWrite(send int, c notifications.ScheduleClaim, at time.Time) *notifications.DeliveryWrite {
	return &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(send), Origin: c.Schedule.Options.Origin,
		Options: c.Schedule.Options, Created: at, Schedule: &notifications.ScheduleLease{ID: c.Schedule.ID, Token: c.Token}}}
}

func testScheduleRoundTrip(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	sc := newSchedule(1, "plugin:ci", e.now.Add(time.Hour), e.now)
	res := e.schedule(sc, "", time.Time{})
	if res.Existing || res.Schedule.ID != sc.ID {
		t.Fatalf("SaveSchedule = %+v", res)
	}
	got := e.getSchedule(sc.ID)
	if !reflect.DeepEqual(got, sc) {
		t.Errorf("GetSchedule =\n%+v\nwant\n%+v", got, sc)
	}
	if _, err := s.GetSchedule(e.ctx, scheduleID(99)); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := s.GetSchedule(e.ctx, "nope"); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("malformed id: %v", err)
	}
	bad := newSchedule(2, "plugin:ci", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), e.now)
	if _, err := s.SaveSchedule(e.ctx, notifications.SaveScheduleOptions{Schedule: bad}); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("at after 9999: %v, want ErrInvalid", err)
	}
	bad = newSchedule(3, "plugin:ci\x00", e.now, e.now)
	if _, err := s.SaveSchedule(e.ctx, notifications.SaveScheduleOptions{Schedule: bad}); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("NUL in origin: %v, want ErrInvalid", err)
	}
	if _, err := s.SaveSchedule(e.ctx, notifications.SaveScheduleOptions{Schedule: sc}); err == nil {
		t.Error("the same id twice was stored")
	}
}

func testListSchedules(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	// Due in reverse id order, two origins.
	for i := range 4 {
		origin := "plugin:ci"
		if i == 1 {
			origin = "plugin:other"
		}
		e.schedule(newSchedule(i, origin, e.now.Add(time.Duration(4-i)*time.Minute), e.now), "", time.Time{})
	}
	if err := s.CancelSchedule(e.ctx, scheduleID(2), e.now); err != nil {
		t.Fatal(err)
	}
	ids := func(f notifications.ScheduleFilter) []string {
		t.Helper()
		list, err := s.ListSchedules(e.ctx, f)
		if err != nil {
			t.Fatalf("ListSchedules(%+v): %v", f, err)
		}
		out := make([]string, len(list))
		for i, sc := range list {
			out[i] = sc.ID
		}
		return out
	}
	for _, tc := range []struct {
		f    notifications.ScheduleFilter
		want []string
	}{
		{notifications.ScheduleFilter{}, []string{scheduleID(3), scheduleID(2), scheduleID(1), scheduleID(0)}},
		{notifications.ScheduleFilter{Origin: "plugin:ci"}, []string{scheduleID(3), scheduleID(2), scheduleID(0)}},
		{notifications.ScheduleFilter{Status: notifications.ScheduleWaiting}, []string{scheduleID(3), scheduleID(1), scheduleID(0)}},
		{notifications.ScheduleFilter{Status: notifications.ScheduleCancelled, Origin: "plugin:ci"}, []string{scheduleID(2)}},
		{notifications.ScheduleFilter{Origin: "plugin:none"}, []string{}},
		{notifications.ScheduleFilter{Limit: 2}, []string{scheduleID(3), scheduleID(2)}},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("ListSchedules(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := s.ListSchedules(e.ctx, notifications.ScheduleFilter{Status: "later"}); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("unknown status: %v, want ErrInvalid", err)
	}
}

// A schedule is claimed only when due, by one claimer while the lease
// holds; a run that lost its lease writes nothing; the holder's run marks
// it sent in its own transaction.
func testScheduleLease(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	at := e.now.Add(time.Minute)
	e.schedule(newSchedule(1, "plugin:ci", at, e.now), "", time.Time{})
	if next, ok, err := s.NextScheduleDue(e.ctx); err != nil || !ok || !next.Equal(at) {
		t.Fatalf("NextScheduleDue = %s %v %v, want %s", next, ok, err, at)
	}
	if cs := e.claimSchedules(at.Add(-time.Millisecond), 10); len(cs) != 0 {
		t.Fatalf("claimed %v a millisecond early", scheduleClaimIDs(cs))
	}
	first := e.claimSchedules(at, 10)
	if len(first) != 1 || first[0].Schedule.Attempts != 1 || first[0].Token == "" || first[0].Schedule.Options.Payload.Title != "scheduled 1" {
		t.Fatalf("claim at the due time = %+v", first)
	}
	if next, ok, err := s.NextScheduleDue(e.ctx); err != nil || !ok || !next.Equal(at.Add(lease)) {
		t.Errorf("NextScheduleDue while leased = %s %v %v, want the lease's end %s", next, ok, err, at.Add(lease))
	}
	if cs := e.claimSchedules(at.Add(lease-time.Millisecond), 10); len(cs) != 0 {
		t.Fatalf("claimed %v while the lease held", scheduleClaimIDs(cs))
	}
	second := e.claimSchedules(at.Add(lease), 10)
	if len(second) != 1 || second[0].Token == first[0].Token || second[0].Schedule.Attempts != 2 {
		t.Fatalf("claim after the lease ran out = %+v", second)
	}
	// The first run lost its lease: its send writes nothing.
	_, err := s.SaveNotifications(e.ctx, userNotes(1, 10, at, "stale"), runWrite(1, first[0], at))
	if !errors.Is(err, notifications.ErrLeaseLost) {
		t.Fatalf("the stale run's send: %v, want ErrLeaseLost", err)
	}
	if n, _ := s.Count(e.ctx, "user:default/u0000", notifications.Filter{}); n != 0 {
		t.Fatalf("the stale run stored %d notifications", n)
	}
	if err := s.FinishSchedule(e.ctx, notifications.ScheduleOutcome{ID: first[0].Schedule.ID, Token: first[0].Token,
		Status: notifications.ScheduleFailed, Now: at}); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("the stale run's FinishSchedule: %v, want ErrLeaseLost", err)
	}
	// The holder's run: sent, with its notifications, once.
	e.saveWith(userNotes(1, 20, at.Add(lease), "run"), runWrite(2, second[0], at.Add(lease)))
	if got := e.getSchedule(scheduleID(1)); got.Status != notifications.ScheduleSent || !got.Updated.Equal(at.Add(lease)) {
		t.Fatalf("after the run: %+v, want sent, updated at the send", got)
	}
	if _, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(30), Origin: "plugin:ci", Created: at,
		Payload: notifications.Payload{Title: "again"}}, runWrite(3, second[0], at)); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Fatalf("a second send on the same lease: %v, want ErrLeaseLost", err)
	}
	if cs := e.claimSchedules(at.Add(time.Hour), 10); len(cs) != 0 {
		t.Fatalf("claimed %v after it was sent", scheduleClaimIDs(cs))
	}
	if _, ok, err := s.NextScheduleDue(e.ctx); err != nil || ok {
		t.Errorf("NextScheduleDue with none waiting: %v %v", ok, err)
	}
	if err := s.CancelSchedule(e.ctx, scheduleID(1), at); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("cancel after the run: %v, want ErrNotFound", err)
	}
}

// Cancel wins over a run in progress, and only a waiting schedule can be
// cancelled.
func testScheduleCancel(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.schedule(newSchedule(1, "plugin:ci", e.now, e.now), "", time.Time{})
	c := e.claimSchedules(e.now, 1)
	if len(c) != 1 {
		t.Fatalf("claimed %d", len(c))
	}
	if err := s.CancelSchedule(e.ctx, scheduleID(1), e.now.Add(time.Second)); err != nil {
		t.Fatalf("cancel during the run: %v", err)
	}
	if _, err := s.SaveNotifications(e.ctx, userNotes(1, 10, e.now, "t"), runWrite(1, c[0], e.now)); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Fatalf("the cancelled run's send: %v, want ErrLeaseLost", err)
	}
	got := e.getSchedule(scheduleID(1))
	if got.Status != notifications.ScheduleCancelled || !got.Updated.Equal(e.now.Add(time.Second)) {
		t.Errorf("after cancel: %+v", got)
	}
	if err := s.CancelSchedule(e.ctx, scheduleID(1), e.now); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("cancelled twice: %v, want ErrNotFound", err)
	}
	for _, id := range []string{scheduleID(9), "nope"} {
		if err := s.CancelSchedule(e.ctx, id, e.now); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("cancel %q: %v, want ErrNotFound", id, err)
		}
	}
	if cs := e.claimSchedules(e.now.Add(time.Hour), 10); len(cs) != 0 {
		t.Errorf("claimed a cancelled schedule: %v", scheduleClaimIDs(cs))
	}
}

func testFinishSchedule(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.schedule(newSchedule(1, "plugin:ci", e.now, e.now), "", time.Time{})
	c := e.claimSchedules(e.now, 1)[0]
	retry := e.now.Add(time.Minute)
	if err := s.FinishSchedule(e.ctx, notifications.ScheduleOutcome{ID: c.Schedule.ID, Token: c.Token,
		Status: notifications.ScheduleWaiting, LastError: "catalog down", NextAttempt: &retry, Now: e.now}); err != nil {
		t.Fatal(err)
	}
	if got := e.getSchedule(c.Schedule.ID); got.Status != notifications.ScheduleWaiting || got.LastError != "catalog down" || got.Attempts != 1 {
		t.Fatalf("after a retry: %+v", got)
	}
	if cs := e.claimSchedules(retry.Add(-time.Millisecond), 1); len(cs) != 0 {
		t.Fatal("claimed before the retry was due")
	}
	c = e.claimSchedules(retry, 1)[0]
	if c.Schedule.Attempts != 2 {
		t.Errorf("attempts %d, want 2", c.Schedule.Attempts)
	}
	if err := s.FinishSchedule(e.ctx, notifications.ScheduleOutcome{ID: c.Schedule.ID, Token: c.Token,
		Status: notifications.ScheduleFailed, LastError: "still down", Now: retry}); err != nil {
		t.Fatal(err)
	}
	if got := e.getSchedule(c.Schedule.ID); got.Status != notifications.ScheduleFailed || got.LastError != "still down" {
		t.Fatalf("after failing: %+v", got)
	}
	if err := s.FinishSchedule(e.ctx, notifications.ScheduleOutcome{ID: c.Schedule.ID, Token: c.Token,
		Status: notifications.ScheduleWaiting, Now: retry}); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("finishing a failed schedule again: %v, want ErrLeaseLost", err)
	}
	if err := s.FinishSchedule(e.ctx, notifications.ScheduleOutcome{ID: c.Schedule.ID, Token: c.Token,
		Status: notifications.ScheduleSent, Now: retry}); err == nil {
		t.Error("FinishSchedule took status sent")
	}
}

func testScheduleKey(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	keyed := func(i int) notifications.ScheduledSend {
		sc := newSchedule(i, "plugin:ci", e.now.Add(time.Hour), e.now)
		sc.Options.IdempotencyKey = "job-1"
		return sc
	}
	first := e.schedule(keyed(1), "hash-1", e.now.Add(-time.Hour))
	if first.Existing || first.Schedule.Options.IdempotencyKey != "job-1" {
		t.Fatalf("first = %+v", first)
	}
	again := e.schedule(keyed(2), "hash-2", e.now.Add(-time.Hour))
	if !again.Existing || again.Schedule.ID != scheduleID(1) || again.RequestHash != "hash-1" || again.Schedule.Options.IdempotencyKey != "job-1" {
		t.Fatalf("second with the key = %+v, want the first, existing, with its hash", again)
	}
	other := keyed(3)
	other.Options.Origin = "plugin:other"
	if res := e.schedule(other, "hash-1", time.Time{}); res.Existing {
		t.Fatal("another origin's key was taken for the same")
	}
	// A waiting holder keeps its key even past the cutoff; a finished one
	// before the cutoff gives it up.
	if res := e.schedule(keyed(4), "hash-4", e.now.Add(time.Hour)); !res.Existing {
		t.Fatal("a waiting schedule lost its key")
	}
	if err := s.CancelSchedule(e.ctx, scheduleID(1), e.now); err != nil {
		t.Fatal(err)
	}
	if res := e.schedule(keyed(5), "hash-5", e.now); !res.Existing {
		t.Fatal("a schedule finished at the cutoff lost its key")
	}
	if res := e.schedule(keyed(6), "hash-6", e.now.Add(time.Millisecond)); res.Existing || res.Schedule.ID != scheduleID(6) {
		t.Fatalf("after expiry = %+v, want the new schedule", res)
	}
	if got := e.getSchedule(scheduleID(1)); got.Options.IdempotencyKey != "" {
		t.Errorf("the expired holder kept key %q", got.Options.IdempotencyKey)
	}

	// Concurrent saves with one key store one schedule.
	const savers = 8
	results := make([]notifications.SaveScheduleResult, savers)
	var wg sync.WaitGroup
	for i := range savers {
		wg.Go(func() {
			sc := newSchedule(100+i, "plugin:ci", e.now, e.now)
			sc.Options.IdempotencyKey = "race"
			res, err := s.SaveSchedule(e.ctx, notifications.SaveScheduleOptions{Schedule: sc, RequestHash: "h"})
			if err != nil {
				t.Errorf("saver %d: %v", i, err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if !r.Existing {
			fresh++
		}
		if r.Schedule.ID != results[0].Schedule.ID {
			t.Errorf("savers got %s and %s", r.Schedule.ID, results[0].Schedule.ID)
		}
	}
	if fresh != 1 {
		t.Errorf("%d concurrent saves stored a schedule, want 1", fresh)
	}
}

func testConcurrentScheduleClaimers(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const schedules, claimers = 40, 8
	for i := range schedules {
		e.schedule(newSchedule(i, "plugin:ci", e.now, e.now), "", time.Time{})
	}
	claimEachOnce(t, "schedule", schedules, claimers, 3, func(limit int) ([]notifications.ScheduleClaim, error) {
		return s.ClaimSchedules(e.ctx, notifications.ClaimOptions{Now: e.now, Lease: lease, Limit: limit})
	}, func(c notifications.ScheduleClaim) string { return c.Schedule.ID })
}

func testDeleteFinishedSchedules(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	for i := range 4 {
		sc := newSchedule(i, "plugin:ci", e.now, e.now)
		if i == 3 {
			sc.Options.IdempotencyKey = "kept"
		}
		e.schedule(sc, "", time.Time{})
	}
	for i := 1; i < 4; i++ {
		if err := s.CancelSchedule(e.ctx, scheduleID(i), e.now.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// 0 waits, 1 and 2 finished before or at the cutoff, 3 holds a key.
	n, err := s.DeleteFinishedSchedules(e.ctx, e.now.Add(3*time.Minute), 1)
	if err != nil || n != 2 {
		t.Fatalf("DeleteFinishedSchedules = %d, %v; want 2", n, err)
	}
	list, err := s.ListSchedules(e.ctx, notifications.ScheduleFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, sc := range list {
		left = append(left, sc.ID)
	}
	if !slices.Equal(left, []string{scheduleID(0), scheduleID(3)}) {
		t.Errorf("left %v, want the waiting one and the keyed one", left)
	}
	if k, err := s.DeleteExpiredIdempotencyKeys(e.ctx, e.now.Add(4*time.Minute), 0); err != nil || k != 1 {
		t.Fatalf("DeleteExpiredIdempotencyKeys = %d, %v; want the finished schedule's key", k, err)
	}
	if n, err := s.DeleteFinishedSchedules(e.ctx, e.now.Add(3*time.Minute), 0); err != nil || n != 1 {
		t.Errorf("after its key expired: %d, %v; want 1", n, err)
	}
}
