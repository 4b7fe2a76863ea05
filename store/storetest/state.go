package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Each user's read and saved state, and the rule that a call touches only its user's rows.

func testBroadcastReadPerUser(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3, 0)
	e.setRead(user, &e.now, id1, id2)
	expectIDs(t, "user", e.listIDs(notifications.Query{}), id2, id3, id1)
	ns := e.list(notifications.Query{User: other})
	expectIDs(t, "other", ids(ns), id0, id2)
	for _, n := range ns {
		if n.Read != nil {
			t.Errorf("other sees %s read at %s, want unread", n.ID, fmtTime(n.Read))
		}
		if n.ID == id2 && n.User != "" {
			t.Errorf("broadcast has user %q, want \"\"", n.User)
		}
	}
	e.setRead(other, &e.now, id0, id2)
	for _, n := range e.list(notifications.Query{User: other}) {
		if n.Read == nil {
			t.Errorf("other: %s unread after SetRead", n.ID)
		}
		if n.ID == id2 && n.User != "" {
			t.Errorf("read broadcast has user %q, want \"\"", n.User)
		}
	}
}

func testGetBroadcastPerUser(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2)
	if n := e.get(user, id1); n.User != user || n.ID != id1 {
		t.Errorf("Get(user notification) = %+v", n)
	}
	e.setRead(user, &e.now, id2)
	if n := e.get(user, id2); n.User != "" || n.Read == nil || !n.Read.Equal(e.now) {
		t.Errorf("Get(broadcast) as reader: user %q read %s, want \"\" and %s", n.User, fmtTime(n.Read), e.now)
	}
	if n := e.get(other, id2); n.User != "" || n.Read != nil {
		t.Errorf("Get(broadcast) as other: user %q read %s, want \"\" and nil", n.User, fmtTime(n.Read))
	}
}

func testSetReadSetSaved(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2)
	at := e.now.Add(-time.Second)
	for _, id := range []string{id1, id2} {
		e.setRead(user, &at, id)
		if n := e.get(user, id); !sameTime(n.Read, &at) || n.Saved != nil {
			t.Errorf("%s after SetRead: read %s saved %s", name([]string{id}), fmtTime(n.Read), fmtTime(n.Saved))
		}
		e.setSaved(user, &e.now, id)
		if n := e.get(user, id); !sameTime(n.Read, &at) || !sameTime(n.Saved, &e.now) {
			t.Errorf("%s after SetSaved: read %s saved %s", name([]string{id}), fmtTime(n.Read), fmtTime(n.Saved))
		}
		e.setRead(user, nil, id)
		if n := e.get(user, id); n.Read != nil || !sameTime(n.Saved, &e.now) {
			t.Errorf("%s after SetRead(nil): read %s saved %s", name([]string{id}), fmtTime(n.Read), fmtTime(n.Saved))
		}
		e.setSaved(user, nil, id)
		if n := e.get(user, id); n.Read != nil || n.Saved != nil {
			t.Errorf("%s after SetSaved(nil): read %s saved %s", name([]string{id}), fmtTime(n.Read), fmtTime(n.Saved))
		}
	}
	// Clearing a broadcast nobody has touched creates nothing visible.
	e.fixture(-3)
	e.setSaved(user, nil, id3)
	if n := e.get(user, id3); n.Read != nil || n.Saved != nil {
		t.Errorf("untouched broadcast after SetSaved(nil): read %s saved %s", fmtTime(n.Read), fmtTime(n.Saved))
	}
	e.setSaved(user, &e.now, id3)
	if n := e.get(user, id3); n.Read != nil || !sameTime(n.Saved, &e.now) {
		t.Errorf("broadcast after first SetSaved: read %s saved %s", fmtTime(n.Read), fmtTime(n.Saved))
	}
}

func testOtherUsersIDs(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(0, 1)
	if _, err := s.Get(e.ctx, user, id0); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("Get(other's id) = %v, want ErrNotFound", err)
	}
	e.setRead(user, &e.now, id0)
	e.setSaved(user, &e.now, id0)
	if n := e.get(other, id0); n.Read != nil || n.Saved != nil {
		t.Errorf("other's notification changed by user: read %s saved %s", fmtTime(n.Read), fmtTime(n.Saved))
	}
	f := notifications.Filter{IDs: []string{id0}}
	expectIDs(t, "List(other's id)", e.listIDs(notifications.Query{Filter: f}))
	if n := e.count(user, f); n != 0 {
		t.Errorf("Count(other's id) = %d, want 0", n)
	}
	if got, err := s.Topics(e.ctx, user, f); err != nil || len(got) != 0 {
		t.Errorf("Topics(other's id) = %v, %v; want none", got, err)
	}
	got, err := s.MarkAllRead(e.ctx, user, f, e.now)
	if err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead(other's id) = %v, %v; want none", got, err)
	}
	if n := e.get(other, id0); n.Read != nil {
		t.Errorf("other's notification read by user's MarkAllRead")
	}
	if ots, err := s.OriginTopics(e.ctx, other); err != nil || len(ots) != 1 || ots[0].Origin != "plugin-test" {
		t.Errorf("OriginTopics(other) = %v, %v; want only plugin-test", ots, err)
	}
}

func testMarkAllRead(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, 2, -3, 4, -5, 0)
	e.setSaved(user, &e.now, id1, id5)
	e.setRead(other, &e.now, id5) // another user's read state is theirs
	at := e.now.Add(time.Second)

	got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{Topic: "fgh-topic"}, at)
	if err != nil {
		t.Fatalf("MarkAllRead(topic): %v", err)
	}
	expectSameIDs(t, "MarkAllRead(topic)", got, id3)
	if got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{Read: ptr(true)}, at); err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead(read: true) = %v, %v; want none", got, err)
	}
	got, err = s.MarkAllRead(e.ctx, user, notifications.Filter{}, at)
	if err != nil {
		t.Fatalf("MarkAllRead: %v", err)
	}
	expectSameIDs(t, "MarkAllRead", got, id1, id2, id4, id5)
	if got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, at); err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead again = %v, %v; want none", got, err)
	}
	for _, n := range e.list(notifications.Query{}) {
		if !sameTime(n.Read, &at) {
			t.Errorf("%s read %s, want %s", n.ID, fmtTime(n.Read), at)
		}
		if wantSaved := n.ID == id1 || n.ID == id5; (n.Saved != nil) != wantSaved {
			t.Errorf("%s saved %s after MarkAllRead, want unchanged", n.ID, fmtTime(n.Saved))
		}
	}
	st, _ := s.Status(e.ctx, other)
	if want := (notifications.Status{Read: 1, Unread: 2, Unseen: 2}); st != want {
		t.Errorf("other's Status = %+v, want %+v (only their own reads)", st, want)
	}
}

// testBroadcastClearIsPerUser: two users mark one broadcast read and
// saved, one of them clears both, and the other's state is unchanged.
func testBroadcastClearIsPerUser(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(-1, -2)
	read, saved := e.now.Add(-time.Second), e.now
	for _, u := range []string{user, other} {
		e.setRead(u, &read, id1, id2)
		e.setSaved(u, &saved, id1, id2)
	}
	e.setRead(user, nil, id1)
	e.setSaved(user, nil, id1)
	if n := e.get(user, id1); n.Read != nil || n.Saved != nil {
		t.Errorf("after clearing: read %s saved %s, want both cleared", fmtTime(n.Read), fmtTime(n.Saved))
	}
	if n := e.get(user, id2); !sameTime(n.Read, &read) || !sameTime(n.Saved, &saved) {
		t.Errorf("the broadcast not cleared: read %s saved %s, want unchanged", fmtTime(n.Read), fmtTime(n.Saved))
	}
	if n := e.get(other, id1); !sameTime(n.Read, &read) || !sameTime(n.Saved, &saved) {
		t.Errorf("other's state after user cleared: read %s saved %s, want %s and %s", fmtTime(n.Read), fmtTime(n.Saved), read, saved)
	}
	expectIDs(t, "other's read", e.listIDs(notifications.Query{User: other, Filter: notifications.Filter{Read: ptr(true)}}), id2, id1)
	expectIDs(t, "other's saved", e.listIDs(notifications.Query{User: other, Filter: notifications.Filter{Saved: ptr(true)}}), id2, id1)
	if st, err := s.Status(e.ctx, other); err != nil || st != (notifications.Status{Read: 2}) {
		t.Errorf("other's Status = %+v, %v; want 2 read", st, err)
	}
}
