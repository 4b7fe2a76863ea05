package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/agent"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/store"
)

// The fixture's tokens and principals.
const (
	aliceToken     = "alice-token"
	bobToken       = "bob-token"
	ciToken        = "ci-token"
	forbiddenToken = "forbidden-token" // the Authenticator answers ErrForbidden
	brokenToken    = "broken-token"    // the Authenticator fails to decide
	alice          = "user:default/alice"
	bob            = "user:default/bob"
	ciService      = "external:ci"
	path           = "/api/notifications/mcp"
)

func ptr[T any](v T) *T { return &v }

type storeKind string

const (
	onSQLite   storeKind = "sqlite"
	onPostgres storeKind = "postgres"
)

type fixture struct {
	svc  *notifications.Service
	srv  *httptest.Server
	url  string
	logs *syncBuffer

	mu      sync.Mutex
	revoked map[string]bool
}

// setup serves a Handler at path on an httptest.Server, on a fresh
// in-memory SQLite store or a fresh PostgreSQL schema, with static tokens
// that the test can revoke.
func setup(t testing.TB, kind storeKind) *fixture {
	t.Helper()
	return setupWith(t, kind, nil)
}

// setupWith is setup with the Service's store wrapped by wrap.
func setupWith(t testing.TB, kind storeKind, wrap func(notifications.Store) notifications.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	var st *store.Store
	var err error
	if kind == onPostgres {
		st, err = store.OpenPostgres(ctx, testdb.PostgresSchema(t))
	} else {
		st, err = store.OpenSQLite(ctx, ":memory:")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{logs: &syncBuffer{}, revoked: map[string]bool{}}
	// The clock ticks a second at every reading, so that every send has
	// its own created time and the inbox order is known.
	var clockMu sync.Mutex
	now := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	logger := slog.New(slog.NewTextHandler(f.logs, nil))
	var backend notifications.Store = st
	if wrap != nil {
		backend = wrap(st)
	}
	f.svc, err = notifications.New(notifications.Config{
		Store:  backend,
		Logger: logger,
		Now:    clock,
		Catalog: notifications.NewMemoryCatalog(notifications.CatalogEntity{
			Ref:       "group:default/team",
			Relations: []notifications.Relation{{Type: notifications.RelationHasMember, TargetRef: alice}, {Type: notifications.RelationHasMember, TargetRef: bob}},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.svc.Close(context.Background()) })
	static, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{ciToken: ciService},
		Users:    map[string]auth.StaticUser{aliceToken: {Ref: alice}, bobToken: {Ref: bob}},
	})
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.AuthenticatorFunc(func(ctx context.Context, token string) (auth.Principal, error) {
		f.mu.Lock()
		revoked := f.revoked[token]
		f.mu.Unlock()
		switch {
		case revoked:
			return auth.Principal{}, auth.ErrUnauthenticated
		case token == forbiddenToken:
			return auth.Principal{}, auth.ErrForbidden
		case token == brokenToken:
			return auth.Principal{}, errors.New("identity provider unreachable")
		}
		return static.Authenticate(ctx, token)
	})
	h, err := agent.New(agent.Config{Service: f.svc, Authenticator: authn, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.url = f.srv.URL + path
	return f
}

// eachStore runs test on SQLite, and on PostgreSQL when
// HERALD_TEST_POSTGRES_DSN is set (required when HERALD_REQUIRE_SERVICES
// is).
func eachStore(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, kind := range []storeKind{onSQLite, onPostgres} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			test(t, setup(t, kind))
		})
	}
}

func (f *fixture) revoke(token string) {
	f.mu.Lock()
	f.revoked[token] = true
	f.mu.Unlock()
}

// bearer adds the current token to every request.
type bearer struct {
	mu    sync.Mutex
	token string
}

func (b *bearer) set(token string) {
	b.mu.Lock()
	b.token = token
	b.mu.Unlock()
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	token := b.token
	b.mu.Unlock()
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens an MCP client session with the SDK's own client, over
// streamable HTTP, presenting token; the returned bearer changes it.
func (f *fixture) connect(t *testing.T, token string) (*mcp.ClientSession, *bearer, error) {
	t.Helper()
	b := &bearer{token: token}
	client := mcp.NewClient(&mcp.Implementation{Name: "herald-test", Version: "1"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: f.url, HTTPClient: &http.Client{Transport: b}, MaxRetries: -1,
	}, nil)
	if err != nil {
		return nil, b, err
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, b, nil
}

func (f *fixture) session(t *testing.T, token string) *mcp.ClientSession {
	t.Helper()
	cs, _, err := f.connect(t, token)
	if err != nil {
		t.Fatalf("connect with %s: %v", token, err)
	}
	return cs
}

// call calls a tool and fails t on a protocol error.
func call(t *testing.T, cs *mcp.ClientSession, tool string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s(%v): %v", tool, args, err)
	}
	return res
}

// ok calls a tool, expects success and decodes its structured result.
func ok[Out any](t *testing.T, cs *mcp.ClientSession, tool string, args any) Out {
	t.Helper()
	res := call(t, cs, tool, args)
	if res.IsError {
		t.Fatalf("%s(%v): tool error %q", tool, args, text(res))
	}
	var out Out
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: decode %s: %v", tool, raw, err)
	}
	// The text content carries the same JSON, for clients that read only it.
	if !jsonEqual(t, raw, []byte(text(res))) {
		t.Errorf("%s: text content %s differs from structured content %s", tool, text(res), raw)
	}
	return out
}

// toolError calls a tool and expects a tool error whose text contains
// every one of want.
func toolError(t *testing.T, cs *mcp.ClientSession, tool string, args any, want ...string) {
	t.Helper()
	res := call(t, cs, tool, args)
	if !res.IsError {
		t.Fatalf("%s(%v): no tool error, got %s", tool, args, text(res))
	}
	for _, w := range want {
		if !strings.Contains(text(res), w) {
			t.Errorf("%s(%v): error %q does not mention %q", tool, args, text(res), w)
		}
	}
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

// rawCall posts one JSON-RPC tools/call with exactly these argument
// bytes, which an SDK client would re-encode, and returns the HTTP status
// and the decoded result (nil on a protocol error).
func (f *fixture) rawCall(t testing.TB, token, tool string, args []byte) (int, *rawResult) {
	t.Helper()
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":` + quote(tool) + `,"arguments":`)
	body = append(append(body, args...), "}}"...)
	req, err := http.NewRequest(http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var msg struct {
		Result *rawResult `json:"result"`
		Error  any        `json:"error"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return resp.StatusCode, msg.Result
}

type rawResult struct {
	IsError bool `json:"isError"`
	Content []struct {
		Text string `json:"text"`
	} `json:"content"`
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// send stores a notification for the test through the Service.
func (f *fixture) send(t *testing.T, r notifications.Recipients, p notifications.Payload) notifications.Notification {
	t.Helper()
	ns, err := f.svc.Send(context.Background(), notifications.SendOptions{Origin: "plugin:test", Recipients: r, Payload: p})
	if err != nil || len(ns) != 1 {
		t.Fatalf("send %v: %v (%d notifications)", p, err, len(ns))
	}
	return ns[0]
}

// count counts user's notifications.
func (f *fixture) count(t testing.TB, user string) int {
	t.Helper()
	res, err := f.svc.List(context.Background(), user, notifications.ListOptions{Limit: ptr(0)})
	if err != nil {
		t.Fatal(err)
	}
	return res.TotalCount
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wire is a notification as the tools return it.
type wire struct {
	ID      string  `json:"id"`
	User    *string `json:"user"`
	Origin  string  `json:"origin"`
	Created string  `json:"created"`
	Read    *string `json:"read"`
	Saved   *string `json:"saved"`
	Payload struct {
		Title    string         `json:"title"`
		Severity string         `json:"severity"`
		Topic    *string        `json:"topic"`
		Metadata map[string]any `json:"metadata"`
	} `json:"payload"`
}

type list struct {
	Notifications []wire `json:"notifications"`
	TotalCount    int    `json:"totalCount"`
}

func titles(l list) []string {
	out := make([]string, len(l.Notifications))
	for i, n := range l.Notifications {
		out[i] = n.Payload.Title
	}
	return out
}

// reset empties the buffer.
func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
