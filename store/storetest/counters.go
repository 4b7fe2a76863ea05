package storetest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// A store may keep counts of the common views (all, unread, read, saved,
// unsaved, unseen, seen) instead of counting the inbox, as Herald's does
// (counters kept by triggers). These tests check such counts against
// List, which lists the rows themselves, after every kind of write.

// commonViews are the filters a store may answer from maintained
// counts, and two it cannot (two states at once), for contrast.
var commonViews = []notifications.Filter{
	{}, {Read: new(false)}, {Read: new(true)}, {Saved: new(true)}, {Saved: new(false)},
	{Seen: new(false)}, {Seen: new(true)}, {Archived: new(false)}, {Read: new(false), Archived: new(false)},
	{Read: new(false), Saved: new(true)}, {Seen: new(false), Read: new(false)},
}

// expectRecount checks, for u, every common view's Count and Counts and
// the Status against List with no limit (which reads the rows, not any
// maintained count), after the write named what.
func (e *env) expectRecount(what, u string) {
	e.t.Helper()
	listed := make([]int, len(commonViews))
	for i, f := range commonViews {
		listed[i] = len(e.list(notifications.Query{User: u, Filter: f}))
		n, err := e.s.Count(e.ctx, u, f)
		if err != nil {
			e.t.Fatalf("after %s: Count(%s, %s): %v", what, u, describeView(f), err)
		}
		if n != listed[i] {
			e.t.Errorf("after %s: Count(%s, %s) = %d, List has %d", what, u, describeView(f), n, listed[i])
		}
	}
	counts, err := e.s.Counts(e.ctx, u, commonViews)
	if err != nil {
		e.t.Fatalf("after %s: Counts(%s): %v", what, u, err)
	}
	for i, f := range commonViews {
		if counts[i] != listed[i] {
			e.t.Errorf("after %s: Counts(%s)[%d] (%s) = %d, List has %d", what, u, i, describeView(f), counts[i], listed[i])
		}
	}
	st, err := e.s.Status(e.ctx, u)
	if err != nil {
		e.t.Fatalf("after %s: Status(%s): %v", what, u, err)
	}
	// Status counts the visible ones: listed[1] unread, listed[2] read,
	// listed[5] unseen.
	if want := (notifications.Status{Unread: listed[1], Read: listed[2], Unseen: listed[5]}); st != want {
		e.t.Errorf("after %s: Status(%s) = %+v, List has %+v", what, u, st, want)
	}
}

func describeView(f notifications.Filter) string {
	b := func(p *bool) string {
		if p == nil {
			return "any"
		}
		return strconv.FormatBool(*p)
	}
	return fmt.Sprintf("read %s, saved %s, seen %s, archived %s", b(f.Read), b(f.Saved), b(f.Seen), b(f.Archived))
}

// testCountersFollowEveryWrite performs every kind of write a store
// takes, one after the other, and recounts every common view and the
// Status of three users after each: one with notifications and
// broadcast states, one with notifications only in the fan-outs, and
// one with none of their own (broadcasts reach users who have no rows).
func testCountersFollowEveryWrite(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const fanned = "user:default/u0007" // one of userNotes' users
	const nobody = "user:default/nobody"
	check := func(what string) {
		t.Helper()
		for _, u := range []string{user, other, fanned, nobody} {
			e.expectRecount(what, u)
		}
	}
	check("nothing")
	old := e.now.Add(-48 * time.Hour)
	n := func(i int, u string, created time.Time) notifications.Notification {
		return notifications.Notification{ID: id(i), User: u, Origin: "svc", Created: created, Payload: notifications.Payload{Title: fmt.Sprintf("n%d", i)}}
	}

	// Sends: one row (a store's one-row path), several users at once, a
	// fan-out over more than one batch of rows, rows stored already read
	// or saved (an import), scoped rows and broadcasts.
	e.save(n(1, user, e.now))
	check("a one-row send")
	e.save(n(2, user, old), n(3, other, e.now), n(4, user, old))
	check("a send to two users")
	e.save(userNotes(1200, 1000, e.now, "fan-out")...)
	check("a fan-out of 1200")
	imported := n(5, user, e.now)
	imported.Read, imported.Saved = &e.now, &e.now
	seenOnly := n(6, user, e.now)
	seenOnly.Seen = &e.now
	e.save(imported, seenOnly)
	check("a send of rows stored read, saved or seen")
	scoped := n(7, user, e.now)
	scoped.Payload.Scope = "build-1"
	e.save(scoped)
	check("a scoped send")
	b1 := e.broadcast(n(100, "", e.now))
	b2 := e.broadcast(n(101, "", old))
	b3 := e.broadcast(n(102, "", old))
	check("broadcasts")
	sb := n(103, "", e.now)
	sb.Payload.Scope = "deploy-1"
	sb = e.broadcast(sb)
	check("a scoped broadcast")

	// State changes on notifications and broadcasts, set and cleared.
	e.setRead(user, &e.now, id(1), id(2), b1.ID, b2.ID)
	e.setRead(other, &e.now, b1.ID)
	check("SetRead")
	e.setRead(user, &e.now, id(1)) // read again: nothing moves
	check("a second SetRead")
	e.setSaved(user, &e.now, id(2), id(4), id(7), b1.ID, b3.ID)
	check("SetSaved")
	e.setRead(user, &e.now, id(7))
	check("SetRead of the scoped row")
	// A scoped re-send of a read and saved row: unread again, still saved.
	scoped.ID = ""
	scoped.Payload.Title = "build-1 again"
	if got := e.save(scoped); got[0].ID != id(7) {
		t.Fatalf("scoped re-send stored %s, want the row %s kept", got[0].ID, id(7))
	}
	check("a scoped re-send of a read and saved row")
	// One statement that updates a scoped row and inserts another (on
	// PostgreSQL it fires both the INSERT and the UPDATE triggers).
	e.setRead(user, &e.now, id(7))
	scoped.Payload.Title = "build-1 thrice"
	fresh := n(8, user, e.now)
	fresh.Payload.Scope = "build-2"
	e.save(scoped, fresh)
	check("a scoped re-send and a new scoped row in one statement")
	again := n(104, "", e.now)
	again.Payload.Scope = "deploy-1"
	e.broadcast(again)
	check("a scoped broadcast re-sent")
	e.setSeen(&e.now, id(4), b3.ID)
	check("SetSeen")
	if _, err := s.MarkAllSeen(e.ctx, user, notifications.Filter{}, e.now); err != nil {
		t.Fatal(err)
	}
	check("MarkAllSeen")
	e.setRead(user, nil, id(1), b1.ID)
	check("SetRead(nil)")
	if _, err := s.MarkAllRead(e.ctx, user, notifications.Filter{Topic: ""}, e.now); err != nil {
		t.Fatal(err)
	}
	check("MarkAllRead")
	e.setRead(user, nil, id(2), id(4), b2.ID, b3.ID)
	e.setSaved(user, nil, id(4), b3.ID)
	check("SetRead(nil) and SetSaved(nil)")
	// Archive a saved unread row, of each kind; then bring one back.
	e.setArchived(&e.now, id(2), b3.ID, sb.ID)
	check("SetArchived of saved unread rows")
	e.setArchived(nil, sb.ID)
	check("SetArchived(nil)")
	// Snooze, then the waker: back unread and unseen.
	until := e.now.Add(time.Hour)
	e.setSnoozed(user, &until, id(5), id(6), b1.ID, b2.ID)
	e.setSnoozed(fanned, &until, id(1007), b1.ID)
	check("SetSnoozed")
	e.setSnoozed(user, nil, id(6))
	check("SetSnoozed(nil)")
	if woken := e.wake(until.Add(time.Minute)); len(woken) != 5 {
		t.Errorf("WakeSnoozed woke %d, want 5", len(woken))
	}
	check("WakeSnoozed")
	// Archive and snooze at once, then wake: still archived.
	e.setArchived(&e.now, id(5))
	e.setSnoozed(user, &until, id(5))
	e.wake(until.Add(time.Minute))
	check("an archived row snoozed and woken")

	// Retention: old notifications and broadcasts the users had read,
	// saved or archived, and their status rows (by cascade).
	e.setRead(user, &e.now, id(4), b2.ID, b3.ID)
	e.setSaved(other, &e.now, b2.ID, b3.ID)
	e.setArchived(&e.now, id(4))
	check("before retention")
	if n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 1); err != nil || n != 4 {
		t.Fatalf("DeleteOlderThan = %d, %v; want 4 (two notifications, two broadcasts)", n, err)
	}
	check("DeleteOlderThan")
	if n, err := s.DeleteOlderThan(e.ctx, e.now.Add(time.Hour), 0); err != nil || n == 0 {
		t.Fatalf("DeleteOlderThan(everything) = %d, %v", n, err)
	}
	check("DeleteOlderThan of everything")
	for _, u := range []string{user, other, fanned, nobody} {
		if st, err := s.Status(e.ctx, u); err != nil || st != (notifications.Status{}) {
			t.Errorf("Status(%s) of an empty store = %+v, %v; want zeros", u, st, err)
		}
	}
}
