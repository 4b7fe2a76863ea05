package rest_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// The list's shape, on both the legacy and the current route: nulls for
// unset fields, user notifications before broadcasts at equal times.
func TestListShape(t *testing.T) {
	t.Parallel()
	f := setup(t)
	bid := f.sent(broadcast(`{"title":"b","severity":"high"}`))[0]["id"]
	uid := f.sent(toMock(`{"title":"u"}`))[0]["id"]
	for _, path := range []string{"/", "/notifications"} {
		list := ok[listBody](t, f.do(http.MethodGet, path, userToken, ""))
		if list.TotalCount != 2 || len(list.Notifications) != 2 {
			t.Fatalf("GET %s: %+v, want 2 notifications", path, list)
		}
		u, b := list.Notifications[0], list.Notifications[1]
		if u["id"] != uid || b["id"] != bid {
			t.Errorf("GET %s: order %v, %v; want the user notification, then the broadcast", path, u["id"], b["id"])
		}
		if b["user"] != nil || u["user"] != mockUser {
			t.Errorf("GET %s: users %v, %v", path, u["user"], b["user"])
		}
		for _, n := range list.Notifications {
			for _, k := range []string{"read", "saved", "updated"} {
				if v, present := n[k]; !present || v != nil {
					t.Errorf("GET %s: %s = %v (present %v), want null", path, k, v, present)
				}
			}
			p := n["payload"].(map[string]any)
			for _, k := range []string{"description", "icon", "link", "scope", "topic"} {
				if v, present := p[k]; !present || v != nil {
					t.Errorf("GET %s: payload.%s = %v (present %v), want null", path, k, v, present)
				}
			}
			if _, present := p["metadata"]; present {
				t.Errorf("GET %s: payload.metadata present without metadata", path)
			}
		}
	}
}

// The list's query grammar: paging, ordering, filters, and the 400s of
// every malformed parameter.
func TestListQuery(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Created one second apart, in this order.
	f.sent(toMock(`{"title":"one","topic":"b","severity":"low"}`))
	f.sent(toMock(`{"title":"two","topic":"a","severity":"critical"}`))
	f.sent(toMock(`{"title":"three","topic":"a"}`))
	titles := func(list listBody) []string {
		var out []string
		for _, n := range list.Notifications {
			out = append(out, n["payload"].(map[string]any)["title"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		query      string
		wantTitles []string
		wantTotal  int
	}{
		{"", []string{"three", "two", "one"}, 3},
		{"limit=0", nil, 3},
		{"limit=2", []string{"three", "two"}, 3},
		{"limit=2&offset=2", []string{"one"}, 3},
		{"limit=10000&offset=100000", nil, 3},
		{"offset=5", nil, 3},
		{"orderField=topic,asc&orderField=created,desc", []string{"three", "two", "one"}, 3},
		{"orderField=topic&orderField=created", []string{"two", "three", "one"}, 3}, // bare field: ascending
		{"orderField=created,asc", []string{"one", "two", "three"}, 3},
		{"orderField=severity,asc", []string{"two", "three", "one"}, 3},
		{"topic=a", []string{"three", "two"}, 2},
		{"topic=", []string{"three", "two", "one"}, 3},
		{"search=TW", []string{"two"}, 1},
		{"search=", []string{"three", "two", "one"}, 3},
		{"minimumSeverity=normal", []string{"three", "two"}, 2},
		{"read=false", []string{"three", "two", "one"}, 3},
		{"read=true", nil, 0},
		{"saved=false&read=false", []string{"three", "two", "one"}, 3},
		{"createdAfter=2025-01-01T10:00:02Z", []string{"three", "two"}, 2},
		{"createdAfter=" + url.QueryEscape("2025-01-01T11:00:02+01:00"), []string{"three", "two"}, 2},
		{"createdAfter=2025-01-01", []string{"three", "two", "one"}, 3},
		{"createdAfter=2025-01-02", nil, 0},
		{"createdAfter=" + url.QueryEscape("Wed Jan 01 2025 11:00:03 GMT+0100 (Central European Standard Time)"), []string{"three"}, 1},
	} {
		t.Run(tc.query, func(t *testing.T) {
			list := ok[listBody](t, f.do(http.MethodGet, "/notifications?"+tc.query, userToken, ""))
			if got := titles(list); !slices.Equal(got, tc.wantTitles) || list.TotalCount != tc.wantTotal {
				t.Errorf("got %v total %d, want %v total %d", got, list.TotalCount, tc.wantTitles, tc.wantTotal)
			}
			if list.Notifications == nil {
				t.Error("notifications is null, want []")
			}
		})
	}
	for _, tc := range []struct {
		query, wantPrefix string
	}{
		{"foo=bar", "Unknown query parameter 'foo'"},
		{"Limit=1", "Unknown query parameter 'Limit'"},
		{"read=maybe", "request/query/read must be boolean"},
		{"read=TRUE", "request/query/read must be boolean"},
		{"read=1", "request/query/read must be boolean"},
		{"saved=", "request/query/saved must be boolean"},
		{"limit=-1", "request/query/limit must be >= 0"},
		{"limit=abc", "request/query/limit must be integer"},
		{"limit=1.5", "request/query/limit must be integer"},
		{"limit=", "request/query/limit must be integer"},
		{"offset=-3", "request/query/offset must be >= 0"},
		{"offset=99999999999999999999999", "request/query/offset must be <= 100000"},
		{"offset=100001", "request/query/offset must be <= 100000"},
		{"limit=10001", "request/query/limit must be <= 10000"},
		{"limit=99999999999", "request/query/limit must be <= 10000"},
		{"limit=-99999999999999999999999", "request/query/limit must be >= 0"},
		{"limit=1&limit=2", "request/query/limit must not be repeated"},
		{"topic=a&topic=b", "request/query/topic must not be repeated"},
		{"minimumSeverity=HIGH", "request/query/minimumSeverity must be equal to one of the allowed values"},
		{"minimumSeverity=", "request/query/minimumSeverity must be equal to one of the allowed values"},
		{"createdAfter=not-a-date", "Unexpected date format"},
		{"orderField=created,up", "Invalid order field order, must be asc or desc"},
		{"orderField=created,desc,x", "Invalid order field order, must be asc or desc"},
		{"orderField=password,asc", `Invalid order field "password"`},
		{"cursor=%%%", "Malformed query string"},
		{"a;b=1", "Malformed query string"},
		{"cursor=bogus", "request/query/cursor is invalid"},
		{"cursor=bogus&orderField=topic", "request/query/cursor is invalid"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			e := failure(t, f.do(http.MethodGet, "/notifications?"+tc.query, userToken, ""), 400, "InputError")
			if !strings.HasPrefix(e.Error.Message, tc.wantPrefix) {
				t.Errorf("message %q, want prefix %q", e.Error.Message, tc.wantPrefix)
			}
			if e.Request.URL != "/notifications" {
				t.Errorf("request.url %q, want the path relative to the mount point, without the query", e.Request.URL)
			}
		})
	}
}

// One notification, and who can see it: the owner and, for a broadcast,
// everyone; anything else is 404.
func TestGet(t *testing.T) {
	t.Parallel()
	f := setup(t)
	own := f.sent(toMock(`{"title":"mine"}`))[0]["id"].(string)
	theirs := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications", serviceToken,
		`{"recipients":{"type":"entity","entityRef":"user:default/other"},"payload":{"title":"theirs"}}`))[0]["id"].(string)
	bid := f.sent(broadcast(`{"title":"all"}`))[0]["id"].(string)

	for _, path := range []string{"/notifications/", "/"} {
		n := ok[map[string]any](t, f.do(http.MethodGet, path+own, userToken, ""))
		if n["id"] != own || n["user"] != mockUser {
			t.Errorf("GET %s%s: %v", path, own, n)
		}
		b := ok[map[string]any](t, f.do(http.MethodGet, path+bid, userToken, ""))
		if b["id"] != bid || b["user"] != nil {
			t.Errorf("GET %s%s: %v, want the broadcast with user null", path, bid, b)
		}
		for _, id := range []string{theirs, "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11", "not-a-uuid", "status%2Fx", "health"} {
			e := failure(t, f.do(http.MethodGet, path+id, userToken, ""), 404, "NotFoundError")
			if e.Error.Message != "Not found" {
				t.Errorf("GET %s%s: message %q, want Not found", path, id, e.Error.Message)
			}
		}
	}
	// The other user sees their own, not the mock user's.
	ok[map[string]any](t, f.do(http.MethodGet, "/notifications/"+theirs, otherUserToken, ""))
	failure(t, f.do(http.MethodGet, "/notifications/"+own, otherUserToken, ""), 404, "NotFoundError")
}

// Status counts the caller's own notifications and the broadcasts.
func TestStatus(t *testing.T) {
	t.Parallel()
	f := setup(t)
	readOwn := f.sent(toMock(`{"title":"1"}`))[0]["id"].(string)
	f.sent(toMock(`{"title":"2"}`))
	readBroadcast := f.sent(broadcast(`{"title":"3"}`))[0]["id"].(string)
	f.sent(broadcast(`{"title":"4"}`))
	f.do(http.MethodPost, "/notifications", serviceToken, `{"recipients":{"type":"entity","entityRef":"user:default/other"},"payload":{"title":"5"}}`)
	ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+readOwn+`","`+readBroadcast+`"],"read":true}`))
	st := ok[map[string]int](t, f.do(http.MethodGet, "/status", userToken, ""))
	// Reading implies seeing: the unseen are the unread ones.
	if st["unread"] != 2 || st["read"] != 2 || st["unseen"] != 2 || len(st) != 3 {
		t.Errorf("status %v, want {unread: 2, read: 2, unseen: 2}", st)
	}
	failure(t, f.do(http.MethodGet, "/status?x=1", userToken, ""), 400, "InputError")
}

// Topics: the distinct topics of what the filter selects, sorted.
func TestTopics(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.sent(toMock(`{"title":"1","topic":"zeta"}`))
	f.sent(toMock(`{"title":"2"}`))
	f.sent(broadcast(`{"title":"3","topic":"alpha","severity":"critical"}`))
	f.sent(toMock(`{"title":"4","topic":"alpha"}`))
	for query, want := range map[string][]string{
		"":                          {"alpha", "zeta"},
		"?minimumSeverity=critical": {"alpha"},
		"?search=1":                 {"zeta"},
		"?read=true":                {},
		"?saved=false":              {"alpha", "zeta"},
		"?createdAfter=2030-01-01":  {},
	} {
		got := ok[map[string][]string](t, f.do(http.MethodGet, "/topics"+query, userToken, ""))
		if !slices.Equal(got["topics"], want) || got["topics"] == nil {
			t.Errorf("GET /topics%s: %v, want %v", query, got, want)
		}
	}
	for _, q := range []string{"topic=x", "limit=1", "offset=0", "orderField=created", "cursor=x", "foo=1"} {
		failure(t, f.do(http.MethodGet, "/topics?"+q, userToken, ""), 400, "InputError")
	}
}

// A service token on every user route is 403; a user token on
// send is 403; no token anywhere is 401.
func TestPrincipalKinds(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.sent(toMock(`{"title":"t"}`))[0]["id"].(string)
	userRoutes := []struct{ method, path, body string }{
		{"GET", "/", ""}, {"GET", "/notifications", ""}, {"GET", "/" + id, ""}, {"GET", "/notifications/" + id, ""},
		{"POST", "/update", `{"ids":["` + id + `"],"read":true}`}, {"POST", "/notifications/update", `{"ids":["` + id + `"],"read":true}`},
		{"POST", "/notifications/read-all", ""}, {"GET", "/status", ""}, {"GET", "/settings", ""},
		{"POST", "/settings", `{"channels":[]}`}, {"GET", "/topics", ""},
	}
	for _, rt := range userRoutes {
		failure(t, f.do(rt.method, rt.path, serviceToken, rt.body), 403, "NotAllowedError")
		failure(t, f.do(rt.method, rt.path, "", rt.body), 401, "AuthenticationError")
	}
	for _, path := range []string{"/", "/notifications"} {
		failure(t, f.do("POST", path, userToken, toMock(`{"title":"t"}`)), 403, "NotAllowedError")
		failure(t, f.do("POST", path, "", toMock(`{"title":"t"}`)), 401, "AuthenticationError")
	}
	if n, err := f.svc.Get(context.Background(), mockUser, id); err != nil || n.Read != nil {
		t.Errorf("a refused update changed the notification: %+v, %v", n, err)
	}
}

// Update: read and unread publish a signal, saved and unsaved do not;
// malformed bodies are 400.
func TestUpdate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.sent(toMock(`{"title":"t"}`))[0]["id"].(string)
	update := func(body string) map[string]any {
		t.Helper()
		got := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, body))
		if len(got) != 1 || got[0]["id"] != id {
			t.Fatalf("update %s answered %v", body, got)
		}
		return got[0]
	}
	lastSignal := func() wireSignal {
		t.Helper()
		sigs := f.signals.all(t)
		return sigs[len(sigs)-1]
	}
	before := len(f.signals.all(t))

	if n := update(`{"ids":["` + id + `"],"read":true}`); n["read"] == nil {
		t.Errorf("read is null after read:true: %v", n)
	}
	s := lastSignal()
	if s.Message["action"] != "notification_read" || !slices.Equal(toStrings(s.Message["notification_ids"]), []string{id}) ||
		!slices.Equal(s.Recipients.EntityRef, []string{mockUser}) {
		t.Errorf("signal %+v, want notification_read [%s] to %s", s, id, mockUser)
	}
	if n := update(`{"ids":["` + id + `"],"read":false}`); n["read"] != nil {
		t.Errorf("read is %v after read:false", n["read"])
	}
	if s := lastSignal(); s.Message["action"] != "notification_unread" {
		t.Errorf("signal %+v, want notification_unread", s)
	}
	count := len(f.signals.all(t))
	if n := update(`{"ids":["` + id + `"],"saved":true}`); n["saved"] == nil {
		t.Errorf("saved is null after saved:true: %v", n)
	}
	if len(f.signals.all(t)) != count {
		t.Error("saved:true published a signal")
	}
	if n := update(`{"ids":["` + id + `"],"saved":false}`); n["saved"] != nil {
		t.Errorf("saved is %v after saved:false", n["saved"])
	}
	if n := update(`{"ids":["` + id + `"]}`); n["read"] != nil || n["saved"] != nil {
		t.Errorf("an update without flags changed %v", n)
	}
	if got := len(f.signals.all(t)) - before; got != 2 {
		t.Errorf("%d signals, want 2 (read, unread)", got)
	}
	// The legacy route updates as well.
	got := ok[[]map[string]any](t, f.do(http.MethodPost, "/update", userToken, `{"ids":["`+id+`"],"read":true}`))
	if len(got) != 1 || got[0]["read"] == nil {
		t.Errorf("POST /update answered %v", got)
	}
	for _, body := range []string{
		`{"read":true}`, `{"ids":["` + id + `"],"read":"true"}`, `{"ids":["` + id + `"],"saved":1}`,
		`{"ids":"` + id + `"}`, `{"ids":[1]}`, `{"ids":null}`, `{"ids":[`, `[]`,
		`{"ids":[` + strings.Repeat(`"x",`, 1000) + `"x"]}`,
	} {
		failure(t, f.do(http.MethodPost, "/notifications/update", userToken, body), 400, "InputError")
	}
	if got := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":[],"read":true}`)); len(got) != 0 {
		t.Errorf("empty ids answered %v", got)
	}
}

// A broadcast's read and saved states are independent, and per user.
func TestUpdateBroadcast(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.sent(broadcast(`{"title":"b"}`))[0]["id"].(string)
	up := func(body string) map[string]any {
		t.Helper()
		got := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+id+`"],`+body+`}`))
		if len(got) != 1 {
			t.Fatalf("update answered %v", got)
		}
		return got[0]
	}
	up(`"read":true`)
	if n := up(`"saved":true`); n["read"] == nil || n["saved"] == nil {
		t.Errorf("after read then saved: %v, want both set", n)
	}
	if n := up(`"read":false`); n["read"] != nil || n["saved"] == nil {
		t.Errorf("after unread: %v, want read null and saved set", n)
	}
	// Another user's view of the broadcast is untouched.
	other := ok[map[string]any](t, f.do(http.MethodGet, "/notifications/"+id, otherUserToken, ""))
	if other["read"] != nil || other["saved"] != nil {
		t.Errorf("the other user's state changed: %v", other)
	}
}

// Updating another user's notification changes nothing of theirs.
func TestUpdateOtherUsersNotification(t *testing.T) {
	t.Parallel()
	f := setup(t)
	theirs := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications", serviceToken,
		`{"recipients":{"type":"entity","entityRef":"user:default/other"},"payload":{"title":"theirs"}}`))[0]["id"].(string)
	own := f.sent(toMock(`{"title":"mine"}`))[0]["id"].(string)
	for _, path := range []string{"/notifications/update", "/update"} {
		got := ok[[]map[string]any](t, f.do(http.MethodPost, path, userToken, `{"ids":["`+theirs+`","`+own+`"],"read":true,"saved":true}`))
		if len(got) != 1 || got[0]["id"] != own {
			t.Errorf("POST %s answered %v, want only the caller's own", path, got)
		}
	}
	n, err := f.svc.Get(context.Background(), otherUser, theirs)
	if err != nil || n.Read != nil || n.Saved != nil {
		t.Errorf("the other user's notification changed: %+v, %v", n, err)
	}
	sigs := f.signals.all(t)
	last := sigs[len(sigs)-1]
	if !slices.Equal(toStrings(last.Message["notification_ids"]), []string{theirs, own}) || !slices.Equal(last.Recipients.EntityRef, []string{mockUser}) {
		t.Errorf("signal %+v, want the ids as given, to the caller only", last)
	}
	// Nor can read-all reach it.
	ok[map[string][]string](t, f.do(http.MethodPost, "/notifications/read-all", userToken, ""))
	if n, _ := f.svc.Get(context.Background(), otherUser, theirs); n.Read != nil {
		t.Error("read-all marked another user's notification read")
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// Herald's read-all.
func TestReadAll(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.sent(toMock(`{"title":"a","topic":"x"}`))[0]["id"].(string)
	b := f.sent(toMock(`{"title":"b"}`))[0]["id"].(string)
	c := f.sent(broadcast(`{"title":"c","severity":"critical"}`))[0]["id"].(string)
	d := f.sent(toMock(`{"title":"d"}`))[0]["id"].(string)
	cCreated := ok[map[string]any](t, f.do(http.MethodGet, "/notifications/"+c, userToken, ""))["created"].(string)

	readAll := func(body string) []string {
		t.Helper()
		got := ok[map[string][]string](t, f.do(http.MethodPost, "/notifications/read-all", userToken, body))
		ids, present := got["ids"]
		if !present || ids == nil {
			t.Fatalf("read-all answered %v, want {ids: [...]}", got)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }

	if got := readAll(`{"topic":"x"}`); !slices.Equal(got, []string{a}) {
		t.Errorf("read-all topic x marked %v, want [%s]", got, a)
	}
	if got := readAll(`{"minimumSeverity":"critical"}`); !slices.Equal(got, []string{c}) {
		t.Errorf("read-all critical marked %v, want [%s]", got, c)
	}
	sigs := f.signals.all(t)
	if last := sigs[len(sigs)-1]; last.Message["action"] != "notification_read" || !slices.Equal(toStrings(last.Message["notification_ids"]), []string{c}) {
		t.Errorf("signal %+v, want notification_read [%s]", last, c)
	}
	if got := readAll(`{"before":"` + cCreated + `"}`); !slices.Equal(got, []string{b}) {
		t.Errorf("read-all before %s marked %v, want [%s]", cCreated, got, b)
	}
	if got := readAll(""); !slices.Equal(got, sorted(d)) {
		t.Errorf("read-all marked %v, want [%s]", got, d)
	}
	if got := readAll(`{}`); len(got) != 0 {
		t.Errorf("read-all with everything read marked %v", got)
	}
	st := ok[map[string]int](t, f.do(http.MethodGet, "/status", userToken, ""))
	if st["unread"] != 0 || st["read"] != 4 {
		t.Errorf("status %v after read-all, want all 4 read", st)
	}
	for _, body := range []string{`{"before":"yesterday-ish"}`, `{"topic":1}`, `{"saved":"true"}`, `{"minimumSeverity":"HIGH"}`, `[1]`, `{`} {
		failure(t, f.do(http.MethodPost, "/notifications/read-all", userToken, body), 400, "InputError")
	}
}

// Cursor pagination over HTTP, on every store: the cursors the Service
// issues pass the Handler's cursor check.
func TestListCursor(t *testing.T) {
	t.Parallel()
	eachStore(t, testListCursor)
}

func testListCursor(t *testing.T, kind storeKind) {
	f := setup(t, withStoreKind(kind))
	var want []string
	for i := range 5 {
		id := f.sent(toMock(`{"title":"n` + string(rune('0'+i)) + `"}`))[0]["id"].(string)
		want = append([]string{id}, want...) // newest first
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("cursor never ended")
		}
		q := "/notifications?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		list := ok[listBody](t, f.do(http.MethodGet, q, userToken, ""))
		if want := 5 + min(page, 1); list.TotalCount != want { // "late" counts from page 1 on
			t.Errorf("page %d: totalCount %d, want %d", page, list.TotalCount, want)
		}
		for _, n := range list.Notifications {
			got = append(got, n["id"].(string))
		}
		if page == 0 {
			// A notification arriving between pages does not shift them.
			f.sent(toMock(`{"title":"late"}`))
		}
		if list.NextCursor == "" {
			break
		}
		cursor = list.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages yielded %v, want %v", got, want)
	}
	// Without a limit the page is everything and no cursor follows.
	if list := ok[listBody](t, f.do(http.MethodGet, "/notifications", userToken, "")); list.NextCursor != "" {
		t.Errorf("unlimited list has nextCursor %q", list.NextCursor)
	}
	failure(t, f.do(http.MethodGet, "/notifications?limit=2&orderField=topic,asc&cursor="+url.QueryEscape(cursor), userToken, ""), 400, "InputError")
}

// Storing straight through the store, bypassing the Service, is
// visible over HTTP as usual: a sanity check of the seeding helper.
func TestSeededRowsAreListed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(notifications.Notification{User: mockUser, Origin: "external:test-service2", Payload: notifications.Payload{Title: "seeded"}})
	if list := ok[listBody](t, f.do(http.MethodGet, "/notifications", userToken, "")); list.TotalCount != 1 {
		t.Errorf("list %+v, want the seeded notification", list)
	}
}
