package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Saving: scope de-duplication, all-or-nothing sends, what comes back.

func testScopeMatches(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, 2)
	again := e.f[2]
	again.ID = id(20)
	again.Created = e.now.Add(time.Second)
	got := e.save(again)[0]
	if got.ID != id2 {
		t.Errorf("scoped re-send stored as %s, want the existing %s", got.ID, id2)
	}
	otherOrigin := e.f[2]
	otherOrigin.ID, otherOrigin.Origin = id(21), "other-origin"
	if got := e.save(otherOrigin)[0]; got.ID != id(21) {
		t.Errorf("same scope, other origin: stored as %s, want a new row %s", got.ID, id(21))
	}
	otherUser := e.f[2]
	otherUser.ID, otherUser.User = id(22), other
	if got := e.save(otherUser)[0]; got.ID != id(22) {
		t.Errorf("same scope, other user: stored as %s, want a new row %s", got.ID, id(22))
	}
	if n := e.count(user, notifications.Filter{}); n != 3 {
		t.Errorf("user has %d notifications, want 3", n)
	}

	// Broadcast variant: N1, N2 as broadcasts.
	b := setup(t, s)
	b1, b2 := e.f[1], e.f[2]
	b1.ID, b2.ID = id(31), id(32)
	b.broadcast(b1)
	b.broadcast(b2)
	b2.ID = id(33)
	if got := b.broadcast(b2); got.ID != id(32) {
		t.Errorf("scoped broadcast re-send stored as %s, want %s", got.ID, id(32))
	}
	b2.ID, b2.Origin = id(34), "other-origin"
	if got := b.broadcast(b2); got.ID != id(34) {
		t.Errorf("scoped broadcast, other origin: stored as %s, want %s", got.ID, id(34))
	}
}

func testScopeRestores(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	n2 := e.f[2]
	n2.Payload.Icon = "old-icon"
	n2.Payload.Metadata = map[string]any{"k": "v"}
	e.save(n2)
	e.setRead(user, &e.now, id2)
	saved := e.now.Add(-time.Second)
	e.setSaved(user, &saved, id2)

	later := e.now.Add(time.Minute)
	restore := notifications.Notification{
		ID: id(20), User: user, Origin: "cd-origin", Created: later,
		Payload: notifications.Payload{Title: "New notification", Link: "/scaffolder/task/1234",
			Severity: notifications.SeverityLow, Scope: "scaffolder-1234", Icon: "new-icon"},
	}
	got := e.save(restore)[0]
	stored := e.get(user, id2)
	for what, n := range map[string]notifications.Notification{"returned": got, "stored": stored} {
		if n.ID != id2 || n.Payload.Title != "New notification" || n.Payload.Severity != notifications.SeverityLow ||
			n.Payload.Link != "/scaffolder/task/1234" || n.Payload.Topic != "" {
			t.Errorf("%s = %+v, want id2 with the new title, link, severity and no topic", what, n)
		}
		if n.Read != nil {
			t.Errorf("%s: read %s, want unread again", what, fmtTime(n.Read))
		}
		if !sameTime(n.Updated, &later) {
			t.Errorf("%s: updated %s, want %s", what, fmtTime(n.Updated), fmtTime(&later))
		}
		if !n.Created.Equal(e.now) {
			t.Errorf("%s: created %s, want the original %s", what, n.Created, e.now)
		}
		if n.Payload.Icon != "old-icon" || !sameTime(n.Saved, &saved) {
			t.Errorf("%s: icon %q saved %s, want kept (old-icon, %s)", what, n.Payload.Icon, fmtTime(n.Saved), fmtTime(&saved))
		}
		if n.Payload.Metadata != nil {
			t.Errorf("%s: metadata %v, want cleared", what, n.Payload.Metadata)
		}
	}

	// Broadcast variant: read state of users is kept.
	b := e.f[2]
	b.ID = id(40)
	b.Payload.Scope = "broadcast-scope"
	e.broadcast(b)
	e.setRead(other, &e.now, id(40))
	b.ID, b.Created, b.Payload.Title = id(41), later, "New broadcast"
	gotB := e.broadcast(b)
	if gotB.ID != id(40) || gotB.Payload.Title != "New broadcast" || !sameTime(gotB.Updated, &later) || !gotB.Created.Equal(e.now) {
		t.Errorf("restored broadcast = %+v, want id40, new title, updated %s, created kept", gotB, later)
	}
	if n := e.get(other, id(40)); n.Read == nil || n.Payload.Title != "New broadcast" {
		t.Errorf("other's view of the restored broadcast: read %s title %q, want still read, new title", fmtTime(n.Read), n.Payload.Title)
	}
}

func testSaveReturnsInputOrder(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	first := e.save(notifications.Notification{ID: id(1), User: other, Origin: "o", Created: e.now.Add(-time.Minute),
		Payload: notifications.Payload{Title: "first", Scope: "s"}})[0]
	ns := []notifications.Notification{
		{ID: id(10), User: user, Origin: "o", Created: e.now, Payload: notifications.Payload{Title: "a", Scope: "s"}},
		{ID: id(11), User: user, Origin: "o", Created: e.now, Payload: notifications.Payload{Title: "b"}},
		{ID: id(12), User: other, Origin: "o", Created: e.now, Payload: notifications.Payload{Title: "c", Scope: "s"}},
		{ID: id(13), User: "user:default/third", Origin: "o", Created: e.now, Payload: notifications.Payload{Title: "d", Scope: "s"}},
		// The same scope twice in one send: the second restores the first.
		{ID: id(14), User: user, Origin: "o", Created: e.now.Add(time.Second), Payload: notifications.Payload{Title: "e", Scope: "s"}},
	}
	got := e.save(ns...)
	wantIDs := []string{id(10), id(11), first.ID, id(13), id(10)}
	expectIDs(t, "SaveNotifications", ids(got), wantIDs...)
	for i, n := range got {
		if n.Payload.Title != ns[i].Payload.Title || n.User != ns[i].User {
			t.Errorf("result %d = %q for %s, want %q for %s", i, n.Payload.Title, n.User, ns[i].Payload.Title, ns[i].User)
		}
	}
	if got[2].Updated == nil || !got[2].Created.Equal(first.Created) {
		t.Errorf("restored result: created %s updated %s, want the first's created and an update", got[2].Created, fmtTime(got[2].Updated))
	}
	if got[0].Updated != nil {
		t.Errorf("new scoped result has updated %s", fmtTime(got[0].Updated))
	}
	if n := e.get(user, id(10)); n.Payload.Title != "e" {
		t.Errorf("user's scoped notification has title %q, want the last send's", n.Payload.Title)
	}
	if c := e.count(user, notifications.Filter{}); c != 2 {
		t.Errorf("user has %d notifications, want 2", c)
	}
}

func testFailedSendWritesNothing(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1)
	many := func(n int, first int) []notifications.Notification {
		ns := make([]notifications.Notification, n)
		for i := range ns {
			ns[i] = notifications.Notification{ID: id(first + i), User: fmt.Sprintf("user:default/u%d", i), Origin: "o",
				Created: e.now, Payload: notifications.Payload{Title: "t", Metadata: map[string]any{"i": i}}}
		}
		return ns
	}
	check := func(what string) {
		t.Helper()
		for _, u := range []string{"user:default/u0", "user:default/u1500", "user:default/u2499"} {
			if n := e.count(u, notifications.Filter{}); n != 0 {
				t.Errorf("%s: %s has %d notifications, want none", what, u, n)
			}
		}
		if n := e.count(user, notifications.Filter{}); n != 1 {
			t.Errorf("%s: user has %d notifications, want 1", what, n)
		}
	}

	// An id already stored, in a later batch than most rows.
	ns := many(2500, 10000)
	ns[2400].ID = id1
	if _, err := s.SaveNotifications(e.ctx, ns, nil); err == nil {
		t.Errorf("SaveNotifications with a stored id: no error")
	}
	check("stored id")

	// The same id twice in one send.
	ns = many(2500, 20000)
	ns[2499].ID = ns[0].ID
	if _, err := s.SaveNotifications(e.ctx, ns, nil); err == nil {
		t.Errorf("SaveNotifications with a duplicate id: no error")
	}
	check("duplicate id")

	// A notification without a user.
	ns = many(10, 30000)
	ns[9].User = ""
	if _, err := s.SaveNotifications(e.ctx, ns, nil); err == nil {
		t.Errorf("SaveNotifications without a user: no error")
	}
	check("no user")

	// A cancelled context.
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := s.SaveNotifications(ctx, many(2500, 40000), nil); err == nil {
		t.Errorf("SaveNotifications on a cancelled context: no error")
	}
	check("cancelled")

	// The store still works.
	if got := e.save(many(3, 50000)...); got[2].ID != id(50002) {
		t.Errorf("SaveNotifications after failures returned %v", ids(got))
	}
}

func testFanOutSharedMetadata(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	meta := map[string]any{"backstage.io/body.markdown": "**hi**", "n": json.Number("1.5")}
	ns := make([]notifications.Notification, 3000)
	for i := range ns {
		ns[i] = notifications.Notification{ID: id(100000 + i), User: fmt.Sprintf("user:default/u%04d", i), Origin: "o",
			Created: e.now, Payload: notifications.Payload{Title: "fan-out", Metadata: meta, Topic: "t"}}
	}
	got := e.save(ns...)
	for i, n := range got {
		if n.ID != ns[i].ID || n.User != ns[i].User || !n.Created.Equal(e.now) || !maps.Equal(n.Payload.Metadata, meta) {
			t.Fatalf("result %d = %+v, want %+v", i, n, ns[i])
		}
	}
	for _, i := range []int{0, 1234, 2999} {
		n := e.get(ns[i].User, ns[i].ID)
		if !maps.Equal(n.Payload.Metadata, meta) || n.Payload.Topic != "t" {
			t.Errorf("stored %d: metadata %v topic %q", i, n.Payload.Metadata, n.Payload.Topic)
		}
	}
}

func testTimesRoundTrip(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	loc := time.FixedZone("UTC+5", 5*3600)
	created := time.Date(2025, 1, 2, 3, 4, 5, 678_000_000, loc)
	read := time.Date(2025, 1, 2, 3, 4, 6, 1_000_000, time.UTC)
	saved := time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	updated := created.Add(time.Millisecond)
	n := e.save(notifications.Notification{ID: id(1), User: user, Origin: "o", Created: created,
		Read: &read, Saved: &saved, Updated: &updated, Payload: notifications.Payload{Title: "t"}})[0]
	for what, n := range map[string]notifications.Notification{"returned": n, "stored": e.get(user, id(1))} {
		if !n.Created.Equal(created) || n.Created.Location() != time.UTC {
			t.Errorf("%s created %s, want %s in UTC", what, n.Created, created.UTC())
		}
		if !sameTime(n.Read, &read) || !sameTime(n.Saved, &saved) || !sameTime(n.Updated, &updated) {
			t.Errorf("%s read %s saved %s updated %s", what, fmtTime(n.Read), fmtTime(n.Saved), fmtTime(n.Updated))
		}
	}
}

func testMetadataRoundTrip(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	meta := map[string]any{
		"string":                           "värde 'quoted' \"double\" ? $1 \\ %",
		"number":                           json.Number("42.5"),
		"big":                              json.Number("12345678901234567890123"),
		"bool":                             true,
		"null":                             nil,
		"list":                             []any{"a", json.Number("1"), false},
		"object":                           map[string]any{"nested": map[string]any{"deep": "x"}},
		notifications.MetadataMarkdownBody: "# Title\n\nbody",
	}
	e.save(notifications.Notification{ID: id(1), User: user, Origin: "o", Created: e.now,
		Payload: notifications.Payload{Title: "it's a 'title' with ? and $1", Metadata: meta}})
	b := e.broadcast(notifications.Notification{ID: id(2), Origin: "o", Created: e.now,
		Payload: notifications.Payload{Title: "b", Metadata: meta}})
	if !reflect.DeepEqual(b.Payload.Metadata, meta) {
		t.Errorf("SaveBroadcast metadata = %v", b.Payload.Metadata)
	}
	for _, id := range []string{id(1), id(2)} {
		n := e.get(user, id)
		if !reflect.DeepEqual(n.Payload.Metadata, meta) {
			t.Errorf("%s metadata = %#v, want %#v", id, n.Payload.Metadata, meta)
		}
	}
	if n := e.get(user, id(1)); n.Payload.Title != "it's a 'title' with ? and $1" {
		t.Errorf("title = %q", n.Payload.Title)
	}
}

// parallel runs fn(i) for i in [0, n) at once and fails on any error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// claimEachOnce has claimers claim at once with claim, limit items a
// claim, until the store hands out nothing more, and fails unless each of
// the total items (named what in messages) was claimed exactly once while
// its lease held. A store that hands out leased items again would keep a
// claimer going: each stops after as many claims as one alone would need.
func claimEachOnce[C any](t *testing.T, what string, total, claimers, limit int, claim func(limit int) ([]C, error), idOf func(C) string) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	parallel(t, claimers, func(int) error {
		for range total/limit + 2 {
			cs, err := claim(limit)
			if err != nil || len(cs) == 0 {
				return err
			}
			mu.Lock()
			for _, c := range cs {
				seen[idOf(c)]++
			}
			mu.Unlock()
		}
		return nil
	})
	if len(seen) != total {
		t.Errorf("%d %ss claimed, want %d", len(seen), what, total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s %s claimed %d times while its lease held", what, id, n)
		}
	}
}

func testConcurrentScopedSends(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	users := []string{user, other, "user:default/third"}
	const senders = 12
	results := make([][]notifications.Notification, senders)
	parallel(t, senders, func(i int) error {
		var ns []notifications.Notification
		for j, u := range users {
			ns = append(ns, notifications.Notification{ID: id(1000 + i*10 + j), User: u, Origin: "plugin:ci",
				Created: e.now.Add(time.Duration(i) * time.Millisecond),
				Payload: notifications.Payload{Title: fmt.Sprint("build ", i), Scope: "build-42"}})
		}
		var err error
		results[i], err = s.SaveNotifications(e.ctx, ns, nil)
		return err
	})
	for j, u := range users {
		stored := e.list(notifications.Query{User: u})
		if len(stored) != 1 {
			t.Fatalf("%s has %d notifications for one scope, want 1", u, len(stored))
		}
		for i := range senders {
			if got := results[i][j].ID; got != stored[0].ID {
				t.Errorf("sender %d got id %s for %s, stored is %s", i, got, u, stored[0].ID)
			}
		}
	}
}

// testConcurrentScopedSendsAnyOrder sends one scope to the same users from
// many senders, half of them listing the users in reverse: no sender may
// fail (a store that takes the rows' locks in input order deadlocks here).
func testConcurrentScopedSendsAnyOrder(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const users, senders = 40, 8
	parallel(t, senders, func(i int) error {
		ns := make([]notifications.Notification, users)
		for j := range ns {
			u := j
			if i%2 == 1 {
				u = users - 1 - j
			}
			ns[j] = notifications.Notification{ID: id(10000 + i*100 + j), User: fmt.Sprintf("user:default/u%02d", u),
				Origin: "plugin:ci", Created: e.now, Payload: notifications.Payload{Title: fmt.Sprint("run ", i), Scope: "nightly"}}
		}
		got, err := s.SaveNotifications(e.ctx, ns, nil)
		for j := range got {
			if got[j].User != ns[j].User {
				return fmt.Errorf("sender %d: result %d is for %s, want %s", i, j, got[j].User, ns[j].User)
			}
		}
		return err
	})
	for u := range users {
		if n := e.count(fmt.Sprintf("user:default/u%02d", u), notifications.Filter{}); n != 1 {
			t.Errorf("u%02d has %d notifications for one scope, want 1", u, n)
		}
	}
}

func testConcurrentScopedBroadcasts(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const senders = 12
	got := make([]string, senders)
	parallel(t, senders, func(i int) error {
		n, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(1000 + i), Origin: "plugin:ci", Created: e.now,
			Payload: notifications.Payload{Title: fmt.Sprint("deploy ", i), Scope: "deploy-7"}}, nil)
		got[i] = n.ID
		return err
	})
	stored := e.list(notifications.Query{})
	if len(stored) != 1 {
		t.Fatalf("%d broadcasts for one scope, want 1", len(stored))
	}
	for i, g := range got {
		if g != stored[0].ID {
			t.Errorf("sender %d got id %s, stored is %s", i, g, stored[0].ID)
		}
	}
}

// testTimesOutOfRange checks that the first and last milliseconds of the
// years 1 to 9999 are stored exactly, and that a time outside them is
// refused with ErrInvalid, writing nothing, on every write that takes one.
func testTimesOutOfRange(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	first := time.Date(1, 1, 1, 0, 0, 0, 1_000_000, time.UTC)
	last := time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	got := e.save(
		notifications.Notification{ID: id(1), User: user, Origin: "o", Created: first, Payload: notifications.Payload{Title: "first"}},
		notifications.Notification{ID: id(2), User: user, Origin: "o", Created: last, Read: &last, Payload: notifications.Payload{Title: "last"}},
	)
	if !got[0].Created.Equal(first) || !got[1].Created.Equal(last) {
		t.Errorf("saved created %s and %s, want %s and %s", got[0].Created, got[1].Created, first, last)
	}
	expectIDs(t, "List", e.listIDs(notifications.Query{}), id(2), id(1))
	if n := e.get(user, id(2)); !n.Created.Equal(last) || !sameTime(n.Read, &last) {
		t.Errorf("stored created %s read %s, want %s", n.Created, fmtTime(n.Read), last)
	}
	if n := e.get(user, id(1)); !n.Created.Equal(first) {
		t.Errorf("stored created %s, want %s", n.Created, first)
	}

	invalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", what, err)
		}
	}
	for _, tm := range append(slices.Clone(farPast), farFuture[:3]...) {
		n := notifications.Notification{ID: id(3), User: user, Origin: "o", Created: tm, Payload: notifications.Payload{Title: "t"}}
		_, err := s.SaveNotifications(e.ctx, []notifications.Notification{n}, nil)
		invalid(fmt.Sprint("SaveNotifications created ", tm), err)
		n.Created, n.Updated = e.now, &tm
		_, err = s.SaveNotifications(e.ctx, []notifications.Notification{n}, nil)
		invalid(fmt.Sprint("SaveNotifications updated ", tm), err)
		n.Updated, n.Saved = nil, &tm
		_, err = s.SaveNotifications(e.ctx, []notifications.Notification{n}, nil)
		invalid(fmt.Sprint("SaveNotifications saved ", tm), err)
		n.Created, n.Saved = tm, nil
		_, err = s.SaveBroadcast(e.ctx, n, nil)
		invalid(fmt.Sprint("SaveBroadcast created ", tm), err)
		invalid(fmt.Sprint("SetRead ", tm), s.SetRead(e.ctx, user, []string{id(1)}, &tm, e.now))
		invalid(fmt.Sprint("SetSaved ", tm), s.SetSaved(e.ctx, user, []string{id(1)}, &tm, e.now))
		_, err = s.MarkAllRead(e.ctx, user, notifications.Filter{}, tm)
		invalid(fmt.Sprint("MarkAllRead ", tm), err)
	}
	expectIDs(t, "List after the refused writes", e.listIDs(notifications.Query{}), id(2), id(1))
	if n := e.get(user, id(1)); n.Read != nil || n.Saved != nil {
		t.Errorf("refused SetRead/SetSaved/MarkAllRead changed id1: read %s saved %s", fmtTime(n.Read), fmtTime(n.Saved))
	}
}

// testBadTextRefused checks that text with a NUL byte (which PostgreSQL
// cannot store) or invalid UTF-8 is refused with ErrInvalid by every call
// that takes text, writing nothing, rather than stored, altered or looked
// up as something else: every store gives the same answer.
func testBadTextRefused(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1)
	invalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", what, err)
		}
	}
	for _, bad := range []string{"a\x00b", "a\xffb", "\xed\xa0\x80"} { // NUL, a stray byte, an encoded surrogate
		q := fmt.Sprintf("%q", bad)
		n := notifications.Notification{ID: id(2), User: user, Origin: "o", Created: e.now, Payload: notifications.Payload{Title: "t"}}
		for field, set := range map[string]func(*notifications.Notification){
			"title": func(n *notifications.Notification) { n.Payload.Title = bad },
			"user":  func(n *notifications.Notification) { n.User = bad },
			"topic": func(n *notifications.Notification) { n.Payload.Topic = bad },
			"scope": func(n *notifications.Notification) { n.Payload.Scope = bad },
		} {
			m := n
			set(&m)
			_, err := s.SaveNotifications(e.ctx, []notifications.Notification{m}, nil)
			invalid("SaveNotifications "+field+" "+q, err)
			if field != "user" {
				_, err = s.SaveBroadcast(e.ctx, m, nil)
				invalid("SaveBroadcast "+field+" "+q, err)
			}
		}
		_, err := s.List(e.ctx, notifications.Query{User: user, Filter: notifications.Filter{Topic: bad}})
		invalid("List topic "+q, err)
		_, err = s.List(e.ctx, notifications.Query{User: user, Filter: notifications.Filter{Search: bad}, Limit: 20})
		invalid("List search "+q, err)
		_, err = s.Count(e.ctx, bad, notifications.Filter{})
		invalid("Count user "+q, err)
		_, err = s.Status(e.ctx, bad)
		invalid("Status user "+q, err)
		_, err = s.MarkAllRead(e.ctx, user, notifications.Filter{Search: bad}, e.now)
		invalid("MarkAllRead search "+q, err)
		invalid("ReplaceSettings user "+q, s.ReplaceSettings(e.ctx, bad, nil))
		invalid("ReplaceSettings origin "+q, s.ReplaceSettings(e.ctx, user, []notifications.SettingRow{{Channel: "Web", Origin: bad}}))
		_, err = s.SettingRows(e.ctx, []string{bad})
		invalid("SettingRows user "+q, err)
	}
	expectIDs(t, "List after the refused writes", e.listIDs(notifications.Query{}), id1)
	if n := e.count("user:default/anyone", notifications.Filter{}); n != 0 {
		t.Errorf("%d broadcasts stored by refused writes", n)
	}
}
