package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Inbox states beyond Backstage: seen, archived and snoozed, for a user's
// notifications and each user's state of a broadcast; the visibility rule
// (hidden iff archived or snoozed); the waker; and the change time every
// state change leaves for ChangedSince.

// status is user's Status.
func (e *env) status() notifications.Status {
	e.t.Helper()
	st, err := e.s.Status(e.ctx, user)
	if err != nil {
		e.t.Fatalf("Status: %v", err)
	}
	return st
}

// setSeen and setArchived change user's state.
func (e *env) setSeen(at *time.Time, ids ...string) {
	e.t.Helper()
	if err := e.s.SetSeen(e.ctx, user, ids, at, e.now); err != nil {
		e.t.Fatalf("SetSeen: %v", err)
	}
}

func (e *env) setArchived(at *time.Time, ids ...string) {
	e.t.Helper()
	if err := e.s.SetArchived(e.ctx, user, ids, at, e.now); err != nil {
		e.t.Fatalf("SetArchived: %v", err)
	}
}

func (e *env) setSnoozed(u string, until *time.Time, ids ...string) {
	e.t.Helper()
	if err := e.s.SetSnoozed(e.ctx, u, ids, until, e.now); err != nil {
		e.t.Fatalf("SetSnoozed: %v", err)
	}
}

func (e *env) wake(now time.Time) []notifications.Woken {
	e.t.Helper()
	ws, err := e.s.WakeSnoozed(e.ctx, now, 0)
	if err != nil {
		e.t.Fatalf("WakeSnoozed(%s): %v", now, err)
	}
	return ws
}

// expectListed checks List's ids and Count for filter f.
func (e *env) expectListed(what string, u string, f notifications.Filter, want ...string) {
	e.t.Helper()
	expectIDs(e.t, what, e.listIDs(notifications.Query{User: u, Filter: f}), want...)
	if n := e.count(u, f); n != len(want) {
		e.t.Errorf("%s: Count = %d, want %d", what, n, len(want))
	}
}

func testSeenStates(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3, 0)
	if st := e.status(); st.Unseen != 3 {
		t.Errorf("Status before = %+v, want 3 unseen", st)
	}
	at := e.now.Add(-time.Second)
	e.setSeen(&at, id1, id2)
	for _, id := range []string{id1, id2} {
		if n := e.get(user, id); !sameTime(n.Seen, &at) || n.Read != nil {
			t.Errorf("%s after SetSeen: seen %s read %s, want %s and unread", name([]string{id}), fmtTime(n.Seen), fmtTime(n.Read), at)
		}
	}
	if n := e.get(other, id2); n.Seen != nil {
		t.Errorf("other's broadcast seen %s, want unseen (seen is per user)", fmtTime(n.Seen))
	}
	if st := e.status(); st != (notifications.Status{Unread: 3, Unseen: 1}) {
		t.Errorf("Status = %+v, want 3 unread, 1 unseen", st)
	}
	e.expectListed("unseen", user, notifications.Filter{Seen: new(false)}, id3)
	e.expectListed("seen", user, notifications.Filter{Seen: new(true)}, id2, id1)

	// Reading implies seeing, and unread leaves it seen.
	e.setRead(user, &e.now, id3)
	if n := e.get(user, id3); !sameTime(n.Seen, &e.now) {
		t.Errorf("read id3: seen %s, want %s", fmtTime(n.Seen), e.now)
	}
	e.setRead(user, nil, id3)
	if n := e.get(user, id3); n.Seen == nil || n.Read != nil {
		t.Errorf("unread id3: seen %s read %s, want still seen", fmtTime(n.Seen), fmtTime(n.Read))
	}
	// A row stored read is seen.
	stored := e.f[4]
	stored.Read = &at
	e.save(stored)
	if n := e.get(user, id4); !sameTime(n.Seen, &at) {
		t.Errorf("stored read: seen %s, want %s", fmtTime(n.Seen), at)
	}
	e.setSeen(nil, id1, id2)
	e.expectListed("unseen again", user, notifications.Filter{Seen: new(false)}, id2, id1)

	// MarkAllSeen: the unseen ones only, one user's.
	got, err := s.MarkAllSeen(e.ctx, other, notifications.Filter{}, e.now)
	if err != nil {
		t.Fatalf("MarkAllSeen: %v", err)
	}
	expectSameIDs(t, "MarkAllSeen(other)", got, id0, id2)
	if st := e.status(); st.Unseen != 2 {
		t.Errorf("user's Status after other's MarkAllSeen = %+v, want 2 unseen", st)
	}
	if got, err = s.MarkAllSeen(e.ctx, other, notifications.Filter{}, e.now); err != nil || len(got) != 0 {
		t.Errorf("MarkAllSeen again = %v, %v; want none", got, err)
	}
	if got, err = s.MarkAllSeen(e.ctx, user, notifications.Filter{Topic: "efgh-topic"}, e.now); err != nil {
		t.Fatal(err)
	}
	expectIDs(t, "MarkAllSeen(topic)", got, id1)
	if st := e.status(); st.Unseen != 1 {
		t.Errorf("Status after MarkAllSeen(topic) = %+v, want 1 unseen (the broadcast)", st)
	}
}

func testArchivedStates(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3, 0)
	e.setRead(user, &e.now, id3)
	at := e.now.Add(-time.Second)
	e.setArchived(&at, id1, id2, id3)
	e.expectListed("archived left out", user, notifications.Filter{})
	e.expectListed("Archived false", user, notifications.Filter{Archived: new(false)})
	e.expectListed("Archived true", user, notifications.Filter{Archived: new(true)}, id2, id3, id1)
	e.expectListed("archived and unread", user, notifications.Filter{Archived: new(true), Read: new(false)}, id2, id1)
	e.expectListed("other keeps the broadcast", other, notifications.Filter{}, id0, id2)
	if st := e.status(); st != (notifications.Status{}) {
		t.Errorf("Status = %+v, want all zero", st)
	}
	if n := e.get(user, id1); !sameTime(n.Archived, &at) {
		t.Errorf("Get(archived) archived %s, want %s", fmtTime(n.Archived), at)
	}
	topics, err := s.Topics(e.ctx, user, notifications.Filter{})
	if err != nil || len(topics) != 0 {
		t.Errorf("Topics = %v, %v; want none", topics, err)
	}
	counts, err := s.Counts(e.ctx, user, []notifications.Filter{{}, {Read: new(false)}, {Archived: new(true)}})
	if err != nil || len(counts) != 3 || counts[0] != 0 || counts[1] != 0 || counts[2] != 3 {
		t.Errorf("Counts = %v, %v; want [0 0 3]", counts, err)
	}
	read, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, e.now)
	if err != nil || len(read) != 0 {
		t.Errorf("MarkAllRead = %v, %v; want none (archived left out)", read, err)
	}
	// Un-archiving brings them back as they were.
	e.setArchived(nil, id1, id2, id3)
	e.expectListed("un-archived", user, notifications.Filter{}, id2, id3, id1)
	e.expectListed("un-archived unread", user, notifications.Filter{Read: new(false)}, id2, id1)
	if st := e.status(); st != (notifications.Status{Unread: 2, Read: 1, Unseen: 2}) {
		t.Errorf("Status = %+v, want 2 unread 1 read 2 unseen", st)
	}
}

func testSnoozedStates(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3)
	e.setRead(user, &e.now, id1, id2)
	until := e.now.Add(time.Hour)
	e.setSnoozed(user, &until, id1, id2)
	e.expectListed("snoozed left out", user, notifications.Filter{}, id3)
	e.expectListed("snoozed are not archived", user, notifications.Filter{Archived: new(true)})
	e.expectListed("other keeps the broadcast", other, notifications.Filter{}, id2)
	if st := e.status(); st != (notifications.Status{Unread: 1, Unseen: 1}) {
		t.Errorf("Status = %+v, want only id3", st)
	}
	if n := e.get(user, id2); !sameTime(n.SnoozedUntil, &until) {
		t.Errorf("Get(snoozed broadcast) until %s, want %s", fmtTime(n.SnoozedUntil), until)
	}
	if due, ok, err := s.NextSnoozeDue(e.ctx); err != nil || !ok || !due.Equal(until) {
		t.Errorf("NextSnoozeDue = %s, %v, %v; want %s", due, ok, err, until)
	}
	if ws := e.wake(until.Add(-time.Millisecond)); len(ws) != 0 {
		t.Errorf("WakeSnoozed before the time = %+v, want none", ws)
	}
	ws := e.wake(until)
	if len(ws) != 2 {
		t.Fatalf("WakeSnoozed = %+v, want id1 and the broadcast", ws)
	}
	for _, w := range ws {
		if w.User != user || (w.ID == id2) != w.Broadcast || (w.ID != id1 && w.ID != id2) {
			t.Errorf("woken %+v", w)
		}
	}
	if ws := e.wake(until.Add(time.Minute)); len(ws) != 0 {
		t.Errorf("WakeSnoozed again = %+v, want none (each wakes once)", ws)
	}
	if _, ok, err := s.NextSnoozeDue(e.ctx); err != nil || ok {
		t.Errorf("NextSnoozeDue after = %v, %v; want none", ok, err)
	}
	// Back unread and unseen, changed when woken.
	for _, id := range []string{id1, id2} {
		n := e.get(user, id)
		if n.Read != nil || n.Seen != nil || n.SnoozedUntil != nil {
			t.Errorf("%s woken: read %s seen %s until %s, want unread, unseen, not snoozed",
				name([]string{id}), fmtTime(n.Read), fmtTime(n.Seen), fmtTime(n.SnoozedUntil))
		}
	}
	e.expectListed("woken", user, notifications.Filter{Read: new(false)}, id2, id3, id1)
	e.expectListed("changed at the wake", user, notifications.Filter{ChangedSince: &until}, id2, id1)

	// A past time un-snoozes: nil given by the Service.
	e.setSnoozed(user, &until, id3)
	e.setSnoozed(user, nil, id3)
	e.expectListed("un-snoozed", user, notifications.Filter{IDs: []string{id3}}, id3)
}

func testArchivedAndSnoozed(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2)
	until := e.now.Add(time.Hour)
	e.setSnoozed(user, &until, id1, id2)
	e.setArchived(&e.now, id1, id2)
	e.expectListed("archived and snoozed: not listed as archived", user, notifications.Filter{Archived: new(true)})
	// Un-archived but still snoozed: hidden until the time.
	e.setArchived(nil, id1)
	e.expectListed("still snoozed", user, notifications.Filter{})
	ws := e.wake(until)
	if len(ws) != 1 || ws[0].ID != id1 {
		t.Errorf("WakeSnoozed = %+v, want id1 only (the archived broadcast stays hidden)", ws)
	}
	e.expectListed("id1 back", user, notifications.Filter{}, id1)
	e.expectListed("the broadcast archived", user, notifications.Filter{Archived: new(true)}, id2)
	if n := e.get(user, id2); n.SnoozedUntil != nil || n.Archived == nil {
		t.Errorf("broadcast: until %s archived %s, want woken and archived", fmtTime(n.SnoozedUntil), fmtTime(n.Archived))
	}
}

func testSnoozedResent(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(2, -3)
	until := e.now.Add(time.Hour)
	e.setRead(user, &e.now, id2, id3)
	e.setSnoozed(user, &until, id2, id3)
	e.setArchived(&e.now, id2, id3)
	later := e.now.Add(time.Minute)
	resent := e.f[2]
	resent.ID, resent.Created = id(20), later
	got := e.save(resent)[0]
	n := e.get(user, id2)
	for what, n := range map[string]notifications.Notification{"returned": got, "stored": n} {
		if n.ID != id2 || n.Read != nil || n.Seen != nil || n.Archived != nil || n.SnoozedUntil != nil {
			t.Errorf("%s after the scoped re-send: %+v, want id2 unread, unseen, not archived, not snoozed", what, n)
		}
	}
	// A broadcast's re-send keeps each user's state.
	b := e.f[3]
	b.ID, b.Created, b.Payload.Scope = id(30), later, ""
	bc := e.get(user, id3)
	if bc.Archived == nil || bc.SnoozedUntil == nil || bc.Read == nil {
		t.Errorf("broadcast state %+v, want read, snoozed, archived", bc)
	}
	e.expectListed("after the re-send", user, notifications.Filter{}, id2)
}

func testChangedSinceEveryState(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3, 5)
	e.setRead(user, &e.now, id1, id2)
	e.setSaved(user, &e.now, id1, id2)
	until := e.now.Add(time.Hour)
	e.setSnoozed(user, &until, id5)
	later := e.now.Add(time.Minute)
	e.now = later // the time of the changes below
	since := later
	e.expectListed("nothing changed since", user, notifications.Filter{ChangedSince: &since})
	for _, step := range []struct {
		what   string
		change func(id string)
		ids    []string
	}{
		{"unread", func(id string) { e.setRead(user, nil, id) }, []string{id1, id2}},
		{"unsaved", func(id string) { e.setSaved(user, nil, id) }, []string{id1, id2}},
		{"seen", func(id string) { e.setSeen(&later, id) }, []string{id3}},
		{"unseen", func(id string) { e.setSeen(nil, id) }, []string{id3}},
		{"archived", func(id string) { e.setArchived(&later, id) }, []string{id3, id2}},
		{"un-archived", func(id string) { e.setArchived(nil, id) }, []string{id3, id2}},
		{"snoozed", func(id string) { e.setSnoozed(user, &until, id) }, []string{id1}},
		{"un-snoozed", func(id string) { e.setSnoozed(user, nil, id) }, []string{id5}},
	} {
		since = since.Add(time.Second)
		e.now = since
		for _, id := range step.ids {
			step.change(id)
		}
		var want []string
		for _, id := range []string{id2, id3, id5, id1} { // created order, newest first
			for _, c := range step.ids {
				if c == id {
					want = append(want, id)
				}
			}
		}
		// Archived and snoozed ones are kept: a catch-up sees them go.
		e.expectListed(step.what+": ChangedSince", user, notifications.Filter{ChangedSince: &since}, want...)
	}
}

// testConcurrentWakers wakes one set of due snoozes from 8 goroutines at
// once: each row is returned exactly once.
func testConcurrentWakers(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const n = 40
	ns := make([]notifications.Notification, n)
	var all []string
	for i := range ns {
		ns[i] = e.f[3]
		ns[i].ID, ns[i].Payload.Scope = id(100+i), ""
		all = append(all, ns[i].ID)
	}
	e.save(ns...)
	b := e.broadcast(e.f[2])
	until := e.now.Add(time.Minute)
	e.setSnoozed(user, &until, append(all, b.ID)...)
	e.setSnoozed(other, &until, b.ID)
	var (
		mu    sync.Mutex
		woken = map[notifications.Woken]int{}
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			ws, err := s.WakeSnoozed(e.ctx, until, 7)
			if err != nil {
				t.Errorf("WakeSnoozed: %v", err)
			}
			for len(ws) > 0 && err == nil {
				mu.Lock()
				for _, w := range ws {
					woken[w]++
				}
				mu.Unlock()
				ws, err = s.WakeSnoozed(e.ctx, until, 7)
				if err != nil {
					t.Errorf("WakeSnoozed: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if len(woken) != n+2 {
		t.Errorf("%d rows woken, want %d", len(woken), n+2)
	}
	for w, times := range woken {
		if times != 1 {
			t.Errorf("%+v woken %d times, want once", w, times)
		}
	}
}
