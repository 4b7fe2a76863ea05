package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/signals/auth"
)

// The error envelope, exactly. Its request.url is the path relative to
// the mount point, without the query string.
func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.do(http.MethodGet, "/notifications?x", userToken, "")
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"error":{"message":"Unknown query parameter 'x'","name":"InputError"},"request":{"method":"GET","url":"/notifications"},"response":{"statusCode":400}}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("envelope %s\nwant     %s", b, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tc := range []struct {
		name, header, wantMessage string
	}{
		{"no header", "", "Missing credentials"},
		{"unknown token", "Bearer nope", "Invalid credentials"},
		{"basic scheme", "Basic dXNlcjpwYXNz", "Invalid credentials"},
		{"empty bearer", "Bearer ", "Invalid credentials"},
		{"token without scheme", userToken, "Invalid credentials"},
		{"prefix of a token", "Bearer user-tok", "Invalid credentials"},
		{"token with a suffix", "Bearer " + userToken + "x", "Invalid credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL+prefix+"/status", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := f.send(req)
			e := failure(t, r, 401, "AuthenticationError")
			if e.Error.Message != tc.wantMessage {
				t.Errorf("message %q, want %q", e.Error.Message, tc.wantMessage)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+prefix+"/status", nil)
		req.Header.Set("Authorization", "bearer "+userToken)
		ok[map[string]int](t, f.send(req))
	})
	t.Run("the OpenAPI document needs credentials of any kind", func(t *testing.T) {
		failure(t, f.do(http.MethodGet, "/openapi.json", "", ""), 401, "AuthenticationError")
		for _, token := range []string{userToken, serviceToken} {
			doc := ok[map[string]any](t, f.do(http.MethodGet, "/openapi.json", token, ""))
			if doc["openapi"] != "3.1.0" {
				t.Errorf("document %v", doc["openapi"])
			}
		}
	})
}

// An Authenticator's own errors choose the status; anything else is a
// fault that leaks nothing.
func TestAuthenticatorErrors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tc := range []struct {
		err        error
		principal  auth.Principal
		wantStatus int
		wantName   string
	}{
		{err: auth.ErrUnauthenticated, wantStatus: 401, wantName: "AuthenticationError"},
		{err: errors.Join(errors.New("expired"), auth.ErrUnauthenticated), wantStatus: 401, wantName: "AuthenticationError"},
		{err: auth.ErrForbidden, wantStatus: 403, wantName: "NotAllowedError"},
		{err: errors.New("identity provider at 10.0.0.7 is down"), wantStatus: 500, wantName: "Error"},
		{principal: auth.Principal{Kind: "robot"}, wantStatus: 500, wantName: "Error"},
		{principal: auth.Principal{Kind: auth.PrincipalUser}, wantStatus: 500, wantName: "Error"},
	} {
		authn := auth.AuthenticatorFunc(func(context.Context, string) (auth.Principal, error) { return tc.principal, tc.err })
		h, err := rest.New(rest.Config{Service: f.svc, Authenticator: authn, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		req := mustRequest(t, http.MethodGet, "/status", "")
		req.Header.Set("Authorization", "Bearer any")
		h.ServeHTTP(rec, req)
		r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		e := failure(t, r, tc.wantStatus, tc.wantName)
		if strings.Contains(string(r.body), "10.0.0.7") {
			t.Errorf("the response leaks the cause: %s", r.body)
		}
		if tc.wantStatus == 500 && e.Error.Message != "Internal server error" {
			t.Errorf("500 message %q", e.Error.Message)
		}
	}
}

// Routes that do not exist answer 404 in the envelope, after
// authentication.
func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, rt := range []struct{ method, path string }{
		{"GET", "/notifications/a/b"}, {"POST", "/status"}, {"DELETE", "/notifications/x"},
		{"PUT", "/settings"}, {"GET", "/notifications/"}, {"POST", "/nope"}, {"GET", "/notifications/read-all/x"},
	} {
		failure(t, f.do(rt.method, rt.path, "", ""), 401, "AuthenticationError")
		e := failure(t, f.do(rt.method, rt.path, userToken, ""), 404, "NotFoundError")
		if e.Error.Message != "Not found" {
			t.Errorf("%s %s: %q", rt.method, rt.path, e.Error.Message)
		}
	}
}

// The bare mount point is the root route: POST /api/notifications sends
// (no redirect to the host's root).
func TestMountPoint(t *testing.T) {
	t.Parallel()
	f := setup(t)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+prefix, strings.NewReader(toMock(`{"title":"t"}`)))
	req.Header.Set("Authorization", "Bearer "+serviceToken)
	req.Header.Set("Content-Type", "application/json")
	if got := ok[[]map[string]any](t, f.send(req)); len(got) != 1 {
		t.Fatalf("POST %s answered %v", prefix, got)
	}
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+prefix, nil)
	req.Header.Set("Authorization", "Bearer "+userToken)
	if list := ok[listBody](t, f.send(req)); list.TotalCount != 1 {
		t.Errorf("GET %s answered %+v", prefix, list)
	}
}

// Bodies over MaxBodyBytes are 413, whether or not they declare their
// length; bodies at the limit are read.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, withMaxBody(1024))
	small := toMock(`{"title":"t"}`)
	padded := func(n int) string { // a valid send body of exactly n bytes
		base := len(toMock(`{"title":"t","description":""}`))
		return toMock(`{"title":"t","description":"` + strings.Repeat("x", n-base) + `"}`)
	}
	if b := padded(1024); len(b) != 1024 {
		t.Fatalf("padded body is %d bytes", len(b))
	}
	ok[[]map[string]any](t, f.sendJSON(padded(1024)))
	ok[[]map[string]any](t, f.sendJSON(small))
	for _, path := range []string{"/notifications", "/notifications/update", "/settings", "/notifications/read-all"} {
		token := userToken
		if path == "/notifications" {
			token = serviceToken
		}
		// Declared length.
		e := failure(t, f.do(http.MethodPost, path, token, padded(1025)), 413, "PayloadTooLargeError")
		if e.Error.Message == "" {
			t.Error("413 without a message")
		}
		// Chunked: no declared length.
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+prefix+path, io.MultiReader(strings.NewReader(padded(1025))))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if req.ContentLength != 0 {
			t.Fatal("the request declares its length")
		}
		failure(t, f.send(req), 413, "PayloadTooLargeError")
	}
	// The default is 100 KiB.
	g := setup(t)
	failure(t, g.sendJSON(toMock(`{"title":"t","description":"`+strings.Repeat("x", 100<<10)+`"}`)), 413, "PayloadTooLargeError")
}

func TestContentType(t *testing.T) {
	t.Parallel()
	f := setup(t)
	body := toMock(`{"title":"t"}`)
	for ct, want := range map[string]int{
		"application/json":                  200,
		"application/json; charset=utf-8":   200,
		"application/vnd.api+json":          200,
		"":                                  200,
		"text/plain":                        400,
		"application/x-www-form-urlencoded": 400,
		"nonsense/":                         400,
	} {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+prefix+"/notifications", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+serviceToken)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if r := f.send(req); r.status != want {
			t.Errorf("Content-Type %q: status %d, want %d (%s)", ct, r.status, want, r.body)
		}
	}
}

// failingStore fails one method with an error that must not reach clients.
type failingStore struct {
	notifications.Store
}

func (failingStore) Status(context.Context, string) (notifications.Status, error) {
	return notifications.Status{}, errors.New("pq: password authentication failed for user herald at db.internal")
}

func TestInternalErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, withStore(func(s notifications.Store) notifications.Store { return failingStore{s} }))
	r := f.do(http.MethodGet, "/status", userToken, "")
	e := failure(t, r, 500, "Error")
	if e.Error.Message != "Internal server error" || strings.Contains(string(r.body), "db.internal") {
		t.Errorf("500 body %s leaks or misnames the fault", r.body)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "db.internal") || !strings.Contains(logs, "/status") {
		t.Errorf("the fault was not logged with its route: %q", logs)
	}
}

// After Service.Close, sends are 503.
func TestClosedService(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if err := f.svc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	failure(t, f.sendJSON(toMock(`{"title":"t"}`)), 503, "ServiceUnavailableError")
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	f := setup(t)
	authn := auth.AuthenticatorFunc(func(context.Context, string) (auth.Principal, error) { return auth.Principal{}, nil })
	for name, cfg := range map[string]rest.Config{
		"no service":       {Authenticator: authn},
		"no authenticator": {Service: f.svc},
		"negative limit":   {Service: f.svc, Authenticator: authn, MaxBodyBytes: -1},
	} {
		if _, err := rest.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestOpenAPIExported(t *testing.T) {
	t.Parallel()
	doc := rest.OpenAPI()
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil || v["openapi"] != "3.1.0" {
		t.Fatalf("OpenAPI() is not an OpenAPI 3.1 document: %v", err)
	}
	doc[0] = 'x'
	if rest.OpenAPI()[0] == 'x' {
		t.Error("OpenAPI returns the shared bytes")
	}
}

// unavailableStore fails every call the routes make as a store does when
// its database is unreachable: with an error wrapping ErrUnavailable.
type unavailableStore struct {
	notifications.Store
}

var errOutage = fmt.Errorf("store: list: %w: read tcp 10.0.0.9:5432: connection reset by peer", notifications.ErrUnavailable)

func (unavailableStore) SaveNotifications(context.Context, []notifications.Notification, *notifications.DeliveryWrite) ([]notifications.Notification, error) {
	return nil, errOutage
}
func (unavailableStore) SaveBroadcast(context.Context, notifications.Notification, *notifications.DeliveryWrite) (notifications.Notification, error) {
	return notifications.Notification{}, errOutage
}
func (unavailableStore) ListDeliveries(context.Context, notifications.DeliveryFilter) ([]notifications.Delivery, error) {
	return nil, errOutage
}
func (unavailableStore) GetDelivery(context.Context, string) (notifications.Delivery, error) {
	return notifications.Delivery{}, errOutage
}
func (unavailableStore) RequeueDelivery(context.Context, string, time.Time) (notifications.Delivery, error) {
	return notifications.Delivery{}, errOutage
}
func (unavailableStore) List(context.Context, notifications.Query) ([]notifications.Notification, error) {
	return nil, errOutage
}
func (unavailableStore) Count(context.Context, string, notifications.Filter) (int, error) {
	return 0, errOutage
}
func (unavailableStore) Get(context.Context, string, string) (notifications.Notification, error) {
	return notifications.Notification{}, errOutage
}
func (unavailableStore) Status(context.Context, string) (notifications.Status, error) {
	return notifications.Status{}, errOutage
}
func (unavailableStore) Topics(context.Context, string, notifications.Filter) ([]string, error) {
	return nil, errOutage
}
func (unavailableStore) OriginTopics(context.Context, string) ([]notifications.OriginTopic, error) {
	return nil, errOutage
}
func (unavailableStore) SetRead(context.Context, string, []string, *time.Time, time.Time) error {
	return errOutage
}
func (unavailableStore) SetSaved(context.Context, string, []string, *time.Time, time.Time) error {
	return errOutage
}
func (unavailableStore) MarkAllRead(context.Context, string, notifications.Filter, time.Time) ([]string, error) {
	return nil, errOutage
}
func (unavailableStore) SettingRows(context.Context, []string) (map[string][]notifications.SettingRow, error) {
	return nil, errOutage
}
func (unavailableStore) ReplaceSettings(context.Context, string, []notifications.SettingRow) error {
	return errOutage
}

// A store outage is a 503 with Retry-After on every route that reaches
// the store, never a 500, and the cause is logged, not answered.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	f := setup(t, withStore(func(s notifications.Store) notifications.Store { return unavailableStore{s} }))
	const id = "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11"
	for _, rt := range []struct{ method, path, token, body string }{
		{"GET", "/notifications", userToken, ""}, {"GET", "/", userToken, ""},
		{"GET", "/notifications?limit=1", userToken, ""},
		{"GET", "/notifications/" + id, userToken, ""}, {"GET", "/" + id, userToken, ""},
		{"GET", "/status", userToken, ""}, {"GET", "/topics", userToken, ""}, {"GET", "/settings", userToken, ""},
		{"POST", "/notifications/update", userToken, `{"ids":["` + id + `"],"read":true}`},
		{"POST", "/update", userToken, `{"ids":["` + id + `"],"saved":true}`},
		{"POST", "/notifications/read-all", userToken, ""},
		{"POST", "/settings", userToken, `{"channels":[{"id":"Web","origins":[{"id":"o","enabled":false}]}]}`},
		{"POST", "/notifications", serviceToken, toMock(`{"title":"t"}`)},
		{"POST", "/notifications", serviceToken, broadcast(`{"title":"t"}`)},
		{"POST", "/", serviceToken, toMock(`{"title":"t"}`)},
		{"GET", "/deliveries", serviceToken, ""},
		{"GET", "/deliveries?status=failed&limit=5", serviceToken, ""},
		{"POST", "/deliveries/" + id + "/retry", serviceToken, ""},
	} {
		r := f.do(rt.method, rt.path, rt.token, rt.body)
		e := failure(t, r, 503, "ServiceUnavailableError")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", rt.method, rt.path)
		}
		if strings.Contains(string(r.body), "10.0.0.9") || strings.Contains(e.Error.Message, "store") && strings.Contains(e.Error.Message, ":") {
			t.Errorf("%s %s: the 503 leaks its cause: %s", rt.method, rt.path, r.body)
		}
	}
	if logs := f.logs.String(); !strings.Contains(logs, "10.0.0.9") || !strings.Contains(logs, "/settings") {
		t.Errorf("the outage was not logged with its cause and route: %q", logs)
	}
	// A closed Service is unavailable too, with the same header.
	g := setup(t)
	if err := g.svc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := g.sendJSON(toMock(`{"title":"t"}`)); r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Errorf("send after Close: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
}

// invalidBelowStore refuses a read as a store does when bad input got past
// every validation: an error wrapping ErrInvalid that is no
// *ValidationError.
type invalidBelowStore struct {
	notifications.Store
}

func (invalidBelowStore) Status(context.Context, string) (notifications.Status, error) {
	return notifications.Status{}, fmt.Errorf("status: store: status: %w: position id %q is not a UUID", notifications.ErrInvalid, "x")
}

// Bad input refused below validation is a 400 that names no layer; the
// chain is logged.
func TestInvalidInputRefusedBelowValidation(t *testing.T) {
	t.Parallel()
	f := setup(t, withStore(func(s notifications.Store) notifications.Store { return invalidBelowStore{s} }))
	r := f.do(http.MethodGet, "/status", userToken, "")
	if e := failure(t, r, 400, "InputError"); e.Error.Message != "Invalid request" {
		t.Errorf("message %q, want a bare \"Invalid request\"", e.Error.Message)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "is not a UUID") || !strings.Contains(logs, "/status") {
		t.Errorf("the refusal was not logged with its cause and route: %q", logs)
	}
}
