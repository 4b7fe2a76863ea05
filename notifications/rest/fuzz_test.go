package rest_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// fuzzDo sends one request and returns its status; a transport error is
// reported as status 0 (the client refused to send it), never a failure.
func fuzzDo(t *testing.T, f *fixture, method, path, rawQuery, token, body string) (int, string) {
	t.Helper()
	u, err := url.Parse(f.srv.URL + prefix + path)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = rawQuery
	req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
	if err != nil {
		return 0, ""
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := f.srv.Client().Do(req)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// FuzzRequestBodies posts arbitrary bodies to every route that takes one,
// on a real SQLite store: nothing is ever a 500.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"recipients":{"type":"broadcast"},"payload":{"title":"t","link":"/x","severity":"low","topic":"a","scope":"s"}}`},
		{0, `{"recipients":{"type":"entity","entityRef":["group:default/mock","user:x"],"excludeEntityRef":"user:default/b"},"payload":{"title":"t","metadata":{"a":1}}}`},
		{0, `{"recipients":{"type":"entity","entityRef":["foo","component:default/svc"]},"payload":{"title":"t","link":"javascript:x"}}`},
		{0, `{"recipients":{"type":"entity","entityRef":["system:default/unknown"]},"payload":{"title":"t"}}`},
		{1, `{"ids":["6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11","x"],"read":true,"saved":false}`},
		{2, `{"channels":[{"id":"Web","origins":[{"id":"o","enabled":true,"topics":[{"id":"t","enabled":true},{"id":"t","enabled":false}]}]}]}`},
		{2, `{"channels":[{"id":"Web","origins":[]},{"id":"Web","origins":[{"id":"","enabled":true}]}]}`},
		{3, `{"before":"2030-01-01","topic":"a","minimumSeverity":"critical"}`},
		{3, ``},
	} {
		f.Add(seed.route, seed.body)
	}
	fx := setup(f)
	routes := []struct{ path, token string }{
		{"/notifications", serviceToken},
		{"/notifications/update", userToken},
		{"/settings", userToken},
		{"/notifications/read-all", userToken},
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		if status, answer := fuzzDo(t, fx, http.MethodPost, rt.path, "", rt.token, body); status >= 500 {
			t.Fatalf("POST %s %q: %d %s", rt.path, body, status, answer)
		}
	})
}

// FuzzQueries sends arbitrary query strings to the list and the topics:
// nothing is ever a 500.
func FuzzQueries(f *testing.F) {
	for _, seed := range []string{
		"limit=2&offset=1&orderField=topic,asc&orderField=created,desc",
		"read=true&saved=false&topic=a&search=%25_&minimumSeverity=low&createdAfter=2024-01-01",
		"cursor=eyJjIjoxLCJpIjoieCJ9&limit=1", "cursor=%00", "limit=999999999999999999999",
		"orderField=severity,desc&orderField=read&orderField=saved,asc&orderField=updated",
		"createdAfter=Tue%20Mar%2005%202024", "a;b", "%zz",
	} {
		f.Add(false, seed)
	}
	fx := setup(f)
	fx.sent(toMock(`{"title":"one","topic":"a"}`))
	fx.sent(broadcast(`{"title":"two","severity":"critical"}`))
	f.Fuzz(func(t *testing.T, topics bool, rawQuery string) {
		path := "/notifications"
		if topics {
			path = "/topics"
		}
		if status, answer := fuzzDo(t, fx, http.MethodGet, path, rawQuery, userToken, ""); status >= 500 {
			t.Fatalf("GET %s?%s: %d %s", path, rawQuery, status, answer)
		}
	})
}
