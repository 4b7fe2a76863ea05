package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Keyset pagination: List with a Position.

// cursorFixture stores 30 user notifications and 10 broadcasts whose
// created times tie in groups of four, across both kinds, and returns them
// in created-descending order with the tie-break.
func cursorFixture(e *env) []notifications.Notification {
	e.t.Helper()
	var all []notifications.Notification
	var ns []notifications.Notification
	for i := range 40 {
		n := notifications.Notification{
			ID: id(100 + (i*7)%40), User: user, Origin: "o",
			Created: e.now.Add(-time.Duration(i/4) * time.Second),
			Payload: notifications.Payload{Title: fmt.Sprint("n", i)},
		}
		if i%4 == 1 {
			all = append(all, e.broadcast(n))
			continue
		}
		ns = append(ns, n)
	}
	all = append(all, e.save(ns...)...)
	for i := range all {
		if all[i].IsBroadcast() {
			all[i].User = ""
		}
	}
	slices.SortFunc(all, func(a, b notifications.Notification) int {
		return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(kind(a), kind(b)), strings.Compare(a.ID, b.ID))
	})
	return all
}

func kind(n notifications.Notification) int {
	if n.IsBroadcast() {
		return 1
	}
	return 0
}

func position(n notifications.Notification) *notifications.Position {
	return &notifications.Position{Created: n.Created, Broadcast: n.IsBroadcast(), ID: n.ID}
}

// page walks the list q selects with After in pages of size, calling
// between(i) after page i.
func (e *env) page(q notifications.Query, size int, between func(int)) []string {
	e.t.Helper()
	var out []string
	var after *notifications.Position
	for i := 0; ; i++ {
		q.Limit, q.After = size, after
		ns := e.list(q)
		out = append(out, ids(ns)...)
		if len(ns) < size {
			return out
		}
		if i > 100 {
			e.t.Fatalf("pagination does not end")
		}
		after = position(ns[len(ns)-1])
		if between != nil {
			between(i)
		}
	}
}

func testCursorPagination(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	all := cursorFixture(e)
	desc := ids(all)
	asc := slices.Clone(all)
	slices.SortFunc(asc, func(a, b notifications.Notification) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(kind(a), kind(b)), strings.Compare(a.ID, b.ID))
	})
	expectIDs(t, "List", e.listIDs(notifications.Query{}), desc...)

	n := 0
	insert := func(created time.Time) func(int) {
		return func(int) {
			n++
			e.save(notifications.Notification{ID: id(900 + n), User: user, Origin: "o", Created: created,
				Payload: notifications.Payload{Title: "late"}})
			e.broadcast(notifications.Notification{ID: id(950 + n), Origin: "o", Created: created,
				Payload: notifications.Payload{Title: "late"}})
		}
	}
	// Rows that sort before the cursor, added between pages, never show up.
	// (The filter keeps each walk's additions out of the next walk.)
	f := notifications.Filter{CreatedAfter: new(e.now.Add(-time.Minute)), CreatedBefore: new(e.now)}
	expectIDs(t, "desc pages", e.page(notifications.Query{Filter: f}, 7, insert(e.now.Add(time.Hour))), desc...)
	expectIDs(t, "asc pages", e.page(notifications.Query{Filter: f, Order: []notifications.Order{{Field: notifications.OrderCreated}}}, 6,
		insert(e.now.Add(-time.Hour))), ids(asc)...)
	expectIDs(t, "explicit desc pages", e.page(notifications.Query{Filter: f,
		Order: []notifications.Order{{Field: notifications.OrderCreated, Desc: true}}}, 40, nil), desc...)
	expectIDs(t, "page of one", e.page(notifications.Query{Filter: f}, 1, nil), desc...)

	// A filter applies on top of the position.
	unread := e.list(notifications.Query{Filter: notifications.Filter{Read: ptr(false), Search: "n1"}, Limit: 3, After: position(all[0])})
	for _, n := range unread {
		if !strings.HasPrefix(n.Payload.Title, "n1") || n.ID == all[0].ID {
			t.Errorf("filtered page after the first row holds %s %q", n.ID, n.Payload.Title)
		}
	}
	if _, err := s.List(e.ctx, notifications.Query{User: user, After: position(all[0]),
		Order: []notifications.Order{{Field: notifications.OrderTitle}}}); err == nil {
		t.Errorf("List with a position and title order: no error")
	}
}

func testCursorConcurrentInserts(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	want := ids(cursorFixture(e))
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				done <- nil
				return
			default:
			}
			created := time.Now().Add(time.Hour)
			if _, err := s.SaveNotifications(ctx, []notifications.Notification{{ID: id(10000 + i), User: user,
				Origin: "o", Created: created, Payload: notifications.Payload{Title: "late"}}}, nil); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
	}()
	got := e.page(notifications.Query{}, 5, nil)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("concurrent SaveNotifications: %v", err)
	}
	seen := map[string]bool{}
	var old []string
	for _, id := range got {
		if seen[id] {
			t.Errorf("%s listed twice", id)
		}
		seen[id] = true
		if slices.Contains(want, id) {
			old = append(old, id)
		}
	}
	expectIDs(t, "pre-existing rows", old, want...)
}

// testCursorOutOfRange checks positions whose time is outside the years 1
// to 9999, as a tampered cursor carries: past the end of the list is an
// empty page, before its start is the first page, never an error.
func testCursorOutOfRange(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3)
	desc := []string{id2, id3, id1}
	asc := []string{id1, id3, id2}
	ascending := []notifications.Order{{Field: notifications.OrderCreated}}
	for _, broadcast := range []bool{false, true} {
		pos := func(tm time.Time) *notifications.Position {
			return &notifications.Position{Created: tm, Broadcast: broadcast, ID: id(9)}
		}
		for _, tm := range farPast {
			what := fmt.Sprintf("position %s (broadcast %v)", tm, broadcast)
			expectIDs(t, what+", desc", e.listIDs(notifications.Query{After: pos(tm), Limit: 2}))
			expectIDs(t, what+", desc, no limit", e.listIDs(notifications.Query{After: pos(tm)}))
			expectIDs(t, what+", asc", e.listIDs(notifications.Query{After: pos(tm), Order: ascending, Limit: 2}), asc[:2]...)
		}
		for _, tm := range farFuture {
			what := fmt.Sprintf("position %s (broadcast %v)", tm, broadcast)
			expectIDs(t, what+", desc", e.listIDs(notifications.Query{After: pos(tm), Limit: 2}), desc[:2]...)
			expectIDs(t, what+", asc", e.listIDs(notifications.Query{After: pos(tm), Order: ascending, Limit: 2}))
			expectIDs(t, what+", asc, no limit", e.listIDs(notifications.Query{After: pos(tm), Order: ascending}))
		}
	}
}
