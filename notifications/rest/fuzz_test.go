package rest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The REST fuzz targets run every input against every available store
// (SQLite always; PostgreSQL too when HERALD_TEST_POSTGRES_DSN is set, see
// availableStores), each store behind its own Handler with the same seeded
// data. Each input must get an answer below 500 from every store, the same
// status from every store, and a 4xx message that carries no internal
// error chain.

// fuzzFixtures builds one seeded fixture per available store.
func fuzzFixtures(f *testing.F) []*fixture {
	f.Helper()
	var fxs []*fixture
	for _, kind := range availableStores() {
		fx := setup(f, withStoreKind(kind), withDiscardedLogs())
		fx.sent(toMock(`{"title":"one","topic":"a","metadata":{"n":1}}`))
		fx.sent(broadcast(`{"title":"two","severity":"critical","topic":"b"}`))
		fx.deliveryWorld()
		fxs = append(fxs, fx)
	}
	return fxs
}

// fuzzAnswer is one store's answer to a fuzzed request.
type fuzzAnswer struct {
	store   storeKind
	status  int // 0: the client refused to send the request
	message string
}

// fuzzRequest sends one request to every fixture and checks what every
// answer must hold; it returns the answers for the target's own checks.
func fuzzRequest(t *testing.T, fxs []*fixture, method, path, rawQuery, token, body string) []fuzzAnswer {
	t.Helper()
	answers := make([]fuzzAnswer, len(fxs))
	for i, fx := range fxs {
		a := fuzzDo(fx, method, path, rawQuery, token, body)
		a.store = fx.kind
		answers[i] = a
		if a.status >= 500 {
			t.Fatalf("%s: %s %s?%s %q: %d %s", a.store, method, path, rawQuery, body, a.status, a.message)
		}
		if a.status >= 400 {
			input := path + rawQuery + body
			if q, err := url.QueryUnescape(rawQuery); err == nil {
				input += q
			}
			if p, err := url.PathUnescape(path); err == nil {
				input += p
			}
			for _, leak := range layerLeaks {
				if strings.Contains(a.message, leak) && !strings.Contains(input, leak) {
					t.Fatalf("%s: %s %s?%s %q: %d message %q carries an internal chain", a.store, method, path, rawQuery, body, a.status, a.message)
				}
			}
		}
	}
	for _, a := range answers[1:] {
		if a.status != answers[0].status {
			t.Fatalf("%s %s?%s %q: %s answered %d (%s), %s %d (%s): the stores disagree", method, path, rawQuery, body,
				answers[0].store, answers[0].status, answers[0].message, a.store, a.status, a.message)
		}
	}
	return answers
}

// fuzzDo sends one request; a request the client refuses to send is
// status 0, never a failure.
func fuzzDo(fx *fixture, method, path, rawQuery, token, body string) fuzzAnswer {
	target := fx.srv.URL + prefix + path
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		return fuzzAnswer{}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := fx.srv.Client().Do(req)
	if err != nil {
		return fuzzAnswer{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := fuzzAnswer{status: res.StatusCode, message: string(b)}
	var e envelope
	if res.StatusCode >= 400 && json.Unmarshal(b, &e) == nil {
		a.message = e.Error.Message
	}
	return a
}

// FuzzRequestBodies posts arbitrary bodies to every route that takes one.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t","link":"/x","severity":"low","topic":"a","scope":"s"}}`},
		{0, `{"recipients":{"type":"entity","entityRef":["group:default/mock","user:x"],"excludeEntityRef":"user:default/b"},"payload":{"title":"t","metadata":{"a":1}}}`},
		{0, `{"recipients":{"type":"entity","entityRef":["foo","component:default/svc"]},"payload":{"title":"t","link":"javascript:x"}}`},
		{0, `{"recipients":{"type":"entity","entityRef":["system:default/unknown"]},"payload":{"title":"t"}}`},
		// Inputs that were 500s on PostgreSQL or changed data silently.
		{0, `{"recipients":{"type":"entity","entityRef":"user:default/mock"},"payload":{"title":"t","metadata":{"k\u0000":"v\u0000"}}}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t\u0000"}}`},
		{0, "{\"recipients\":{\"type\":\"broadcast\"},\"payload\":{\"title\":\"\xff\xfe\"}}"},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"\ud800"}}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t","metadata":{"n":1e200000,"big":12345678901234567890123}}}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t","metadata":{"a":1,"a":2}}}`},
		{0, `{"recipients":{"type":"entity","entityRef":"user:default/mock","excludeEntityRef":"!!"},"payload":{"title":"t","link":"//evil.example/x"}}`},
		{1, `{"ids":["6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11","x"],"read":true,"saved":false}`},
		{1, `{"ids":["\u0000"],"read":true}`},
		{2, `{"channels":[{"id":"Web","origins":[{"id":"o","enabled":true,"topics":[{"id":"t","enabled":true},{"id":"t","enabled":false}]}]}]}`},
		{2, `{"channels":[{"id":"Web","origins":[]},{"id":"Web","origins":[{"id":"","enabled":true}]}]}`},
		{2, `{"channels":[{"id":"Web","origins":[{"id":"o\u0000","enabled":false}]}]}`},
		{3, `{"before":"2030-01-01","topic":"a","minimumSeverity":"critical"}`},
		{3, `{"before":"0001-01-01T00:00:00Z"}`},
		{3, `{"createdAfter":"0000-01-01T00:00:00Z"}`},
		{3, `{"search":"` + strings.Repeat("%", 1001) + `"}`},
		{3, ``},
		// Scheduled sends (Herald).
		{0, `{"recipients":{"type":"entity","entityRef":"user:mock"},"payload":{"title":"t"},"deliverAt":"2030-01-01T00:00:00Z"}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t"},"deliverAt":"2020-01-01T00:00:00.123+05:30"}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t"},"deliverAt":"0000-12-31T23:59:59Z"}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t"},"deliverAt":"9999-12-31T23:59:59-00:01"}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":""},"deliverAt":null}`},
		{0, `{"recipients":{"type":"entity","entityRef":"!!"},"payload":{"title":"t"},"deliverAt":"2030-01-01T00:00:00Z"}`},
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t"},"deliverAt":12}`},
	} {
		f.Add(seed.route, seed.body)
	}
	fxs := fuzzFixtures(f)
	routes := []struct{ path, token string }{
		{"/notifications", serviceToken},
		{"/notifications/update", userToken},
		{"/settings", userToken},
		{"/notifications/read-all", userToken},
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		fuzzRequest(t, fxs, http.MethodPost, rt.path, "", rt.token, body)
	})
}

// FuzzQueries sends arbitrary query strings to every route that reads
// one.
func FuzzQueries(f *testing.F) {
	for _, seed := range []string{
		"limit=2&offset=1&orderField=topic,asc&orderField=created,desc",
		"read=true&saved=false&topic=a&search=%25_&minimumSeverity=low&createdAfter=2024-01-01",
		"cursor=eyJjIjoxLCJpIjoieCJ9&limit=1", "cursor=%00", "limit=999999999999999999999",
		"orderField=severity,desc&orderField=read&orderField=saved,asc&orderField=updated",
		"createdAfter=Tue%20Mar%2005%202024", "a;b", "%zz",
		// Inputs that were 500s on PostgreSQL or SQLite.
		"topic=%ff%fe", "search=%ff", "topic=%00", "createdAfter=0000-01-01T00:00:00Z",
		"search=" + strings.Repeat("%25", 1001), "search=" + strings.Repeat("x", 50001),
		"limit=2&cursor=eyJjIjo5MjIzMzcyMDM2ODU0Nzc1ODA3LCJpIjoiNmMyYjNiOGUtMmYwYS00YTUxLTliNTMtN2IwYTNjMGE1ZTExIn0",
		"token=u1",
		"status=failed&processor=email&limit=1000", "notificationId=6C2B3B8E-2F0A-4A51-9B53-7B0A3C0A5E11&status=sent",
	} {
		f.Add(uint8(0), seed)
		f.Add(uint8(5), seed) // GET /deliveries
		f.Add(uint8(6), seed) // GET /scheduled
	}
	f.Add(uint8(6), "status=waiting&limit=5")
	f.Add(uint8(6), "status=sent&status=failed")
	fxs := fuzzFixtures(f)
	routes := []struct{ path, token string }{
		{"/notifications", userToken}, {"/topics", userToken}, {"/", userToken}, {"/status", userToken}, {"/settings", userToken},
		{"/deliveries", serviceToken}, {"/scheduled", serviceToken},
	}
	f.Fuzz(func(t *testing.T, route uint8, rawQuery string) {
		rt := routes[int(route)%len(routes)]
		fuzzRequest(t, fxs, http.MethodGet, rt.path, rawQuery, rt.token, "")
	})
}

// queryRoutes are the routes that read a query, the query parameters
// each accepts and the token that may call it; an "id" route takes the
// fuzzed value as its path segment instead.
var queryRoutes = []struct {
	method, path string
	params       []string
	token        string
}{
	{"GET", "/notifications", []string{"offset", "limit", "orderField", "topic", "search", "read", "saved", "createdAfter", "minimumSeverity", "cursor"}, userToken},
	{"GET", "/", []string{"offset", "limit", "orderField", "topic", "search", "read", "saved", "createdAfter", "minimumSeverity", "cursor"}, userToken},
	{"GET", "/topics", []string{"search", "read", "saved", "createdAfter", "minimumSeverity"}, userToken},
	{"GET", "/status", []string{"x"}, userToken},
	{"GET", "/settings", []string{"x"}, userToken},
	{"GET", "/notifications/{id}", nil, userToken},
	{"GET", "/{id}", nil, userToken},
	{"GET", "/deliveries", []string{"notificationId", "processor", "status", "limit"}, serviceToken},
	{"POST", "/deliveries/{id}/retry", nil, serviceToken},
	{"GET", "/scheduled", []string{"status", "limit"}, serviceToken},
	{"DELETE", "/scheduled/{id}", nil, serviceToken},
}

// FuzzQueryParams gives every query parameter of every GET route (and the
// id in the path) an arbitrary value, byte for byte: a value that is not
// valid UTF-8 or holds NUL is a 400 naming the parameter.
func FuzzQueryParams(f *testing.F) {
	for _, seed := range []string{"", "a", "\xff\xfe", "\x00", "10", "-1", "true", "created,desc", "2024-01-01", "0000-01-01",
		"critical", strings.Repeat("%", 1000), strings.Repeat("é", 1001), "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11", "..", "%2F"} {
		f.Add(uint8(0), uint8(0), seed)
	}
	for route, rt := range queryRoutes { // every parameter once
		for param := range max(len(rt.params), 1) {
			f.Add(uint8(route), uint8(param), "\x00")
		}
	}
	fxs := fuzzFixtures(f)
	f.Fuzz(func(t *testing.T, route, param uint8, value string) {
		rt := queryRoutes[int(route)%len(queryRoutes)]
		if rt.params == nil {
			answers := fuzzRequest(t, fxs, rt.method, strings.ReplaceAll(rt.path, "{id}", url.PathEscape(value)), "", rt.token, "")
			// "", "." and ".." are no id: the host's mux redirects them
			// to another route, which answers as it does.
			for _, a := range answers {
				if a.status != 0 && a.status != http.StatusNotFound && a.status != http.StatusOK && value != "" && value != "." && value != ".." {
					t.Fatalf("%s: %s %s with id %q: %d %s, want 404", a.store, rt.method, rt.path, value, a.status, a.message)
				}
			}
			return
		}
		name := rt.params[int(param)%len(rt.params)]
		answers := fuzzRequest(t, fxs, rt.method, rt.path, name+"="+queryEscape(value), rt.token, "")
		if !utf8.ValidString(value) || strings.IndexByte(value, 0) >= 0 {
			for _, a := range answers {
				if a.status != http.StatusBadRequest || !strings.Contains(a.message, "request/query/"+name) && !strings.Contains(a.message, "'"+name+"'") {
					t.Fatalf("%s: %s %s?%s=%q: %d %q, want a 400 naming %s", a.store, rt.method, rt.path, name, value, a.status, a.message, name)
				}
			}
		}
	})
}

var uuidText = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// FuzzCursor pages with cursors of every position, well formed or
// tampered: one whose time is outside years 1 to 9999 or whose id is not
// a UUID is a 400, any other is a page.
func FuzzCursor(f *testing.F) {
	const id = "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11"
	for _, seed := range []struct {
		created   int64
		broadcast bool
		id, raw   string
	}{
		{1735725601000, false, id, ""}, {0, true, id, ""}, {9223372036854775807, false, id, ""},
		{-9223372036854775808, false, id, ""}, {-99999999999999, false, id, ""}, {253402300800000, false, id, ""},
		{-62135596800001, false, id, ""}, {1, false, "x", ""}, {1, false, "\xff", ""}, {1, false, id[:35] + "\x00", ""},
		{0, false, "", "!!"}, {0, false, "", "eyJjIjoxfQ"}, {0, false, "", base64.RawURLEncoding.EncodeToString([]byte(`{"c":1e400,"i":"` + id + `"}`))},
	} {
		f.Add(seed.created, seed.broadcast, seed.id, seed.raw)
	}
	fxs := fuzzFixtures(f)
	minMillis := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxMillis := time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
	f.Fuzz(func(t *testing.T, created int64, isBroadcast bool, id, raw string) {
		cursor := raw
		if raw == "" {
			b := fmt.Sprintf(`{"c":%d,"b":%t,"i":%s}`, created, isBroadcast, jsonString(id))
			cursor = base64.RawURLEncoding.EncodeToString([]byte(b))
		}
		for _, path := range []string{"/notifications", "/"} {
			answers := fuzzRequest(t, fxs, http.MethodGet, path, "limit=1&cursor="+queryEscape(cursor), userToken, "")
			if raw != "" {
				continue
			}
			want := http.StatusOK
			if created < minMillis || created > maxMillis || !uuidText.MatchString(id) {
				want = http.StatusBadRequest
			}
			for _, a := range answers {
				if a.status != want || want == http.StatusBadRequest && !strings.Contains(a.message, "request/query/cursor is invalid") {
					t.Fatalf("%s: cursor {c:%d, b:%t, i:%q}: %d %q, want %d", a.store, created, isBroadcast, id, a.status, a.message, want)
				}
			}
		}
	})
}

// FuzzBodyFields puts an arbitrary value in one string of one body route
// (bodySpots): escaped, a value that is not valid UTF-8 or holds NUL is a
// 400 naming that field; raw, it may be any JSON at all (escapes, numbers,
// broken syntax). A metadata number spot is fuzzed raw too.
func FuzzBodyFields(f *testing.F) {
	spots := slices.Concat(bodySpots, []bodySpot{
		{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","metadata":{"n":@}}`), "request/body/payload/metadata/n"},
	})
	for _, seed := range []struct {
		raw   bool
		value string
	}{
		{false, "x"}, {false, "\xff\xfe"}, {false, "a\x00"}, {true, `\ud800`}, {true, `\udc00\ud800`}, {true, `\u0000`},
		{true, `\ud83d\ude00`}, {false, "//evil.example/x"}, {false, `/\evil.example/x`}, {false, "!!"}, {false, "0001-01-01T00:00:00Z"},
		{true, `1e200000`}, {true, `12345678901234567890123`}, {true, `0e-99999`}, {true, `-0.0e-1000`}, {false, strings.Repeat("%", 1000)},
	} {
		f.Add(uint8(0), seed.raw, seed.value)
	}
	for spot := range spots { // every spot once, with a value it refuses
		f.Add(uint8(spot), false, "\xff")
	}
	fxs := fuzzFixtures(f)
	f.Fuzz(func(t *testing.T, spot uint8, raw bool, value string) {
		sp := spots[int(spot)%len(spots)]
		content := value
		if !raw {
			quoted := jsonString(value)
			content = quoted[1 : len(quoted)-1]
		}
		answers := fuzzRequest(t, fxs, sp.method, sp.path, "", sp.token, strings.ReplaceAll(sp.template, "@", content))
		if raw || !strings.Contains(sp.template, `"@`) && !strings.Contains(sp.template, `@"`) {
			return
		}
		if !utf8.ValidString(value) || strings.IndexByte(value, 0) >= 0 {
			for _, a := range answers {
				if a.status != http.StatusBadRequest || !strings.Contains(a.message, sp.field) {
					t.Fatalf("%s: %s %s with %s = %q: %d %q, want a 400 naming %s", a.store, sp.method, sp.path, sp.field, value, a.status, a.message, sp.field)
				}
			}
		}
	})
}
