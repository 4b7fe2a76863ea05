package rest_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileCase is one hostile request and what it must be answered.
type hostileCase struct {
	name         string
	method, path string // path relative to the mount point, raw query included
	token        string
	body         string
	// status is the exact status wanted; 0 accepts any status below 500.
	status int
	// message, when set, is a part of the error message the answer must
	// carry (a 4xx names the field and the rule).
	message string
}

// layerLeaks are fragments of internal error chains and drivers that no
// 4xx message may carry.
var layerLeaks = []string{"store:", "notifications:", "save broadcast", "list:", "SQLSTATE", "sqlite", "pgx", "postgres", "bun:", "json: ", "strconv.", "runtime error"}

// secret is put in query strings; no answer may echo it.
const secret = "s3cret-token-in-the-query"

// hostileCases are the hostile inputs of every kind found over HTTP, sent
// to every route they can reach. id is a stored notification of the mock
// user.
func hostileCases(id string) []hostileCase {
	var cases []hostileCase
	add := func(c hostileCase) { cases = append(cases, c) }

	// Query strings: invalid UTF-8 and NUL in the value of every parameter
	// of every route, and in names.
	listQuery := []string{"offset", "limit", "orderField", "topic", "search", "read", "saved", "createdAfter", "minimumSeverity", "cursor"}
	topicsQuery := []string{"search", "read", "saved", "createdAfter", "minimumSeverity"}
	queryRoutes := []struct {
		method, path, token string
		params              []string
	}{
		{"GET", "/notifications", userToken, listQuery},
		{"GET", "/", userToken, listQuery},
		{"GET", "/topics", userToken, topicsQuery},
		{"GET", "/status", userToken, nil},
		{"GET", "/settings", userToken, nil},
		{"GET", "/notifications/" + id, userToken, nil},
		{"GET", "/" + id, userToken, nil},
		{"POST", "/notifications/update", userToken, nil},
		{"POST", "/update", userToken, nil},
		{"POST", "/notifications/read-all", userToken, nil},
		{"POST", "/settings", userToken, nil},
		{"POST", "/notifications", serviceToken, nil},
		{"POST", "/", serviceToken, nil},
		{"GET", "/deliveries", serviceToken, []string{"notificationId", "processor", "status", "limit"}},
		{"POST", "/deliveries/{delivery}/retry", serviceToken, nil},
	}
	for _, rt := range queryRoutes {
		for _, p := range rt.params {
			for _, v := range []struct{ raw, rule string }{
				{"%ff%fe", "must be valid UTF-8"},
				{"a%ed%a0%80", "must be valid UTF-8"}, // a surrogate, encoded as UTF-8
				{"%c0%80", "must be valid UTF-8"},     // an overlong NUL
				{"a%00b", "must not contain a NUL character"},
			} {
				add(hostileCase{name: fmt.Sprintf("%s %s?%s=%s", rt.method, rt.path, p, v.raw), method: rt.method,
					path: rt.path + "?" + p + "=" + v.raw, token: rt.token, status: 400, message: "request/query/" + p + " " + v.rule})
			}
		}
		add(hostileCase{name: rt.method + " " + rt.path + " bad name", method: rt.method, path: rt.path + "?%ff=1",
			token: rt.token, status: 400, message: "Query parameter names must be valid UTF-8"})
		add(hostileCase{name: rt.method + " " + rt.path + " unknown parameter with bad value", method: rt.method,
			path: rt.path + "?x%00=%ff", token: rt.token, status: 400})
		// A token in the query string is never echoed, refused or not.
		add(hostileCase{name: rt.method + " " + rt.path + " token in the query", method: rt.method,
			path: rt.path + "?token=" + secret, token: rt.token, status: 400, message: "Unknown query parameter 'token'"})
		add(hostileCase{name: rt.method + " " + rt.path + " token in the query, unauthenticated", method: rt.method,
			path: rt.path + "?token=" + secret, status: 401})
	}

	// Ids in the path: never found, never a database error.
	for _, raw := range []string{"%ff%fe", "%00", "a%ed%a0%80", strings.Repeat("x", 5000), "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e1%ff"} {
		for _, p := range []string{"/notifications/", "/"} {
			add(hostileCase{name: "GET " + p + raw[:min(len(raw), 20)], method: "GET", path: p + raw, token: userToken, status: 404})
		}
	}

	// Delivery ids in the path, and in the filter: never found (or 400 for
	// the filter), never a database error. {id} is a notification's id,
	// no delivery's; {delivery} is another origin's delivery.
	for _, raw := range []string{"%ff%fe", "%00", "a%ed%a0%80", strings.Repeat("x", 5000), "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e1%ff", "{id}", "{delivery}", "%7Bdelivery%7D"} {
		add(hostileCase{name: "retry " + raw[:min(len(raw), 20)], method: "POST", path: "/deliveries/" + raw + "/retry", token: serviceToken, status: 404})
		status := 400
		if raw == "{id}" || raw == "{delivery}" {
			status = 200 // a UUID, whatever it names
		}
		add(hostileCase{name: "deliveries of " + raw[:min(len(raw), 20)], method: "GET", path: "/deliveries?notificationId=" + raw, token: serviceToken, status: status})
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=9223372036854775808", "limit=-9223372036854775809", "limit=1e3", "limit=0x10",
		"status=Failed", "status=failed%20", "processor=", "limit=1&limit=2"} {
		add(hostileCase{name: "deliveries " + q, method: "GET", path: "/deliveries?" + q, token: serviceToken, status: 400, message: "request/query/"})
	}
	for _, q := range []string{"limit=1", "limit=1000", "limit=001", "processor=%25", "processor=" + strings.Repeat("%5C", 2000), "processor=%F0%9F%98%80", "status=cancelled"} {
		add(hostileCase{name: "deliveries " + q[:min(len(q), 40)], method: "GET", path: "/deliveries?" + q, token: serviceToken, status: 200})
	}

	// Tampered cursors: 400, never a database error.
	cursor := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
	const someID = "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11"
	yearMillis := func(y int) int64 { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() }
	for name, c := range map[string]string{
		"max int64":       cursor(`{"c":9223372036854775807,"i":"` + someID + `"}`),
		"min int64":       cursor(`{"c":-9223372036854775808,"i":"` + someID + `"}`),
		"far past":        cursor(`{"c":-99999999999999,"i":"` + someID + `"}`),
		"year 0":          cursor(fmt.Sprintf(`{"c":%d,"i":"%s"}`, yearMillis(0), someID)),
		"year 10000":      cursor(fmt.Sprintf(`{"c":%d,"i":"%s"}`, yearMillis(10000), someID)),
		"id not a UUID":   cursor(`{"c":1,"i":"x"}`),
		"id with NUL":     cursor(`{"c":1,"i":"` + someID[:35] + `\u0000"}`),
		"no id":           cursor(`{"c":1}`),
		"no time":         cursor(`{"i":"` + someID + `"}`),
		"time a string":   cursor(`{"c":"1","i":"` + someID + `"}`),
		"time a fraction": cursor(`{"c":1.5,"i":"` + someID + `"}`),
		"huge time":       cursor(`{"c":1e300,"i":"` + someID + `"}`),
		"broadcast a str": cursor(`{"c":1,"b":"yes","i":"` + someID + `"}`),
		"not JSON":        cursor(`not json`),
		"JSON array":      cursor(`[1,"x"]`),
		"not base64":      "!!!",
		"padded base64":   base64.URLEncoding.EncodeToString([]byte(`{"c":1,"i":"`+someID+`"}`)) + "==",
		"invalid UTF-8":   cursor("{\"c\":1,\"i\":\"\xff\"}"),
	} {
		for _, p := range []string{"/notifications", "/"} {
			add(hostileCase{name: "cursor " + name + " on " + p, method: "GET", path: p + "?limit=2&cursor=" + c,
				token: userToken, status: 400, message: "request/query/cursor is invalid"})
		}
	}
	for name, c := range map[string]string{
		"year 1":    cursor(fmt.Sprintf(`{"c":%d,"i":"%s"}`, yearMillis(1), someID)),
		"year 9999": cursor(fmt.Sprintf(`{"c":%d,"b":true,"i":"%s"}`, yearMillis(9999), someID)),
		"epoch":     cursor(`{"c":0,"i":"` + someID + `"}`),
	} {
		add(hostileCase{name: "cursor " + name, method: "GET", path: "/notifications?limit=2&cursor=" + c, token: userToken, status: 200})
	}

	// Search: at most MaxSearchLength characters, and anything under it
	// works, wildcards and escapes included.
	long := strings.Repeat("x", 1001)
	for _, s := range []struct{ search, what string }{
		{strings.Repeat("%", 1000), "1000 %"}, {strings.Repeat("_", 1000), "1000 _"},
		{strings.Repeat(`\`, 1000), `1000 \`}, {strings.Repeat("é", 1000), "1000 é (2000 bytes)"},
		{strings.Repeat("%_\\", 333) + "%", "mixed"},
	} {
		q := queryEscape(s.search)
		for _, p := range []string{"/notifications", "/", "/topics"} {
			add(hostileCase{name: "search " + s.what + " on " + p, method: "GET", path: p + "?search=" + q, token: userToken, status: 200})
		}
		add(hostileCase{name: "read-all search " + s.what, method: "POST", path: "/notifications/read-all", token: userToken,
			body: `{"search":` + jsonString(s.search) + `}`, status: 200})
	}
	for _, p := range []string{"/notifications", "/", "/topics"} {
		add(hostileCase{name: "search too long on " + p, method: "GET", path: p + "?search=" + long, token: userToken,
			status: 400, message: "request/query/search must NOT have more than 1000 characters"})
		add(hostileCase{name: "search of 50001 on " + p, method: "GET", path: p + "?search=" + strings.Repeat("y", 50001), token: userToken,
			status: 400, message: "request/query/search must NOT have more than 1000 characters"})
		add(hostileCase{name: "search of 26000 % on " + p, method: "GET", path: p + "?search=" + strings.Repeat("%25", 26000), token: userToken,
			status: 400, message: "request/query/search must NOT have more than 1000 characters"})
	}
	add(hostileCase{name: "read-all search too long", method: "POST", path: "/notifications/read-all", token: userToken,
		body: `{"search":"` + long + `"}`, status: 400, message: "request/body/search must NOT have more than 1000 characters"})

	// Bodies: every string (and property name) of every body route, with
	// invalid UTF-8, lone surrogate escapes and NUL escapes.
	for _, sp := range bodySpots {
		for _, v := range []struct{ what, content, rule string }{
			{"invalid UTF-8", "a\xff\xfeb", "must be valid UTF-8"},
			{"overlong encoding", "\xc0\xaf", "must be valid UTF-8"},
			{"encoded surrogate", "\xed\xa0\x80", "must be valid UTF-8"},
			{"lone high surrogate", `\ud800`, "must be valid UTF-8"},
			{"lone low surrogate", `x\udc00`, "must be valid UTF-8"},
			{"high surrogate then not low", `\ud800\u0041`, "must be valid UTF-8"},
			{"high surrogate at the end", `a\uD83D`, "must be valid UTF-8"},
			{"NUL escape", `a\u0000`, "must not contain a NUL character"},
		} {
			add(hostileCase{name: sp.method + " " + sp.path + " " + sp.field + " " + v.what, method: sp.method, path: sp.path,
				token: sp.token, body: strings.ReplaceAll(sp.template, "@", v.content), status: 400, message: sp.field + " " + v.rule})
		}
	}
	// A surrogate pair is one valid character.
	add(hostileCase{name: "surrogate pair in a title", method: "POST", path: "/notifications", token: serviceToken,
		body: sendBody(toMockRecipients, `{"title":"\ud83d\ude00"}`), status: 200})

	// Metadata: numbers kept exactly within documented bounds, duplicate
	// keys refused.
	for _, m := range []struct {
		metadata string
		status   int
		message  string
	}{
		{`{"big":12345678901234567890123}`, 200, ""},
		{`{"precise":0.1000000000000000055511151231257827}`, 200, ""},
		{`{"n":1e308,"m":-1e-320,"z":0e-999}`, 200, ""},
		{`{"n":1e200000}`, 400, "payload.metadata.n: is a number"},
		{`{"n":-1e400}`, 400, "payload.metadata.n: is a number"},
		{`{"n":1e-400}`, 400, "payload.metadata.n: is a number"},
		{`{"n":0e-99999}`, 400, "payload.metadata.n: is a number"},
		{`{"n":0E+99999999999999999999}`, 400, "payload.metadata.n: is a number"},
		{`{"n":1.` + strings.Repeat("1", 17000) + `}`, 400, "payload.metadata.n: is a number of more than 100 characters"},
		{`{"n":[1,{"deep":` + strings.Repeat("9", 400) + `}]}`, 400, "payload.metadata.n[1].deep: is a number"},
		{`{"a":1,"a":2}`, 400, `duplicate key "a"`},
		{`{"a":null,"a":null}`, 400, `duplicate key "a"`},
		{`{"o":{"k":1,"k":"x"}}`, 400, `duplicate key "k"`},
		{`{"k\u0000":"v\u0000"}`, 400, "request/body/payload/metadata property names must not contain a NUL character"},
		{`{"k":"v\u0000"}`, 400, "request/body/payload/metadata/k must not contain a NUL character"},
		{`{"deep":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000) + `}`, 0, ""},
		{`{"deep":` + strings.Repeat(`[`, 9000) + strings.Repeat(`]`, 9000) + `}`, 0, ""},
	} {
		for _, rec := range []string{toMockRecipients, `{"type":"broadcast"}`} {
			add(hostileCase{name: "metadata " + m.metadata[:min(len(m.metadata), 40)] + " to " + recipientsName(rec), method: "POST", path: "/notifications",
				token: serviceToken, body: sendBody(rec, `{"title":"t","metadata":`+m.metadata+`}`), status: m.status, message: m.message})
		}
	}
	// Numbers where strings are due.
	add(hostileCase{name: "huge number as a title", method: "POST", path: "/notifications", token: serviceToken,
		body: sendBody(toMockRecipients, `{"title":1e200000}`), status: 400, message: "request/body/payload/title must be string"})

	// Validation by the Service: exclusions are refs like recipients, and
	// protocol-relative or backslash links are not relative paths.
	for _, ex := range []string{`"!!"`, `["user:default/x","!!"]`, `"user:"`} {
		add(hostileCase{name: "exclusion " + ex, method: "POST", path: "/notifications", token: serviceToken,
			body: sendBody(`{"type":"entity","entityRef":"user:default/mock","excludeEntityRef":`+ex+`}`, `{"title":"t"}`), status: 400, message: "excludeEntityRef"})
	}
	for _, link := range []string{`//evil.example/x`, `/\\evil.example/x`, `\\\\evil.example/x`, `/\\/evil.example`} {
		for _, rec := range []string{toMockRecipients, `{"type":"broadcast"}`} {
			add(hostileCase{name: "link " + link + " to " + recipientsName(rec), method: "POST", path: "/notifications", token: serviceToken,
				body: sendBody(rec, `{"title":"t","link":"`+link+`"}`), status: 400, message: "link"})
		}
	}

	// Date bounds: presence decides, not zero-ness, within years 1 to
	// 9999 on every store.
	for _, d := range []struct {
		date   string
		status int
	}{
		{"0001-01-01T00:00:00Z", 200}, {"0001-01-01", 200}, {"9999-12-31T23:59:59.999Z", 200}, {"9999-12-31T23:59:59.999999999Z", 200}, {"9999-12-31T23:59:59-23:59", 400},
		{"0000-01-01T00:00:00Z", 400}, {"0000-12-31T23:59:59Z", 400}, {"0001-01-01T00:00:00+23:59", 400},
	} {
		message := ""
		if d.status == 400 {
			message = "must be a date from year 1 to 9999"
		}
		for _, field := range []string{"before", "createdAfter"} {
			add(hostileCase{name: "read-all " + field + " " + d.date, method: "POST", path: "/notifications/read-all", token: userToken,
				body: `{"` + field + `":"` + d.date + `"}`, status: d.status, message: strings.ReplaceAll(message, "must", "request/body/"+field+" must")})
		}
		for _, p := range []string{"/notifications", "/", "/topics"} {
			add(hostileCase{name: "createdAfter " + d.date + " on " + p, method: "GET", path: p + "?createdAfter=" + queryEscape(d.date),
				token: userToken, status: d.status, message: strings.ReplaceAll(message, "must", "request/query/createdAfter must")})
		}
	}
	return cases
}

// bodySpot is one string of one body route: template with @ where the
// string's content goes, and the path a 400 about it names.
type bodySpot struct {
	method, path, token string
	template            string
	field               string
}

const toMockRecipients = `{"type":"entity","entityRef":"user:default/mock"}`

func sendBody(recipients, payload string) string {
	return `{"recipients":` + recipients + `,"payload":` + payload + `}`
}

// bodySpots are every string (and property name) a body route reads.
var bodySpots = []bodySpot{
	{"POST", "/notifications", serviceToken, sendBody(`{"type":"broadcast"}`, `{"title":"@"}`), "request/body/payload/title"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"@"}`), "request/body/payload/title"},
	{"POST", "/", serviceToken, sendBody(toMockRecipients, `{"title":"@"}`), "request/body/payload/title"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","description":"@"}`), "request/body/payload/description"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","link":"/x@"}`), "request/body/payload/link"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","topic":"@"}`), "request/body/payload/topic"},
	{"POST", "/notifications", serviceToken, sendBody(`{"type":"broadcast"}`, `{"title":"t","scope":"@"}`), "request/body/payload/scope"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","icon":"@"}`), "request/body/payload/icon"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","severity":"@"}`), "request/body/payload/severity"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","metadata":{"@":"v"}}`), "request/body/payload/metadata property names"},
	{"POST", "/notifications", serviceToken, sendBody(toMockRecipients, `{"title":"t","metadata":{"k":"@"}}`), "request/body/payload/metadata/k"},
	{"POST", "/notifications", serviceToken, sendBody(`{"type":"broadcast"}`, `{"title":"t","metadata":{"k":[1,{"d":"@"}]}}`), "request/body/payload/metadata/k/1/d"},
	{"POST", "/notifications", serviceToken, sendBody(`{"type":"entity","entityRef":"user:default/@"}`, `{"title":"t"}`), "request/body/recipients/entityRef"},
	{"POST", "/notifications", serviceToken, sendBody(`{"type":"entity","entityRef":["user:default/mock","user:@"]}`, `{"title":"t"}`), "request/body/recipients/entityRef/1"},
	{"POST", "/notifications", serviceToken, sendBody(`{"type":"entity","entityRef":"user:default/mock","excludeEntityRef":"@"}`, `{"title":"t"}`), "request/body/recipients/excludeEntityRef"},
	{"POST", "/notifications", serviceToken, sendBody(`{"type":"@"}`, `{"title":"t"}`), "request/body/recipients/type"},
	{"POST", "/notifications", serviceToken, `{"ignored@":1,"recipients":{"type":"broadcast"},"payload":{"title":"t"}}`, "request/body property names"},
	{"POST", "/notifications/update", userToken, `{"ids":["@"],"read":true}`, "request/body/ids/0"},
	{"POST", "/update", userToken, `{"ids":["x","@"],"saved":true}`, "request/body/ids/1"},
	{"POST", "/notifications/read-all", userToken, `{"search":"@"}`, "request/body/search"},
	{"POST", "/notifications/read-all", userToken, `{"topic":"@"}`, "request/body/topic"},
	{"POST", "/notifications/read-all", userToken, `{"before":"2024-01-01@"}`, "request/body/before"},
	{"POST", "/notifications/read-all", userToken, `{"createdAfter":"@"}`, "request/body/createdAfter"},
	{"POST", "/notifications/read-all", userToken, `{"minimumSeverity":"@"}`, "request/body/minimumSeverity"},
	{"POST", "/settings", userToken, `{"channels":[{"id":"@","origins":[]}]}`, "request/body/channels/0/id"},
	{"POST", "/settings", userToken, `{"channels":[{"id":"Web","origins":[{"id":"@","enabled":false}]}]}`, "request/body/channels/0/origins/0/id"},
	{"POST", "/settings", userToken, `{"channels":[{"id":"Web","origins":[{"id":"o","enabled":true,"topics":[{"id":"@","enabled":false}]}]}]}`, "request/body/channels/0/origins/0/topics/0/id"},
}

// TestHostileInputs sends every hostile input to every route it can reach,
// on every store: no answer is a 5xx, both stores answer alike, and where
// the rule is known the answer is exactly its 400.
func TestHostileInputs(t *testing.T) {
	t.Parallel()
	var fixtures []*fixture
	var ids, deliveries []string
	for _, kind := range availableStores() {
		f := setup(t, withStoreKind(kind))
		ids = append(ids, f.sent(toMock(`{"title":"seeded","topic":"t"}`))[0]["id"].(string))
		f.sent(broadcast(`{"title":"seeded broadcast","topic":"b"}`))
		// A failed delivery of the other service's: the test service's
		// retry of it is a 404.
		w := f.deliveryWorld()
		deliveries = append(deliveries, w.others.deliveries["email"])
		fixtures = append(fixtures, f)
	}
	stores := availableStores()
	for i, tc := range hostileCases("{id}") {
		t.Run(fmt.Sprintf("%03d %s", i, tc.name), func(t *testing.T) {
			var statuses []int
			for j, f := range fixtures {
				path := strings.ReplaceAll(strings.ReplaceAll(tc.path, "{id}", ids[j]), "{delivery}", deliveries[j])
				r := f.raw(t, tc.method, path, tc.token, tc.body)
				statuses = append(statuses, r.status)
				checkHostileAnswer(t, string(stores[j]), tc, r)
			}
			for j := 1; j < len(statuses); j++ {
				if statuses[j] != statuses[0] {
					t.Errorf("%s answered %d, %s %d: the stores disagree", stores[0], statuses[0], stores[j], statuses[j])
				}
			}
		})
	}
}

// checkHostileAnswer asserts what every answer to a hostile request must
// hold.
func checkHostileAnswer(t *testing.T, store string, tc hostileCase, r response) {
	t.Helper()
	body := string(r.body)
	if r.status >= 500 {
		t.Fatalf("%s: %s %s: %d %s", store, tc.method, tc.path, r.status, body)
	}
	if tc.status != 0 && r.status != tc.status {
		t.Errorf("%s: status %d, want %d; body %s", store, r.status, tc.status, truncate(body))
	}
	if strings.Contains(body, secret) {
		t.Errorf("%s: the answer echoes the query's token: %s", store, truncate(body))
	}
	if r.status < 400 {
		return
	}
	e := failure(t, r, r.status, map[int]string{400: "InputError", 401: "AuthenticationError", 403: "NotAllowedError", 404: "NotFoundError", 409: "ConflictError", 413: "PayloadTooLargeError"}[r.status])
	if tc.message != "" && !strings.Contains(e.Error.Message, tc.message) {
		t.Errorf("%s: message %q, want it to contain %q", store, truncate(e.Error.Message), tc.message)
	}
	for _, leak := range layerLeaks {
		if strings.Contains(e.Error.Message, leak) {
			t.Errorf("%s: message %q carries an internal chain (%q)", store, truncate(e.Error.Message), leak)
		}
	}
	if strings.Contains(e.Request.URL, "?") {
		t.Errorf("%s: request.url %q carries the query string", store, e.Request.URL)
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// queryEscape percent-encodes s for a query value, leaving nothing to the
// client's interpretation.
func queryEscape(s string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// jsonString is s as a JSON string literal, written by hand so that bytes
// encoding/json would replace reach the server as they are.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := range len(s) {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// A read-all bounded in year 1 marks nothing: presence of the bound
// decides, not its zero-ness. On every store.
func TestReadAllBeforeYearOne(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind))
		f.sent(toMock(`{"title":"a"}`))
		f.sent(broadcast(`{"title":"b"}`))
		for _, before := range []string{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z", "0001-01-01"} {
			got := ok[map[string][]string](t, f.raw(t, "POST", "/notifications/read-all", userToken, `{"before":"`+before+`"}`))
			if ids, present := got["ids"]; !present || ids == nil || len(ids) != 0 {
				t.Errorf("read-all before %s answered %v, want {ids: []}", before, got)
			}
		}
		if st := ok[map[string]int](t, f.raw(t, "GET", "/status", userToken, "")); st["unread"] != 2 || st["read"] != 0 {
			t.Errorf("status %v after read-all before year 1, want both still unread", st)
		}
		// A bound after everything marks everything.
		got := ok[map[string][]string](t, f.raw(t, "POST", "/notifications/read-all", userToken, `{"before":"9999-12-31T23:59:59Z"}`))
		if len(got["ids"]) != 2 {
			t.Errorf("read-all before year 9999 answered %v, want both", got)
		}
	})
}

// Metadata numbers come back digit for digit, in the send's answer and
// when read again. On every store.
func TestMetadataNumbersKept(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind))
		const md = `{"big":12345678901234567890123,"precise":0.1000000000000000055511151231257827,"neg":-98765432109876543210}`
		for _, rec := range []string{`{"type":"entity","entityRef":"user:default/mock"}`, `{"type":"broadcast"}`} {
			r := f.raw(t, "POST", "/notifications", serviceToken, `{"recipients":`+rec+`,"payload":{"title":"t","metadata":`+md+`}}`)
			sent := ok[[]map[string]any](t, r)
			g := f.raw(t, "GET", "/notifications/"+sent[0]["id"].(string), userToken, "")
			ok[map[string]any](t, g)
			for what, body := range map[string][]byte{"the send answered": r.body, "read back as": g.body} {
				for _, digits := range []string{"12345678901234567890123", "0.1000000000000000055511151231257827", "-98765432109876543210"} {
					if !strings.Contains(string(body), digits) {
						_, md, _ := strings.Cut(string(body), `"metadata":`)
						t.Errorf("%s: %s metadata %s, without %s", recipientsName(rec), what, md, digits)
						break
					}
				}
			}
		}
	})
}

// recipientsName names a recipients object in test names.
func recipientsName(recipients string) string {
	if strings.Contains(recipients, "broadcast") {
		return "broadcast"
	}
	return "user"
}
