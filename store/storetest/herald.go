package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// heraldTests are what Herald guarantees beyond Backstage.
var heraldTests = []test{
	{"SettingsOrderAndReplace", testSettingsOrderAndReplace},
	{"SettingRowsManyUsers", testSettingRowsManyUsers},
	{"ConcurrentReplaceSettings", testConcurrentReplaceSettings},
	{"CursorPagination", testCursorPagination},
	{"CursorPaginationConcurrentInserts", testCursorConcurrentInserts},
	{"LiteralSearch", testLiteralSearch},
	{"OtherUsersIDs", testOtherUsersIDs},
	{"MalformedIDs", testMalformedIDs},
	{"MarkAllReadBroadcastsAndFilters", testMarkAllRead},
	{"ChangedSince", testChangedSince},
	{"DeleteInBatches", testDeleteInBatches},
	{"ConcurrentScopedSends", testConcurrentScopedSends},
	{"ConcurrentScopedSendsAnyOrder", testConcurrentScopedSendsAnyOrder},
	{"ConcurrentScopedBroadcasts", testConcurrentScopedBroadcasts},
	{"ConcurrentMarkAllReadAndRetention", testConcurrentMarkAllReadAndRetention},
	{"FailedSendWritesNothing", testFailedSendWritesNothing},
	{"FanOutSharedMetadata", testFanOutSharedMetadata},
	{"SaveReturnsInputOrder", testSaveReturnsInputOrder},
	{"TimesRoundTrip", testTimesRoundTrip},
	{"OrderNullsAndTieBreak", testOrderNullsAndTieBreak},
	{"UnknownOrderField", testUnknownOrderField},
	{"MetadataRoundTrip", testMetadataRoundTrip},
	{"EmptyStore", testEmptyStore},
	{"HugeLimitAndOffset", testHugeLimitAndOffset},
}

func testSettingsOrderAndReplace(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const a, b = "user:default/a", "user:default/b"
	rowsA := []notifications.SettingRow{
		{Channel: "Web", Origin: "zeta", Enabled: false},
		{Channel: "Web", Origin: "alpha", Topic: "t2", Enabled: true},
		{Channel: "Email", Origin: "alpha", Enabled: true},
		{Channel: "Web", Origin: "alpha", Topic: "t1", Enabled: false},
		{Channel: "Web", Origin: "alpha", Enabled: true},
	}
	rowsB := []notifications.SettingRow{{Channel: "Web", Origin: "zeta", Enabled: true}}
	for u, rows := range map[string][]notifications.SettingRow{a: rowsA, b: rowsB} {
		if err := s.ReplaceSettings(e.ctx, u, rows); err != nil {
			t.Fatalf("ReplaceSettings(%s): %v", u, err)
		}
	}
	load := func(users ...string) map[string][]notifications.SettingRow {
		t.Helper()
		got, err := s.SettingRows(e.ctx, users)
		if err != nil {
			t.Fatalf("SettingRows: %v", err)
		}
		return got
	}
	got := load(a, b, "user:default/nobody", a)
	want := map[string][]notifications.SettingRow{a: rowsA, b: rowsB}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("SettingRows = %+v, want %+v (in saved order, users without rows absent)", got, want)
	}

	// A duplicate (channel, origin, topic) fails and changes nothing.
	dup := []notifications.SettingRow{{Channel: "Web", Origin: "x", Enabled: true}, {Channel: "Web", Origin: "x", Enabled: false}}
	if err := s.ReplaceSettings(e.ctx, a, dup); err == nil {
		t.Errorf("ReplaceSettings with a duplicate row: no error")
	}
	if got := load(a); !slices.Equal(got[a], rowsA) {
		t.Errorf("after a failed ReplaceSettings: %+v, want unchanged %+v", got[a], rowsA)
	}

	// Replacing replaces; an empty list deletes.
	fewer := []notifications.SettingRow{{Channel: "Web", Origin: "alpha", Topic: "t1", Enabled: true}, rowsA[0]}
	if err := s.ReplaceSettings(e.ctx, a, fewer); err != nil {
		t.Fatalf("ReplaceSettings: %v", err)
	}
	if got := load(a, b); !slices.Equal(got[a], fewer) || !slices.Equal(got[b], rowsB) {
		t.Errorf("after replace: %+v, want a=%+v and b unchanged", got, fewer)
	}
	if err := s.ReplaceSettings(e.ctx, a, nil); err != nil {
		t.Fatalf("ReplaceSettings(nil): %v", err)
	}
	if got := load(a, b); len(got) != 1 || !slices.Equal(got[b], rowsB) {
		t.Errorf("after clearing a: %+v, want only b", got)
	}
	if got := load(); len(got) != 0 {
		t.Errorf("SettingRows(no users) = %+v, want empty", got)
	}
}

func testSettingRowsManyUsers(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	users := make([]string, 2500)
	for i := range users {
		users[i] = fmt.Sprintf("user:default/u%04d", i)
	}
	if got, err := s.SettingRows(e.ctx, users); err != nil || len(got) != 0 {
		t.Fatalf("SettingRows with nobody's settings = %v, %v; want empty", got, err)
	}
	with := []string{users[3], users[1200], users[2499]}
	for i, u := range with {
		rows := []notifications.SettingRow{{Channel: "Web", Origin: fmt.Sprint("o", i), Enabled: i%2 == 0}}
		if err := s.ReplaceSettings(e.ctx, u, rows); err != nil {
			t.Fatalf("ReplaceSettings: %v", err)
		}
	}
	got, err := s.SettingRows(e.ctx, users)
	if err != nil {
		t.Fatalf("SettingRows: %v", err)
	}
	if len(got) != 3 {
		t.Errorf("SettingRows: %d users, want 3", len(got))
	}
	for i, u := range with {
		if rows := got[u]; len(rows) != 1 || rows[0].Origin != fmt.Sprint("o", i) || rows[0].Enabled != (i%2 == 0) {
			t.Errorf("SettingRows[%s] = %+v", u, rows)
		}
	}
}

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
				Origin: "o", Created: created, Payload: notifications.Payload{Title: "late"}}}); err != nil && ctx.Err() == nil {
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

func testLiteralSearch(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	titles := []string{"100% done", "100 percent", "a_b", "axb", `back\slash`, "back-slash", "it's"}
	var ns []notifications.Notification
	for i, title := range titles {
		ns = append(ns, notifications.Notification{ID: id(i + 1), User: user, Origin: "o",
			Created: e.now.Add(-time.Duration(i) * time.Second), Payload: notifications.Payload{Title: title}})
	}
	e.save(ns...)
	for term, want := range map[string][]string{
		"%":      {id(1)},
		"0% d":   {id(1)},
		"_":      {id(3)},
		"a_b":    {id(3)},
		`\`:      {id(5)},
		`k\s`:    {id(5)},
		"'":      {id(7)},
		"PERCEN": {id(2)},
		"%%":     nil,
	} {
		got := e.listIDs(notifications.Query{Filter: notifications.Filter{Search: term}})
		expectIDs(t, fmt.Sprintf("search %q", term), got, want...)
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
	if want := (notifications.Status{Read: 1, Unread: 2}); st != want {
		t.Errorf("other's Status = %+v, want %+v (only their own reads)", st, want)
	}
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

func testDeleteInBatches(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	old := e.now.Add(-48 * time.Hour)
	var ns []notifications.Notification
	for i := range 30 {
		created := old
		if i >= 25 {
			created = e.now
		}
		ns = append(ns, notifications.Notification{ID: id(100 + i), User: user, Origin: "o", Created: created,
			Payload: notifications.Payload{Title: "t"}})
	}
	e.save(ns...)
	var bids []string
	for i := range 7 {
		b := e.broadcast(notifications.Notification{ID: id(200 + i), Origin: "o", Created: old, Payload: notifications.Payload{Title: "b"}})
		bids = append(bids, b.ID)
	}
	e.setRead(user, &e.now, bids...)
	n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 4)
	if err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	if n != 32 {
		t.Errorf("DeleteOlderThan = %d, want 32", n)
	}
	if c := e.count(user, notifications.Filter{}); c != 5 {
		t.Errorf("%d left, want 5", c)
	}
	if st, _ := s.Status(e.ctx, user); st != (notifications.Status{Unread: 5}) {
		t.Errorf("Status = %+v, want 5 unread and no read broadcasts left", st)
	}
	if n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 4); err != nil || n != 0 {
		t.Errorf("second DeleteOlderThan = %d, %v; want 0", n, err)
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
		results[i], err = s.SaveNotifications(e.ctx, ns)
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

func testConcurrentScopedBroadcasts(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const senders = 12
	got := make([]string, senders)
	parallel(t, senders, func(i int) error {
		n, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(1000 + i), Origin: "plugin:ci", Created: e.now,
			Payload: notifications.Payload{Title: fmt.Sprint("deploy ", i), Scope: "deploy-7"}})
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

func testConcurrentMarkAllReadAndRetention(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	old := e.now.Add(-48 * time.Hour)
	var ns []notifications.Notification
	for i := range 200 {
		created := e.now
		if i%2 == 0 {
			created = old
		}
		ns = append(ns, notifications.Notification{ID: id(1000 + i), User: user, Origin: "o", Created: created,
			Payload: notifications.Payload{Title: "t"}})
	}
	e.save(ns...)
	for i := range 40 {
		created := e.now
		if i%2 == 0 {
			created = old
		}
		e.broadcast(notifications.Notification{ID: id(2000 + i), Origin: "o", Created: created, Payload: notifications.Payload{Title: "b"}})
	}
	parallel(t, 12, func(i int) error {
		switch i % 3 {
		case 0:
			_, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 7)
			return err
		case 1:
			_, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, e.now)
			return err
		default:
			_, err := s.SaveNotifications(e.ctx, []notifications.Notification{{ID: id(3000 + i), User: user, Origin: "o",
				Created: e.now, Payload: notifications.Payload{Title: "new"}}})
			return err
		}
	})
	if _, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, e.now); err != nil {
		t.Fatalf("MarkAllRead: %v", err)
	}
	if _, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 7); err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	st, err := s.Status(e.ctx, user)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if want := (notifications.Status{Read: 100 + 20 + 4}); st != want {
		t.Errorf("Status = %+v, want %+v", st, want)
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
	if _, err := s.SaveNotifications(e.ctx, ns); err == nil {
		t.Errorf("SaveNotifications with a stored id: no error")
	}
	check("stored id")

	// The same id twice in one send.
	ns = many(2500, 20000)
	ns[2499].ID = ns[0].ID
	if _, err := s.SaveNotifications(e.ctx, ns); err == nil {
		t.Errorf("SaveNotifications with a duplicate id: no error")
	}
	check("duplicate id")

	// A notification without a user.
	ns = many(10, 30000)
	ns[9].User = ""
	if _, err := s.SaveNotifications(e.ctx, ns); err == nil {
		t.Errorf("SaveNotifications without a user: no error")
	}
	check("no user")

	// A cancelled context.
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := s.SaveNotifications(ctx, many(2500, 40000)); err == nil {
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

func testEmptyStore(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	if ns := e.list(notifications.Query{}); len(ns) != 0 {
		t.Errorf("List = %v", ns)
	}
	if st, err := s.Status(e.ctx, user); err != nil || st != (notifications.Status{}) {
		t.Errorf("Status = %+v, %v", st, err)
	}
	if got, err := s.SaveNotifications(e.ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("SaveNotifications(nil) = %v, %v", got, err)
	}
	if n, err := s.DeleteOlderThan(e.ctx, e.now, 0); err != nil || n != 0 {
		t.Errorf("DeleteOlderThan = %d, %v", n, err)
	}
	if got, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, e.now); err != nil || len(got) != 0 {
		t.Errorf("MarkAllRead = %v, %v", got, err)
	}
	if err := s.SetRead(e.ctx, user, nil, &e.now); err != nil {
		t.Errorf("SetRead(no ids) = %v", err)
	}
	if ots, err := s.OriginTopics(e.ctx, user); err != nil || len(ots) != 0 {
		t.Errorf("OriginTopics = %v, %v", ots, err)
	}
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
		got, err := s.SaveNotifications(e.ctx, ns)
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

// testConcurrentReplaceSettings saves one user's settings from many
// goroutines at once: every save succeeds and one of them wins whole.
func testConcurrentReplaceSettings(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const u = "user:default/clicker"
	const savers = 8
	rows := func(i int) []notifications.SettingRow {
		return []notifications.SettingRow{
			{Channel: "Web", Origin: "plugin:ci", Enabled: i%2 == 0},
			{Channel: "Web", Origin: "plugin:ci", Topic: "builds", Enabled: false},
			{Channel: "Web", Origin: fmt.Sprint("plugin:", i), Enabled: true},
		}
	}
	parallel(t, savers, func(i int) error { return s.ReplaceSettings(e.ctx, u, rows(i)) })
	got, err := s.SettingRows(e.ctx, []string{u})
	if err != nil {
		t.Fatalf("SettingRows: %v", err)
	}
	for i := range savers {
		if slices.Equal(got[u], rows(i)) {
			return
		}
	}
	t.Errorf("after concurrent saves: %+v, want exactly one saver's rows", got[u])
}
