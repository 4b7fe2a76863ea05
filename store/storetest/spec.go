package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// specTests are the store acceptance cases 61–80 of the spec (Backstage's
// DatabaseNotificationsStore tests), at the Store API.
var specTests = []test{
	{"61_GetReturnsEveryField", testGetEveryField},
	{"62_ListUnionsBroadcasts", testListUnion},
	{"63_ReadFilter", testReadFilter},
	{"64_BroadcastReadIsPerUser", testBroadcastReadPerUser},
	{"65_Search", testSearch},
	{"66_CreatedAfter", testCreatedAfter},
	{"67_Topic", testTopicFilter},
	{"68_MinimumSeverity", testMinimumSeverity},
	{"69_LimitOffset", testLimitOffset},
	{"70_Order", testOrder},
	{"71_CountIgnoresPaging", testCountIgnoresPaging},
	{"72_Status", testStatus},
	{"73_ScopeMatches", testScopeMatches},
	{"74_ScopeRestores", testScopeRestores},
	{"75_GetBroadcastPerUser", testGetBroadcastPerUser},
	{"76_SetReadSetSaved", testSetReadSetSaved},
	{"77_SettingsRoundTrip", testSettingsRoundTrip},
	{"78_Topics", testTopics},
	{"79_OriginTopics", testOriginTopics},
	{"80_DeleteOlderThan", testDeleteOlderThan},
}

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

func testReadFilter(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3, 0)
	e.setRead(user, &e.now, id1, id3)
	expectIDs(t, "read", e.listIDs(notifications.Query{Filter: notifications.Filter{Read: ptr(true)}}), id3, id1)
	expectIDs(t, "unread", e.listIDs(notifications.Query{Filter: notifications.Filter{Read: ptr(false)}}), id2)
	expectIDs(t, "either", e.listIDs(notifications.Query{}), id2, id3, id1)
}

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

func testSearch(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(2, -1, 0)
	expectIDs(t, "search", e.listIDs(notifications.Query{Filter: notifications.Filter{Search: "find me"}}), id1)
	expectIDs(t, "search case", e.listIDs(notifications.Query{Filter: notifications.Filter{Search: "FIND Me"}}), id1)
	expectIDs(t, "search description", e.listIDs(notifications.Query{Filter: notifications.Filter{Search: "DESCRIPTION"}}), id1)
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

// fixture69 stores N1–N5, N6 as a broadcast, N7 and O.
func fixture69(e *env) {
	e.t.Helper()
	e.fixture(1, 2, 3, 4, 5, -6, 7, 0)
}

func testLimitOffset(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	fixture69(e)
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

func testCountIgnoresPaging(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	fixture69(e)
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
	if want := (notifications.Status{Read: 2, Unread: 2}); st != want {
		t.Errorf("Status = %+v, want %+v", st, want)
	}
	st, err = s.Status(e.ctx, other)
	if err != nil {
		t.Fatalf("Status(other): %v", err)
	}
	if want := (notifications.Status{Read: 0, Unread: 3}); st != want {
		t.Errorf("Status(other) = %+v, want %+v", st, want)
	}
	st, err = s.Status(e.ctx, "user:default/nobody")
	if err != nil {
		t.Fatalf("Status(nobody): %v", err)
	}
	if want := (notifications.Status{Read: 0, Unread: 2}); st != want {
		t.Errorf("Status(nobody) = %+v, want %+v (the broadcasts)", st, want)
	}
}

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

func testSettingsRoundTrip(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const u = "user:default/test"
	rows := []notifications.SettingRow{
		{Channel: notifications.WebChannel, Origin: "abcd-origin", Enabled: true},
		{Channel: notifications.WebChannel, Origin: "abcd-origin", Topic: "efgh-topic", Enabled: false},
		{Channel: notifications.WebChannel, Origin: "plugin-test", Enabled: true},
	}
	if err := s.ReplaceSettings(e.ctx, u, rows); err != nil {
		t.Fatalf("ReplaceSettings: %v", err)
	}
	got, err := s.SettingRows(e.ctx, []string{u})
	if err != nil {
		t.Fatalf("SettingRows: %v", err)
	}
	if !slices.Equal(got[u], rows) || len(got) != 1 {
		t.Errorf("SettingRows = %+v, want %+v", got, rows)
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

func testDeleteOlderThan(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	day := 24 * time.Hour
	old, recent := e.now.Add(-2*day), e.now.Add(-time.Hour)
	mk := func(i int, created time.Time, updated *time.Time) notifications.Notification {
		return notifications.Notification{ID: id(i), User: user, Origin: "o", Created: created, Updated: updated,
			Payload: notifications.Payload{Title: "t"}}
	}
	e.save(mk(1, old, nil), mk(2, old, &recent), mk(3, old, timePtr(old.Add(time.Hour))), mk(4, recent, nil))
	e.broadcast(mk(5, old, nil))
	e.broadcast(mk(6, old, &recent))
	e.broadcast(mk(7, old, timePtr(old.Add(time.Hour))))
	e.setRead(user, &e.now, id(5), id(6))

	n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-day), 100)
	if err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	if n != 4 {
		t.Errorf("DeleteOlderThan deleted %d, want 4", n)
	}
	expectSameIDs(t, "kept", e.listIDs(notifications.Query{}), id(2), id(4), id(6))
	if st, _ := s.Status(e.ctx, user); st != (notifications.Status{Read: 1, Unread: 2}) {
		t.Errorf("Status after retention = %+v, want read 1 (id6) unread 2", st)
	}
	// Inclusive cutoff.
	if n, err := s.DeleteOlderThan(e.ctx, recent, 100); err != nil || n != 3 {
		t.Errorf("DeleteOlderThan(at the cutoff) = %d, %v; want 3", n, err)
	}
}
