package notifications_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/signals"
)

// wokenSignals records the new_notification signals a Service publishes,
// by notification id, and hands each one to c (when not nil).
type wokenSignals struct {
	mu   sync.Mutex
	byID map[string][]signals.Signal
	c    chan string
}

func (w *wokenSignals) publisher() signals.Publisher {
	return signals.PublisherFunc(func(_ context.Context, s signals.Signal) error {
		msg, ok := s.Message.(notifications.NotificationMessage)
		if !ok || msg.Action != notifications.ActionNewNotification {
			return nil
		}
		w.mu.Lock()
		if w.byID == nil {
			w.byID = map[string][]signals.Signal{}
		}
		w.byID[msg.NotificationID] = append(w.byID[msg.NotificationID], s)
		w.mu.Unlock()
		if w.c != nil {
			w.c <- msg.NotificationID
		}
		return nil
	})
}

func (w *wokenSignals) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byID = nil
}

func (w *wokenSignals) of(id string) []signals.Signal {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.byID[id])
}

// A snoozed notification is hidden until its time, then comes back unread
// and unseen with one new_notification signal; a past time un-snoozes.
func TestSnooze(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := notificationstest.NewClock(t0)
	var sigs wokenSignals
	svc := newCatchUpService(t, sigs.publisher(), clock.Now)
	n := sendOne(t, svc, notifications.Entity(alice), "later")
	b := sendOne(t, svc, notifications.Broadcast(), "everyone")
	ids := []string{n.ID, b.ID}
	sigs.reset() // the sends' own
	until := t0.Add(time.Hour)
	got, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: ids, Read: new(true), SnoozedUntil: &until})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].SnoozedUntil == nil || !got[0].SnoozedUntil.Equal(until) || got[1].Seen == nil {
		t.Fatalf("Update = %+v, want both back, snoozed until %s and seen (read)", got, until)
	}
	if res, err := svc.List(t.Context(), alice, notifications.ListOptions{}); err != nil || res.TotalCount != 0 {
		t.Errorf("List while snoozed = %+v, %v; want nothing", res, err)
	}
	if st, err := svc.Status(t.Context(), alice); err != nil || st != (notifications.Status{}) {
		t.Errorf("Status while snoozed = %+v, %v; want zero", st, err)
	}
	if st, _ := svc.Status(t.Context(), bob); st != (notifications.Status{Unread: 1, Unseen: 1}) {
		t.Errorf("bob's Status = %+v, want the broadcast unread and unseen", st)
	}

	clock.Set(until.Add(-time.Millisecond))
	if woken, err := svc.WakeSnoozed(t.Context()); err != nil || woken != 0 {
		t.Errorf("WakeSnoozed before the time = %d, %v; want 0", woken, err)
	}
	clock.Set(until)
	if woken, err := svc.WakeSnoozed(t.Context()); err != nil || woken != 2 {
		t.Fatalf("WakeSnoozed = %d, %v; want 2", woken, err)
	}
	if woken, err := svc.WakeSnoozed(t.Context()); err != nil || woken != 0 {
		t.Errorf("WakeSnoozed again = %d, %v; want 0", woken, err)
	}
	for _, id := range ids {
		s := sigs.of(id)
		if len(s) != 1 || s[0].Recipients.IsBroadcast() || !slices.Equal(s[0].Recipients.EntityRefs, []string{alice}) {
			t.Fatalf("signals for %s = %+v, want one new_notification to alice", id, s)
		}
		msg := s[0].Message.(notifications.NotificationMessage)
		if m := msg.Notification; m == nil || m.Read != nil || m.Seen != nil || m.SnoozedUntil != nil {
			t.Errorf("signalled notification %+v, want it unread, unseen, not snoozed", m)
		}
	}
	if st, _ := svc.Status(t.Context(), alice); st != (notifications.Status{Unread: 2, Unseen: 2}) {
		t.Errorf("Status after the wake = %+v, want both unread and unseen", st)
	}

	// A time not after now un-snoozes at once, without a signal.
	clock.Set(until.Add(time.Minute))
	later := until.Add(time.Hour)
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{n.ID}, SnoozedUntil: &later}); err != nil {
		t.Fatal(err)
	}
	past := until
	got, err = svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{n.ID}, SnoozedUntil: &past})
	if err != nil || len(got) != 1 || got[0].SnoozedUntil != nil {
		t.Errorf("Update(past time) = %+v, %v; want it un-snoozed", got, err)
	}
	if len(sigs.of(n.ID)) != 1 {
		t.Errorf("un-snoozing signalled: %+v", sigs.of(n.ID))
	}
	huge := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{n.ID}, SnoozedUntil: &huge})
	var verr *notifications.ValidationError
	if !errors.As(err, &verr) || !errors.Is(err, notifications.ErrInvalid) || verr.Fields[0].Field != "snoozedUntil" {
		t.Errorf("Update(year 10000) = %v, want a *ValidationError naming snoozedUntil", err)
	}
}

// Seen, archive and MarkAllSeen through the Service.
func TestSeenAndArchive(t *testing.T) {
	t.Parallel()
	svc := newCatchUpService(t, nil, nil)
	a := sendOne(t, svc, notifications.Entity(alice), "a")
	b := sendOne(t, svc, notifications.Entity(alice), "b")
	c := sendOne(t, svc, notifications.Broadcast(), "c")
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{a.ID}, Seen: new(true)}); err != nil {
		t.Fatal(err)
	}
	if st, _ := svc.Status(t.Context(), alice); st != (notifications.Status{Unread: 3, Unseen: 2}) {
		t.Errorf("Status = %+v, want 3 unread, 2 unseen", st)
	}
	got, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{b.ID, c.ID}, Archived: new(true)})
	if err != nil || len(got) != 2 || got[0].Archived == nil || got[1].Archived == nil {
		t.Fatalf("Update(archive) = %+v, %v; want both archived", got, err)
	}
	if st, _ := svc.Status(t.Context(), alice); st != (notifications.Status{Unread: 1}) {
		t.Errorf("Status = %+v, want only a, seen", st)
	}
	res, err := svc.List(t.Context(), alice, notifications.ListOptions{Filter: notifications.Filter{Archived: new(true)}})
	if err != nil || res.TotalCount != 2 {
		t.Errorf("List(archived) = %+v, %v; want 2", res, err)
	}
	if n, err := svc.Get(t.Context(), alice, b.ID); err != nil || n.Archived == nil {
		t.Errorf("Get(archived) = %+v, %v", n, err)
	}
	ids, err := svc.MarkAllSeen(t.Context(), alice, notifications.Filter{})
	if err != nil || len(ids) != 0 {
		t.Errorf("MarkAllSeen = %v, %v; want none (a is seen, the rest archived)", ids, err)
	}
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{b.ID, c.ID}, Archived: new(false)}); err != nil {
		t.Fatal(err)
	}
	ids, err = svc.MarkAllSeen(t.Context(), alice, notifications.Filter{})
	if slices.Sort(ids); err != nil || !slices.Equal(ids, sortedOf(b.ID, c.ID)) {
		t.Errorf("MarkAllSeen = %v, %v; want b and c", ids, err)
	}
	if st, _ := svc.Status(t.Context(), alice); st != (notifications.Status{Unread: 3}) {
		t.Errorf("Status = %+v, want 3 unread, all seen", st)
	}
	if _, err := svc.MarkAllSeen(t.Context(), alice, notifications.Filter{MinimumSeverity: "loud"}); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("MarkAllSeen(bad filter) = %v, want ErrInvalid", err)
	}
	if _, err := svc.MarkAllSeen(t.Context(), "group:default/x", notifications.Filter{}); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("MarkAllSeen(group) = %v, want ErrInvalid", err)
	}
}

func sortedOf(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// A reconnecting browser's catch-up replays marking unread and unsaving,
// which leave no read or saved time behind, and archiving.
func TestCatchUpReplaysUnreadAndUnsave(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := notificationstest.NewClock(t0)
	svc := newCatchUpService(t, nil, clock.Now)
	read := sendOne(t, svc, notifications.Entity(alice), "read")
	clock.Set(t0.Add(time.Second))
	saved := sendOne(t, svc, notifications.Broadcast(), "saved")
	clock.Set(t0.Add(2 * time.Second))
	kept := sendOne(t, svc, notifications.Entity(alice), "archived")
	clock.Set(t0.Add(time.Minute))
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{read.ID}, Read: new(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{saved.ID}, Saved: new(true)}); err != nil {
		t.Fatal(err)
	}
	// The browser loses its connection here.
	cursor := t0.Add(2 * time.Minute)
	clock.Set(cursor.Add(time.Minute))
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{read.ID}, Read: new(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{saved.ID}, Saved: new(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{kept.ID}, Archived: new(true)}); err != nil {
		t.Fatal(err)
	}
	got := replayed(t, svc, alice, cursor)
	if want := []string{"read", "saved", "archived"}; !slices.Equal(titles(got), want) {
		t.Fatalf("replayed %v, want %v", titles(got), want)
	}
	if got[0].Read != nil || got[1].Saved != nil || got[2].Archived == nil {
		t.Errorf("replayed %+v, want read unread, saved unsaved, archived archived", got)
	}
	if got := replayed(t, svc, bob, cursor); len(got) != 0 {
		t.Errorf("bob replays %v, want nothing (alice's state)", titles(got))
	}
}

// Two Services on one PostgreSQL database, each with its own waker,
// end 40 due snoozes: every notification comes back with exactly one
// new_notification signal, whichever Service's update took it.
func TestSnoozeWakesOnceAcrossServices(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := notificationstest.NewClock(t0)
	const n = 40
	sigs := wokenSignals{c: make(chan string, 2*n)}
	svcs := make([]*notifications.Service, 2)
	for i := range svcs {
		svc, err := notifications.New(notifications.Config{
			Store: postgresStore(t, dsn), Signals: sigs.publisher(), Now: clock.Now,
			DeliveryPollInterval: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeService(t, svc) })
		svcs[i] = svc
	}
	var ids []string
	for i := range n {
		sent := sendOne(t, svcs[i%2], notifications.Entity(fmt.Sprintf("user:default/u%02d", i)), "t")
		ids = append(ids, sent.ID)
	}
	// The sends' own signals are not the wake's.
	for range n {
		<-sigs.c
	}
	until := t0.Add(time.Hour)
	for i, id := range ids {
		user := fmt.Sprintf("user:default/u%02d", i)
		if _, err := svcs[(i+1)%2].Update(t.Context(), user, notifications.UpdateOptions{IDs: []string{id}, SnoozedUntil: &until}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(until)
	for range n {
		waitFor(t, sigs.c, "a woken notification's signal")
	}
	for _, svc := range svcs {
		if err := svc.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		if s := sigs.of(id); len(s) != 2 { // the send's and the wake's
			t.Errorf("notification %d: %d new_notification signals, want the send's and one wake's", i, len(s))
		}
	}
}
