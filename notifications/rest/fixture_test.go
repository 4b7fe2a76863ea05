package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/store"
)

// Tokens of the router fixture: two services and two users.
const (
	serviceToken      = "service-token"       // external:test-service
	otherServiceToken = "other-service-token" // external:other-service
	userToken         = "user-token"          // user:default/mock
	otherUserToken    = "other-user-token"    // user:default/other
	testService       = "external:test-service"
	otherService      = "external:other-service"
	mockUser          = "user:default/mock"
	otherUser         = "user:default/other"
	prefix            = "/api/notifications"
)

func ptr[T any](v T) *T { return &v }

// defaultsR are the fixture's administrator defaults: Web with
// test-service2 disabled and test-service3 enabled but its topic
// test-topic3 disabled.
func defaultsR() notifications.Settings {
	return notifications.Settings{Channels: []notifications.ChannelSettings{{
		ID: notifications.WebChannel,
		Origins: []notifications.OriginSettings{
			{ID: "external:test-service2", Enabled: false},
			{ID: "external:test-service3", Enabled: true, Topics: []notifications.TopicSettings{{ID: "test-topic3", Enabled: false}}},
		},
	}}}
}

// catalogR is the fixture's catalog: the mock user, a group holding it,
// and a component owned by a group of two users (owner resolution).
func catalogR() notifications.Catalog {
	return notifications.NewMemoryCatalog(
		notifications.CatalogEntity{Ref: mockUser},
		notifications.CatalogEntity{Ref: "group:default/mock", Relations: []notifications.Relation{{Type: notifications.RelationHasMember, TargetRef: mockUser}}},
		notifications.CatalogEntity{Ref: "group:default/owners", Relations: []notifications.Relation{
			{Type: notifications.RelationHasMember, TargetRef: "user:default/a"},
			{Type: notifications.RelationHasMember, TargetRef: "user:default/b"},
		}},
		notifications.CatalogEntity{Ref: "component:default/svc", Relations: []notifications.Relation{{Type: notifications.RelationOwnedBy, TargetRef: "group:default/owners"}}},
	)
}

// storeKind names a store the fixture runs on.
type storeKind string

const (
	onSQLite   storeKind = "sqlite"   // in memory, always available
	onPostgres storeKind = "postgres" // a fresh schema of HERALD_TEST_POSTGRES_DSN
)

// eachStore runs test in a parallel subtest per store: SQLite always,
// PostgreSQL when HERALD_TEST_POSTGRES_DSN is set (a failure instead of a
// skip when HERALD_REQUIRE_SERVICES is set). Both stores must give the same
// answer to the same request.
func eachStore(t *testing.T, test func(t *testing.T, kind storeKind)) {
	t.Helper()
	for _, kind := range []storeKind{onSQLite, onPostgres} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			test(t, kind)
		})
	}
}

// availableStores are the stores a test that compares them (or a fuzz
// target) runs on: SQLite always, and PostgreSQL when
// HERALD_TEST_POSTGRES_DSN is set or HERALD_REQUIRE_SERVICES demands it
// (setup then fails without a DSN). Such a test is not skipped for want of
// PostgreSQL: it still runs on SQLite.
func availableStores() []storeKind {
	if os.Getenv(testdb.PostgresEnv) == "" && os.Getenv(testdb.RequireEnv) == "" {
		return []storeKind{onSQLite}
	}
	return []storeKind{onSQLite, onPostgres}
}

type fixtureConfig struct {
	store      storeKind
	defaults   *notifications.Settings
	resolver   notifications.RecipientResolver
	wrapStore  func(notifications.Store) notifications.Store
	maxBody    int64
	noLogs     bool
	processors []notifications.Processor
	workers    int
	retry      notifications.RetryPolicy
}

type option func(*fixtureConfig)

func withDefaults(s notifications.Settings) option {
	return func(c *fixtureConfig) { c.defaults = &s }
}
func withResolver(r notifications.RecipientResolver) option {
	return func(c *fixtureConfig) { c.resolver = r }
}
func withStore(wrap func(notifications.Store) notifications.Store) option {
	return func(c *fixtureConfig) { c.wrapStore = wrap }
}
func withProcessors(ps ...notifications.Processor) option {
	return func(c *fixtureConfig) { c.processors = ps }
}

// withManualDelivery runs no delivery workers (the test calls
// RunDueDeliveries) and gives each delivery one attempt.
func withManualDelivery() option {
	return func(c *fixtureConfig) {
		c.workers = -1
		c.retry = notifications.RetryPolicy{MaxAttempts: 1}
	}
}
func withMaxBody(n int64) option       { return func(c *fixtureConfig) { c.maxBody = n } }
func withStoreKind(k storeKind) option { return func(c *fixtureConfig) { c.store = k } }

// withDiscardedLogs drops the fixture's logs instead of keeping them, for
// fuzz targets whose runs would otherwise grow the buffer without bound.
func withDiscardedLogs() option { return func(c *fixtureConfig) { c.noLogs = true } }

type fixture struct {
	t       testing.TB
	kind    storeKind
	store   *store.Store
	svc     *notifications.Service
	srv     *httptest.Server
	signals *signalRecorder
	logs    *syncBuffer
	// clock advances one second at every reading (fixture.now), so
	// every send has its own created time and orderings are
	// deterministic.
	clock *notificationstest.Clock
}

// setup builds the router fixture: a Service on a fresh store (in-memory
// SQLite unless withStoreKind says otherwise) with the fixture's defaults
// and catalog and a recording signals publisher, served by a Handler
// mounted under /api/notifications on an httptest.Server.
func setup(t testing.TB, opts ...option) *fixture {
	t.Helper()
	cfg := fixtureConfig{store: onSQLite}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	var st *store.Store
	var err error
	switch cfg.store {
	case onPostgres:
		st, err = store.OpenPostgres(ctx, testdb.PostgresSchema(t))
	default:
		st, err = store.OpenSQLite(ctx, ":memory:")
	}
	if err != nil {
		t.Fatalf("open %s store: %v", cfg.store, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{t: t, kind: cfg.store, store: st, signals: &signalRecorder{}, logs: &syncBuffer{},
		clock: notificationstest.NewClock(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))}
	var backend notifications.Store = st
	if cfg.wrapStore != nil {
		backend = cfg.wrapStore(st)
	}
	defaults := defaultsR()
	if cfg.defaults != nil {
		defaults = *cfg.defaults
	}
	logger := slog.New(slog.NewTextHandler(f.logs, nil))
	if cfg.noLogs {
		logger = slog.New(slog.DiscardHandler)
	}
	f.svc, err = notifications.New(notifications.Config{
		Store:           backend,
		Signals:         f.signals,
		Catalog:         catalogR(),
		Resolver:        cfg.resolver,
		Processors:      cfg.processors,
		DeliveryWorkers: cfg.workers,
		Retry:           cfg.retry,
		DefaultSettings: defaults,
		Logger:          logger,
		Now:             f.now,
	})
	if err != nil {
		t.Fatalf("notifications.New: %v", err)
	}
	t.Cleanup(func() { _ = f.svc.Close(context.Background()) })
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{serviceToken: testService, otherServiceToken: otherService},
		Users: map[string]auth.StaticUser{
			userToken:      {Ref: mockUser, OwnershipRefs: []string{"group:default/mock"}},
			otherUserToken: {Ref: otherUser},
		},
	})
	if err != nil {
		t.Fatalf("NewStaticTokens: %v", err)
	}
	h, err := rest.New(rest.Config{Service: f.svc, Authenticator: tokens, MaxBodyBytes: cfg.maxBody, Logger: logger})
	if err != nil {
		t.Fatalf("rest.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	mux.Handle(prefix, http.StripPrefix(prefix, h))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// response is one HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends method path (relative to the mount point) with token ("" for
// none) and body ("" for none, else sent as application/json).
func (f *fixture) do(method, path, token, body string) response {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+prefix+path, r)
	if err != nil {
		f.t.Fatalf("new request: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return f.send(req)
}

// raw is do for subtests: failures are t's, and the path is sent as
// written (percent-escapes and all).
func (f *fixture) raw(t testing.TB, method, path, token, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+prefix+path, r)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (f *fixture) send(req *http.Request) response {
	f.t.Helper()
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatalf("read body: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// ok asserts a 200 and decodes the body into a new T.
func ok[T any](t testing.TB, r response) T {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// envelope is Backstage's error body.
type envelope = rest.ErrorEnvelope

// failure asserts status and the envelope's name and returns it.
func failure(t testing.TB, r response, status int, name string) envelope {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var e envelope
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode error envelope %s: %v", r.body, err)
	}
	if e.Error.Name != name || e.Response.StatusCode != status || e.Error.Message == "" || e.Request.Method == "" {
		t.Fatalf("envelope %s, want name %s and status %d", r.body, name, status)
	}
	return e
}

// sendJSON posts a send body as the test service.
func (f *fixture) sendJSON(body string) response {
	f.t.Helper()
	return f.do(http.MethodPost, "/notifications", serviceToken, body)
}

// sent posts a send body and decodes the answer.
func (f *fixture) sent(body string) []map[string]any {
	f.t.Helper()
	return ok[[]map[string]any](f.t, f.sendJSON(body))
}

// toMock is a send body for user:default/mock with the given payload JSON.
func toMock(payload string) string {
	return `{"recipients":{"type":"entity","entityRef":["user:default/mock"]},"payload":` + payload + `}`
}

func broadcast(payload string) string {
	return `{"recipients":{"type":"broadcast"},"payload":` + payload + `}`
}

// rows counts the user notifications (not broadcasts) stored for user.
func (f *fixture) rows(user string) int {
	f.t.Helper()
	res, err := f.svc.List(context.Background(), user, notifications.ListOptions{})
	if err != nil {
		f.t.Fatalf("list: %v", err)
	}
	n := 0
	for _, x := range res.Notifications {
		if !x.IsBroadcast() {
			n++
		}
	}
	return n
}

// seed stores notifications directly, bypassing the Service and its
// settings.
func (f *fixture) seed(ns ...notifications.Notification) []notifications.Notification {
	f.t.Helper()
	for i := range ns {
		if ns[i].ID == "" {
			ns[i].ID = uuid.New()
		}
		if ns[i].Created.IsZero() {
			ns[i].Created = f.now()
		}
		if ns[i].Payload.Severity == "" {
			ns[i].Payload.Severity = notifications.SeverityNormal
		}
	}
	stored, err := f.store.SaveNotifications(context.Background(), ns, nil)
	if err != nil {
		f.t.Fatalf("seed: %v", err)
	}
	return stored
}

// now is the Service's clock: a second later at every reading.
func (f *fixture) now() time.Time { return f.clock.Advance(time.Second) }

// signalRecorder is a signals.Publisher that keeps what it is given.
type signalRecorder struct {
	mu  sync.Mutex
	got []signals.Signal
}

var _ signals.Publisher = (*signalRecorder)(nil)

func (r *signalRecorder) Publish(_ context.Context, s signals.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
	return nil
}

// all returns the signals so far, each message re-encoded as generic JSON
// so tests compare wire shapes.
func (r *signalRecorder) all(t testing.TB) []wireSignal {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]wireSignal, len(r.got))
	for i, s := range r.got {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("encode signal: %v", err)
		}
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("decode signal: %v", err)
		}
	}
	return out
}

type wireSignal struct {
	Recipients struct {
		Type      string   `json:"type"`
		EntityRef []string `json:"entityRef"`
	} `json:"recipients"`
	Channel string         `json:"channel"`
	Message map[string]any `json:"message"`
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// mustRequest builds a request to the Handler itself (no mount point).
func mustRequest(t testing.TB, method, path, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
