package storetest

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Reading: List, Get, Count, Status, Topics and OriginTopics, with every filter and order.

func testGetEveryField(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1)
	got := e.get(user, id1)
	want := e.f[1]
	if got.ID != want.ID || got.User != user || got.Origin != want.Origin || !got.Created.Equal(want.Created) {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	if got.Updated != nil || got.Read != nil || got.Saved != nil {
		t.Errorf("Get: updated %s read %s saved %s, want all nil", fmtTime(got.Updated), fmtTime(got.Read), fmtTime(got.Saved))
	}
	p, w := got.Payload, want.Payload
	if p.Title != w.Title || p.Description != w.Description || p.Link != w.Link || p.Severity != notifications.SeverityCritical ||
		p.Topic != w.Topic || p.Scope != w.Scope || p.Icon != "docs" {
		t.Errorf("Get payload = %+v, want %+v", p, w)
	}
	if !maps.Equal(p.Metadata, map[string]any{"attribute1": "value1"}) {
		t.Errorf("Get metadata = %v, want {attribute1: value1}", p.Metadata)
	}
	if got.Created.Location() != time.UTC {
		t.Errorf("Get created in %v, want UTC", got.Created.Location())
	}
}

func testListUnion(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, 2, -3, 0)
	ns := e.list(notifications.Query{})
	expectIDs(t, "List", ids(ns), id2, id3, id1)
	for _, n := range ns {
		if want := map[bool]string{true: "", false: user}[n.ID == id3]; n.User != want {
			t.Errorf("List: %s has user %q, want %q", n.ID, n.User, want)
		}
	}
}

func testEmptyStore(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	if ns := e.list(notifications.Query{}); len(ns) != 0 {
		t.Errorf("List = %v", ns)
	}
	if st, err := s.Status(e.ctx, user); err != nil || st != (notifications.Status{}) {
		t.Errorf("Status = %+v, %v", st, err)
	}
	if got, err := s.SaveNotifications(e.ctx, nil, nil); err != nil || len(got) != 0 {
		t.Errorf("SaveNotifications(nil) = %v, %v", got, err)
	}
	if n, err := s.DeleteOlderThan(e.ctx, e.now, 0); err != nil || n != 0 {
		t.Errorf("DeleteOlderThan = %d, %v", n, err)
	}
	if got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, e.now); err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead = %v, %v", got, err)
	}
	if err := s.SetRead(e.ctx, user, nil, &e.now, e.now); err != nil {
		t.Errorf("SetRead(no ids) = %v", err)
	}
	if ots, err := s.OriginTopics(e.ctx, user); err != nil || len(ots) != 0 {
		t.Errorf("OriginTopics = %v, %v", ots, err)
	}
}

func testReadFilter(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3, 0)
	e.setRead(user, &e.now, id1, id3)
	expectIDs(t, "read", e.listIDs(notifications.Query{Filter: notifications.Filter{Read: ptr(true)}}), id3, id1)
	expectIDs(t, "unread", e.listIDs(notifications.Query{Filter: notifications.Filter{Read: ptr(false)}}), id2)
	expectIDs(t, "either", e.listIDs(notifications.Query{}), id2, id3, id1)
}

func testSearch(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(2, -1, 0)
	expectIDs(t, "search", e.listIDs(notifications.Query{Filter: notifications.Filter{Search: "find me"}}), id1)
	expectIDs(t, "search case", e.listIDs(notifications.Query{Filter: notifications.Filter{Search: "FIND Me"}}), id1)
	expectIDs(t, "search description", e.listIDs(notifications.Query{Filter: notifications.Filter{Search: "DESCRIPTION"}}), id1)
}

func testLiteralSearch(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	titles := []string{"100% done", "100 percent", "a_b", "axb", `back\slash`, "back-slash", "it's"}
	e.expectSearches(titles, map[string][]string{
		"%":      {id(1)},
		"0% d":   {id(1)},
		"_":      {id(3)},
		"a_b":    {id(3)},
		`\`:      {id(5)},
		`k\s`:    {id(5)},
		"'":      {id(7)},
		"PERCEN": {id(2)},
		"%%":     nil,
	})
}

// expectSearches saves one notification of user's per title, with ids
// id(1), id(2), ... in title order, and checks that a search for each
// term of want lists want[term].
func (e *env) expectSearches(titles []string, want map[string][]string) {
	e.t.Helper()
	var ns []notifications.Notification
	for i, title := range titles {
		ns = append(ns, notifications.Notification{ID: id(i + 1), User: user, Origin: "o",
			Created: e.now.Add(-time.Duration(i) * time.Second), Payload: notifications.Payload{Title: title}})
	}
	e.save(ns...)
	for term, ids := range want {
		expectIDs(e.t, fmt.Sprintf("search %q", term), e.listIDs(notifications.Query{Filter: notifications.Filter{Search: term}}), ids...)
	}
}

func testCreatedAfter(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 0)
	f := notifications.Filter{CreatedAfter: new(e.now.Add(-5 * time.Minute))}
	expectIDs(t, "createdAfter", e.listIDs(notifications.Query{Filter: f}), id2)
	// Inclusive at the millisecond, on both bounds.
	expectIDs(t, "createdAfter = created", e.listIDs(notifications.Query{Filter: notifications.Filter{CreatedAfter: new(e.now)}}), id2)
	expectIDs(t, "createdBefore = created", e.listIDs(notifications.Query{Filter: notifications.Filter{CreatedBefore: new(e.f[1].Created)}}), id1)
	expectIDs(t, "createdBefore", e.listIDs(notifications.Query{Filter: notifications.Filter{CreatedBefore: new(e.now.Add(-time.Minute))}}), id1)
	expectIDs(t, "createdAfter 1ms later", e.listIDs(notifications.Query{Filter: notifications.Filter{CreatedAfter: new(e.now.Add(time.Millisecond))}}))
}

func testChangedSince(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	since := e.now.Add(-30 * time.Second)
	old := func(n notifications.Notification) notifications.Notification {
		n.Created = e.now.Add(-time.Hour)
		return n
	}
	// id1 was created an hour ago and is untouched; id2 is new; id3 and id4
	// are old but were read and saved since; broadcast id5 is old but read
	// since by user (not by other); broadcast id6 is old and untouched.
	e.save(e.f[1], e.f[2], old(e.f[3]), old(e.f[4]))
	e.broadcast(old(e.f[5]))
	e.broadcast(old(e.f[6]))
	e.setRead(user, &e.now, id3, id5)
	e.setSaved(user, &e.now, id(4))
	f := notifications.Filter{ChangedSince: new(since)}
	expectSameIDs(t, "List(changed since)", e.listIDs(notifications.Query{Filter: f}), id2, id3, id(4), id(5))
	expectSameIDs(t, "List(changed since) of other", e.listIDs(notifications.Query{User: other, Filter: f}))
	if n := e.count(user, f); n != 4 {
		t.Errorf("Count(changed since) = %d, want 4", n)
	}
	// A scoped re-send updates an old row: it has changed.
	scoped := old(e.f[2])
	scoped.ID, scoped.Payload.Scope = id(7), "changed-since"
	e.save(scoped)
	resend := scoped
	resend.ID, resend.Created = id(8), e.now
	e.save(resend)
	expectSameIDs(t, "List(changed since) after a scoped re-send", e.listIDs(notifications.Query{Filter: f}), id2, id3, id(4), id(5), id(7))
}

func testTopicFilter(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, 2, 3)
	expectIDs(t, "topic", e.listIDs(notifications.Query{Filter: notifications.Filter{Topic: "efgh-topic"}}), id1)
	expectIDs(t, "topic prefix", e.listIDs(notifications.Query{Filter: notifications.Filter{Topic: "efgh"}}))
}

func testMinimumSeverity(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	sevs := []notifications.Severity{notifications.SeverityNormal, "", notifications.SeverityCritical, notifications.SeverityHigh, notifications.SeverityLow}
	for i, sev := range sevs {
		n := e.f[i+1]
		n.Created = e.now.Add(-time.Duration(i) * 5 * time.Second)
		n.Payload.Severity = sev
		n.Payload.Scope = ""
		e.save(n)
	}
	for _, c := range []struct {
		min  notifications.Severity
		want []string
	}{
		{notifications.SeverityNormal, []string{id1, id2, id3, id4}},
		{notifications.SeverityCritical, []string{id3}},
		{notifications.SeverityHigh, []string{id3, id4}},
		{notifications.SeverityLow, []string{id1, id2, id3, id4, id5}},
	} {
		got := e.listIDs(notifications.Query{Filter: notifications.Filter{MinimumSeverity: c.min}})
		expectIDs(t, "minimumSeverity "+string(c.min), got, c.want...)
	}
	if got := e.get(user, id2).Payload.Severity; got != notifications.SeverityNormal {
		t.Errorf("empty severity stored as %q, want normal", got)
	}
}

// pagingFixture stores N1–N5, N6 as a broadcast, N7 and O.
func pagingFixture(e *env) {
	e.t.Helper()
	e.fixture(1, 2, 3, 4, 5, -6, 7, 0)
}

func testLimitOffset(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	pagingFixture(e)
	if n := len(e.list(notifications.Query{})); n != 7 {
		t.Errorf("List: %d notifications, want 7", n)
	}
	f := notifications.Filter{CreatedAfter: new(e.f[1].Created.Add(-time.Millisecond))}
	expectIDs(t, "all", e.listIDs(notifications.Query{Filter: f}), id2, id7, id6, id5, id4, id3, id1)
	expectIDs(t, "limit 3", e.listIDs(notifications.Query{Filter: f, Limit: 3}), id2, id7, id6)
	expectIDs(t, "limit 3 offset 3", e.listIDs(notifications.Query{Filter: f, Limit: 3, Offset: 3}), id5, id4, id3)
	expectIDs(t, "offset 5, no limit", e.listIDs(notifications.Query{Filter: f, Offset: 5}), id3, id1)
	expectIDs(t, "offset past the end", e.listIDs(notifications.Query{Filter: f, Limit: 3, Offset: 7}))
}

func testHugeLimitAndOffset(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, 2, -3)
	const huge = int(^uint(0) >> 1)
	expectIDs(t, "huge limit", e.listIDs(notifications.Query{Limit: huge}), id2, id3, id1)
	expectIDs(t, "huge limit and offset", e.listIDs(notifications.Query{Limit: huge, Offset: huge}))
	expectIDs(t, "huge offset", e.listIDs(notifications.Query{Offset: huge}))
	expectIDs(t, "huge limit, offset 1, title order", e.listIDs(notifications.Query{Limit: huge, Offset: 1,
		Order: []notifications.Order{{Field: notifications.OrderTitle}}}), id2, id3)
}

func testOrder(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3)
	by := func(field notifications.OrderField, desc bool) []notifications.Order {
		return []notifications.Order{{Field: field, Desc: desc}}
	}
	expectIDs(t, "created asc", e.listIDs(notifications.Query{Order: by(notifications.OrderCreated, false)}), id1, id3, id2)
	expectIDs(t, "created desc", e.listIDs(notifications.Query{Order: by(notifications.OrderCreated, true)}), id2, id3, id1)
	expectIDs(t, "topic asc", e.listIDs(notifications.Query{Order: by(notifications.OrderTopic, false)}), id1, id3, id2)
	expectIDs(t, "topic desc", e.listIDs(notifications.Query{Order: by(notifications.OrderTopic, true)}), id2, id3, id1)
	expectIDs(t, "origin asc limit 2", e.listIDs(notifications.Query{Order: by(notifications.OrderOrigin, false), Limit: 2}), id1, id3)
	expectIDs(t, "origin desc limit 2 offset 2", e.listIDs(notifications.Query{Order: by(notifications.OrderOrigin, true), Limit: 2, Offset: 2}), id1)
	// Ties: user notifications before broadcasts.
	expectIDs(t, "severity asc", e.listIDs(notifications.Query{Order: by(notifications.OrderSeverity, false)}), id1, id3, id2)
	expectIDs(t, "severity desc", e.listIDs(notifications.Query{Order: by(notifications.OrderSeverity, true)}), id3, id2, id1)
	expectIDs(t, "title asc", e.listIDs(notifications.Query{Order: by(notifications.OrderTitle, false)}), id1, id2, id3)
}

func testOrderNullsAndTieBreak(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	// Same created everywhere: only the tie-break orders.
	for _, i := range []int{5, 3, 1} {
		e.broadcast(notifications.Notification{ID: id(i), Origin: "o", Created: e.now, Payload: notifications.Payload{Title: "b"}})
	}
	for _, i := range []int{6, 2, 4} {
		e.save(notifications.Notification{ID: id(i), User: user, Origin: "o", Created: e.now, Payload: notifications.Payload{Title: "n"}})
	}
	tie := []string{id2, id4, id6, id1, id3, id5}
	expectIDs(t, "created desc", e.listIDs(notifications.Query{}), tie...)
	expectIDs(t, "created asc", e.listIDs(notifications.Query{Order: []notifications.Order{{Field: notifications.OrderCreated}}}), tie...)
	expectIDs(t, "no order", e.listIDs(notifications.Query{Order: []notifications.Order{}}), tie...)
	expectIDs(t, "created desc limit 4", e.listIDs(notifications.Query{Limit: 4}), tie[:4]...)

	e.setRead(user, &e.now, id4, id3)
	expectIDs(t, "read asc (nulls first)", e.listIDs(notifications.Query{Order: []notifications.Order{{Field: notifications.OrderRead}}}),
		id2, id6, id1, id5, id4, id3)
	expectIDs(t, "read desc (nulls last)", e.listIDs(notifications.Query{Order: []notifications.Order{{Field: notifications.OrderRead, Desc: true}}}),
		id4, id3, id2, id6, id1, id5)
	expectIDs(t, "saved asc limit 2", e.listIDs(notifications.Query{Order: []notifications.Order{{Field: notifications.OrderSaved}}, Limit: 2}),
		id2, id4)
	expectIDs(t, "title desc, read", e.listIDs(notifications.Query{Order: []notifications.Order{
		{Field: notifications.OrderTitle, Desc: true}, {Field: notifications.OrderRead}}}),
		id2, id6, id4, id1, id5, id3)
	expectIDs(t, "updated asc", e.listIDs(notifications.Query{Order: []notifications.Order{{Field: notifications.OrderUpdated}}}), tie...)
}

func testUnknownOrderField(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1)
	for _, f := range []notifications.OrderField{"user", "id; DROP TABLE notification", "metadata"} {
		if _, err := s.List(e.ctx, notifications.Query{User: user, Order: []notifications.Order{{Field: f}}}); err == nil {
			t.Errorf("List ordered by %q: no error", f)
		}
	}
	if n := e.count(user, notifications.Filter{}); n != 1 {
		t.Errorf("Count = %d after bad queries, want 1", n)
	}
}

func testCountIgnoresPaging(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	pagingFixture(e)
	f := notifications.Filter{CreatedAfter: new(e.f[1].Created.Add(-time.Millisecond))}
	if n := e.count(user, f); n != 7 {
		t.Errorf("Count = %d, want 7", n)
	}
	if n := e.count(user, notifications.Filter{Topic: "efgh-topic"}); n != 1 {
		t.Errorf("Count(topic) = %d, want 1", n)
	}
	if n := e.count(other, notifications.Filter{}); n != 2 {
		t.Errorf("Count(other) = %d, want 2 (O and the broadcast)", n)
	}
}

func testStatus(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	n1 := e.f[1]
	n1.Read = &e.now
	e.save(n1, e.f[2])
	e.fixture(-3, -4, 0)
	e.setRead(user, &e.now, id3)
	st, err := s.Status(e.ctx, user)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if want := (notifications.Status{Read: 2, Unread: 2, Unseen: 2}); st != want {
		t.Errorf("Status = %+v, want %+v", st, want)
	}
	st, err = s.Status(e.ctx, other)
	if err != nil {
		t.Fatalf("Status(other): %v", err)
	}
	if want := (notifications.Status{Read: 0, Unread: 3, Unseen: 3}); st != want {
		t.Errorf("Status(other) = %+v, want %+v", st, want)
	}
	st, err = s.Status(e.ctx, "user:default/nobody")
	if err != nil {
		t.Fatalf("Status(nobody): %v", err)
	}
	if want := (notifications.Status{Read: 0, Unread: 2, Unseen: 2}); st != want {
		t.Errorf("Status(nobody) = %+v, want %+v (the broadcasts)", st, want)
	}
}

func testTopics(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, 2, -3, 4, 0)
	topics := func(f notifications.Filter) []string {
		t.Helper()
		ts, err := s.Topics(e.ctx, user, f)
		if err != nil {
			t.Fatalf("Topics: %v", err)
		}
		return ts
	}
	if got, want := topics(notifications.Filter{}), []string{"efgh-topic", "fgh-topic", "gh-topic"}; !slices.Equal(got, want) {
		t.Errorf("Topics = %v, want %v", got, want)
	}
	if got, want := topics(notifications.Filter{Search: "Notification 3"}), []string{"fgh-topic"}; !slices.Equal(got, want) {
		t.Errorf("Topics(search) = %v, want %v", got, want)
	}
	if got, want := topics(notifications.Filter{MinimumSeverity: notifications.SeverityCritical}), []string{"efgh-topic"}; !slices.Equal(got, want) {
		t.Errorf("Topics(critical) = %v, want %v", got, want)
	}
	if got := topics(notifications.Filter{Topic: "nope"}); len(got) != 0 {
		t.Errorf("Topics(no match) = %v, want none", got)
	}
}

func testOriginTopics(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, 2, -3, 4, 5, 0)
	got, err := s.OriginTopics(e.ctx, user)
	if err != nil {
		t.Fatalf("OriginTopics: %v", err)
	}
	want := []notifications.OriginTopic{
		{Origin: "abcd-origin", Topic: "efgh-topic"},
		{Origin: "cd-origin", Topic: "gh-topic"},
		{Origin: "plugin-test", Topic: ""},
	}
	slices.SortFunc(got, func(a, b notifications.OriginTopic) int {
		if a.Origin != b.Origin {
			return map[bool]int{true: -1, false: 1}[a.Origin < b.Origin]
		}
		return map[bool]int{true: -1, false: 1}[a.Topic < b.Topic]
	})
	if !slices.Equal(got, want) {
		t.Errorf("OriginTopics = %+v, want %+v", got, want)
	}
}

func testMalformedIDs(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2)
	bad := []string{"", "not-a-uuid", "00000000-0000-4000-8000-00000000000g", "'; DROP TABLE notification; --", id1 + " "}
	for _, b := range bad {
		if _, err := s.Get(e.ctx, user, b); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", b, err)
		}
	}
	// UUIDs are case-insensitive.
	if n, err := s.Get(e.ctx, user, strings.ToUpper(id1)); err != nil || n.ID != id1 {
		t.Errorf("Get(upper-case id) = %s, %v; want %s", n.ID, err, id1)
	}
	e.setRead(user, &e.now, append(slices.Clone(bad), id1, id2)...)
	e.setSaved(user, &e.now, append(slices.Clone(bad), id2)...)
	if n := e.get(user, id1); n.Read == nil {
		t.Errorf("SetRead with malformed ids beside: id1 unread")
	}
	if n := e.get(user, id2); n.Read == nil || n.Saved == nil {
		t.Errorf("SetRead/SetSaved with malformed ids beside: broadcast read %s saved %s", fmtTime(n.Read), fmtTime(n.Saved))
	}
	e.setRead(user, nil, bad...)
	f := notifications.Filter{IDs: bad}
	expectIDs(t, "List(malformed ids)", e.listIDs(notifications.Query{Filter: f}))
	if n := e.count(user, f); n != 0 {
		t.Errorf("Count(malformed ids) = %d", n)
	}
	if got, err := s.Topics(e.ctx, user, f); err != nil || len(got) != 0 {
		t.Errorf("Topics(malformed ids) = %v, %v", got, err)
	}
	if got, err := s.MarkAllRead(e.ctx, user, f, e.now); err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead(malformed ids) = %v, %v", got, err)
	}
	expectIDs(t, "List(malformed and good ids)",
		e.listIDs(notifications.Query{Filter: notifications.Filter{IDs: append(slices.Clone(bad), id1)}}), id1)
	expectIDs(t, "List(empty non-nil ids)", e.listIDs(notifications.Query{Filter: notifications.Filter{IDs: []string{}}}))
}

// Times far outside the years 1 to 9999, as a tampered request can carry.
var (
	farPast   = []time.Time{time.UnixMilli(-99999999999999), time.UnixMilli(math.MinInt64), time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}
	farFuture = []time.Time{time.UnixMilli(math.MaxInt64), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(1<<62, 0),
		time.Date(9999, 12, 31, 23, 59, 59, 999_500_000, time.UTC)} // the last after the last whole millisecond of 9999
)

// testTimeBoundsOutOfRange checks that a time bound outside the years 1 to
// 9999 is clamped, never an error: a lower bound before year 1 selects from
// the beginning, one after 9999 nothing; an upper bound after 9999 selects
// to the end, one before year 1 nothing. The zero time is year 1, a bound
// like any other: CreatedBefore of it selects nothing stored.
func testTimeBoundsOutOfRange(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3)
	all := []string{id2, id3, id1}
	check := func(what string, f notifications.Filter, want ...string) {
		t.Helper()
		expectIDs(t, what, e.listIDs(notifications.Query{Filter: f}), want...)
		expectIDs(t, what+", page", e.listIDs(notifications.Query{Filter: f, Limit: 2}), want[:min(2, len(want))]...)
		if n, err := s.Count(e.ctx, user, f); err != nil || n != len(want) {
			t.Errorf("%s: Count = %d, %v; want %d", what, n, err, len(want))
		}
		if _, err := s.Topics(e.ctx, user, f); err != nil {
			t.Errorf("%s: Topics: %v", what, err)
		}
	}
	check("createdBefore zero time", notifications.Filter{CreatedBefore: new(time.Time{})})
	check("createdAfter zero time", notifications.Filter{CreatedAfter: new(time.Time{})}, all...)
	for _, tm := range farPast {
		check(fmt.Sprint("createdAfter ", tm), notifications.Filter{CreatedAfter: new(tm)}, all...)
		check(fmt.Sprint("changedSince ", tm), notifications.Filter{ChangedSince: new(tm)}, all...)
		check(fmt.Sprint("createdBefore ", tm), notifications.Filter{CreatedBefore: new(tm)})
	}
	for _, tm := range farFuture {
		check(fmt.Sprint("createdAfter ", tm), notifications.Filter{CreatedAfter: new(tm)})
		check(fmt.Sprint("changedSince ", tm), notifications.Filter{ChangedSince: new(tm)})
		check(fmt.Sprint("createdBefore ", tm), notifications.Filter{CreatedBefore: new(tm)}, all...)
	}
	check("both bounds out of range", notifications.Filter{CreatedAfter: new(farPast[0]), CreatedBefore: new(farFuture[0])}, all...)

	// Marking all read follows the same rule.
	if got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{CreatedBefore: new(time.Time{})}, e.now); err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead(createdBefore zero time) = %v, %v; want none", got, err)
	}
	if got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{CreatedAfter: new(farFuture[0])}, e.now); err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead(createdAfter far future) = %v, %v; want none", got, err)
	}
	got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{CreatedAfter: new(farPast[0]), CreatedBefore: new(farFuture[0])}, e.now)
	if err != nil {
		t.Fatalf("MarkAllRead(everything, bounds out of range): %v", err)
	}
	expectSameIDs(t, "MarkAllRead(everything, bounds out of range)", got, all...)
}

// testLongSearch checks that every search up to MaxSearchLength characters
// is answered, whatever it holds (characters a LIKE pattern would have to
// escape, which doubles them, and 4-byte characters), and matches
// literally.
func testLongSearch(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const n = notifications.MaxSearchLength
	terms := []string{
		strings.Repeat("%", n), strings.Repeat("_", n), strings.Repeat(`\`, n), strings.Repeat("𝔸", n),
		strings.Repeat("'", n), strings.Repeat(`%_\'𝔸`, n/5), strings.Repeat("a", n),
	}
	var ns []notifications.Notification
	for i, term := range terms {
		// The title holds the term once; the description holds all but its
		// last character, which must not match.
		r := []rune(term)
		ns = append(ns, notifications.Notification{ID: id(i + 1), User: user, Origin: "o", Created: e.now.Add(-time.Duration(i) * time.Second),
			Payload: notifications.Payload{Title: "x" + term + "y", Description: string(r[:len(r)-1])}})
	}
	e.save(ns...)
	e.broadcast(notifications.Notification{ID: id(100), Origin: "o", Created: e.now.Add(-time.Hour),
		Payload: notifications.Payload{Title: "b", Description: strings.Repeat("%", n)}})
	for i, term := range terms {
		want := []string{id(i + 1)}
		if i == 0 {
			want = append(want, id(100))
		}
		f := notifications.Filter{Search: term}
		expectIDs(t, fmt.Sprintf("search %d × %q", len([]rune(term)), []rune(term)[0]), e.listIDs(notifications.Query{Filter: f}), want...)
		expectIDs(t, fmt.Sprintf("search %d × %q, page", len([]rune(term)), []rune(term)[0]), e.listIDs(notifications.Query{Filter: f, Limit: 20}), want...)
		if c := e.count(user, f); c != len(want) {
			t.Errorf("Count(search %d × %q) = %d, want %d", len([]rune(term)), []rune(term)[0], c, len(want))
		}
		if _, err := s.Topics(e.ctx, user, f); err != nil {
			t.Errorf("Topics(search %d × %q): %v", len([]rune(term)), []rune(term)[0], err)
		}
		if _, err := s.MarkAllRead(e.ctx, other, f, e.now); err != nil {
			t.Errorf("MarkAllRead(search %d × %q): %v", len([]rune(term)), []rune(term)[0], err)
		}
	}
}
