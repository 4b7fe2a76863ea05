package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// testListPage checks, for a store that is a notifications.PageCounter,
// that ListPage answers exactly List's page and Count's total, over the
// count fixture's states (read and saved by the user or by another user
// only, hidden ones too), for the common views and filtered ones, every
// order, with limits, offsets past the end and cursors: the single
// statement must count what Count counts, whatever the page holds, and
// a page with no rows must still carry the total.
func testListPage(t *testing.T, s notifications.Store) {
	pc, ok := s.(notifications.PageCounter)
	if !ok {
		t.Skip("the store is not a notifications.PageCounter")
	}
	e := setup(t, s)
	e.countFixture()
	at := e.now
	e.setArchived(&at, id2)
	e.setSnoozed(user, new(e.now.Add(time.Hour)), id5)

	bools := []*bool{nil, new(true), new(false)}
	var filters []notifications.Filter
	for _, read := range bools {
		for _, saved := range bools {
			filters = append(filters, notifications.Filter{Read: read, Saved: saved})
		}
	}
	filters = append(filters,
		notifications.Filter{Seen: new(false)},
		notifications.Filter{Archived: new(true)},
		notifications.Filter{Search: "Notification", Read: new(false)},
		notifications.Filter{Topic: "gh-topic"},
		notifications.Filter{ChangedSince: new(e.now.Add(-time.Hour))},
		notifications.Filter{IDs: []string{id1, id4, "not-a-uuid"}},
		notifications.Filter{IDs: []string{}}, // matches nothing
	)
	orders := [][]notifications.Order{nil, {{Field: notifications.OrderCreated}}, {{Field: notifications.OrderTopic, Desc: true}}}
	pages := []struct{ limit, offset int }{{0, 0}, {2, 0}, {3, 2}, {20, 0}, {5, 100}}
	for _, f := range filters {
		total := e.count(user, f)
		for _, order := range orders {
			for _, p := range pages {
				q := notifications.Query{User: user, Filter: f, Order: order, Limit: p.limit, Offset: p.offset}
				checkListPage(t, e, pc, q, total)
			}
		}
		// A cursor after the first row, and one after every row.
		all := e.list(notifications.Query{Filter: f})
		if len(all) > 0 {
			for _, n := range []notifications.Notification{all[0], all[len(all)-1]} {
				q := notifications.Query{User: user, Filter: f, Limit: 2,
					After: &notifications.Position{Created: n.Created, ID: n.ID}}
				checkListPage(t, e, pc, q, total)
			}
		}
	}
}

func checkListPage(t *testing.T, e *env, pc notifications.PageCounter, q notifications.Query, total int) {
	t.Helper()
	want := e.list(q)
	got, n, err := pc.ListPage(e.ctx, q)
	if err != nil {
		t.Fatalf("ListPage(%s, order %v, limit %d, offset %d): %v", describe(q.Filter), q.Order, q.Limit, q.Offset, err)
	}
	if n != total {
		t.Errorf("ListPage(%s, order %v, limit %d, offset %d, after %v) total = %d, Count = %d",
			describe(q.Filter), q.Order, q.Limit, q.Offset, q.After != nil, n, total)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListPage(%s, order %v, limit %d, offset %d, after %v) = %v, List = %v",
			describe(q.Filter), q.Order, q.Limit, q.Offset, q.After != nil, name(ids(got)), name(ids(want)))
	}
}
