package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/agent"
)

// The curl of the README, as a body.
const readmeBroadcast = `{"recipients":{"type":"broadcast"},"payload":{"title":"Title of broadcast message","link":"http://foo.com/bar","severity":"high","topic":"The topic"}}`

// started is a running server.
type started struct {
	base string // http://127.0.0.1:port
	line string // the first line printed
	stop func() error
}

// start runs the server in-process on a free port with a fresh SQLite
// file, and stops it (gracefully, checking run's result) at cleanup. The
// server logs to the test's output, shown when the test fails.
func start(t *testing.T, extra ...string) *started {
	t.Helper()
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog.json")
	if err := os.WriteFile(catalog, []byte(`[
		{"ref": "user:default/alice", "profile": {"email": "alice@example.com", "displayName": "Alice"}},
		{"ref": "user:default/bob"},
		{"ref": "group:default/team", "relations": [{"type": "hasMember", "targetRef": "user:default/alice"}]}
	]`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "herald.db"), "-catalog", catalog,
		"-service-token", "s3cret=ci", "-user-token", "u1=user:default/alice", "-user-token", "u2=user:default/bob",
	}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	stdout := newLineWriter()
	logs := t.Output()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, logs) }()

	var line string
	select {
	case line = <-stdout.lines:
	case err := <-done:
		cancel()
		t.Fatalf("run ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the server did not print where it listens")
	}
	m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		t.Fatalf("first line %q does not say where it listens", line)
	}
	var once sync.Once
	var stopErr error
	s := &started{base: m[1], line: line}
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("run did not return after cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func (s *started) do(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// frame is what the signals WebSocket sends. With catch-up on, the first
// frame of a connection holds only a cursor, and live frames carry one.
type frame struct {
	Cursor  string `json:"cursor"`
	Channel string `json:"channel"`
	Message struct {
		Action         string   `json:"action"`
		NotificationID string   `json:"notification_id"`
		IDs            []string `json:"notification_ids"`
		Notification   *struct {
			Payload struct {
				Title string `json:"title"`
			} `json:"payload"`
		} `json:"notification"`
	} `json:"message"`
}

// subscribe opens a WebSocket as the user of token, resuming from the
// catch-up cursor since when it is set, subscribes to the notifications
// channel and returns the frames it receives. When it returns, the
// subscription is in effect: the server applies client frames in order
// before answering the ping that follows them.
func subscribe(ctx context.Context, t *testing.T, s *started, token, since string) (<-chan frame, <-chan error) {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(s.base, "http") + "/api/signals"
	if since != "" {
		wsURL += "?since=" + since
	}
	c, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{token}})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if got := res.Header.Get("Sec-WebSocket-Protocol"); got != token {
		t.Errorf("selected protocol %q, want the token echoed", got)
	}
	frames := make(chan frame, 16)
	ended := make(chan error, 1)
	go func() {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				ended <- err
				return
			}
			var f frame
			if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil {
				ended <- errors.New("a frame that is not JSON text: " + string(data))
				return
			}
			frames <- f
		}
	}()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","channel":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	return frames, ended
}

// next returns the next frame that carries a signal, skipping the
// cursor-only frame a connection starts with.
func next(t *testing.T, frames <-chan frame, ended <-chan error) frame {
	t.Helper()
	for {
		if f := nextFrame(t, frames, ended); f.Channel != "" {
			return f
		}
	}
}

// nextFrame returns the next frame, whatever it carries.
func nextFrame(t *testing.T, frames <-chan frame, ended <-chan error) frame {
	t.Helper()
	select {
	case f := <-frames:
		return f
	case err := <-ended:
		t.Fatalf("the WebSocket ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	return frame{}
}

// TestEndToEnd: a service sends over HTTP, the user receives the signal
// over a real WebSocket, reads the notification back and marks it read;
// shutdown closes the WebSocket with 1012 and run returns nil.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	frames, ended := subscribe(ctx, t, s, "u1", "")

	// The broadcast of the README.
	status, body := s.do(t, http.MethodPost, "/api/notifications", "s3cret", readmeBroadcast)
	if status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	var sent []struct {
		ID     string  `json:"id"`
		Origin string  `json:"origin"`
		User   *string `json:"user"`
	}
	if err := json.Unmarshal(body, &sent); err != nil || len(sent) != 1 || sent[0].Origin != "ci" || sent[0].User != nil {
		t.Fatalf("send answered %s", body)
	}
	f := next(t, frames, ended)
	if f.Channel != "notifications" || f.Message.Action != "new_notification" || f.Message.NotificationID != sent[0].ID ||
		f.Message.Notification == nil || f.Message.Notification.Payload.Title != "Title of broadcast message" {
		t.Errorf("frame %+v, want new_notification %s", f, sent[0].ID)
	}

	// A group send reaches Alice (a member), not Bob.
	status, body = s.do(t, http.MethodPost, "/api/notifications/notifications", "s3cret",
		`{"recipients":{"type":"entity","entityRef":"group:default/team"},"payload":{"title":"For the team"}}`)
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"user":"user:default/alice"`)) {
		t.Fatalf("group send: %d %s", status, body)
	}
	var teamSent []struct{ ID string }
	_ = json.Unmarshal(body, &teamSent)
	if f := next(t, frames, ended); f.Message.NotificationID != teamSent[0].ID {
		t.Errorf("frame %+v, want the team notification", f)
	}

	// Alice reads her inbox; Bob sees only the broadcast.
	status, body = s.do(t, http.MethodGet, "/api/notifications/notifications?read=false", "u1", "")
	var list struct {
		TotalCount int `json:"totalCount"`
	}
	if _ = json.Unmarshal(body, &list); status != 200 || list.TotalCount != 2 {
		t.Errorf("alice's list: %d %s", status, body)
	}
	status, body = s.do(t, http.MethodGet, "/api/notifications", "u2", "")
	if _ = json.Unmarshal(body, &list); status != 200 || list.TotalCount != 1 {
		t.Errorf("bob's list: %d %s", status, body)
	}

	// Marking it read is signalled too.
	status, body = s.do(t, http.MethodPost, "/api/notifications/notifications/update", "u1", `{"ids":["`+sent[0].ID+`"],"read":true}`)
	if status != 200 {
		t.Fatalf("update: %d %s", status, body)
	}
	if f := next(t, frames, ended); f.Message.Action != "notification_read" || !slices.Equal(f.Message.IDs, []string{sent[0].ID}) {
		t.Errorf("frame %+v, want notification_read", f)
	}

	// Graceful shutdown: the client is told to reconnect elsewhere.
	if err := s.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	select {
	case err := <-ended:
		if websocket.CloseStatus(err) != websocket.StatusServiceRestart {
			t.Errorf("WebSocket ended with %v, want 1012 (service restart)", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the WebSocket stayed open after shutdown")
	}
}

// TestCatchUp: a browser that was away reconnects with the cursor it
// last had and is replayed what was sent meanwhile, before anything live.
func TestCatchUp(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	away, cancelAway := context.WithCancel(ctx)
	frames, ended := subscribe(away, t, s, "u1", "")
	cursor := nextFrame(t, frames, ended).Cursor
	if cursor == "" {
		t.Fatal("the first frame has no cursor: catch-up is off")
	}
	cancelAway() // the browser goes away

	status, body := s.do(t, http.MethodPost, "/api/notifications", "s3cret",
		`{"recipients":{"type":"entity","entityRef":"user:default/alice"},"payload":{"title":"Sent while away"}}`)
	if status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	var sent []struct{ ID string }
	if err := json.Unmarshal(body, &sent); err != nil || len(sent) != 1 {
		t.Fatalf("send answered %s", body)
	}

	frames, ended = subscribe(ctx, t, s, "u1", cursor)
	if f := nextFrame(t, frames, ended); f.Cursor != cursor || f.Channel != "" {
		t.Errorf("first frame after reconnecting %+v, want the client's own cursor %s", f, cursor)
	}
	f := next(t, frames, ended)
	if f.Message.Action != "new_notification" || f.Message.NotificationID != sent[0].ID ||
		f.Message.Notification == nil || f.Message.Notification.Payload.Title != "Sent while away" {
		t.Errorf("replayed frame %+v, want new_notification %s", f, sent[0].ID)
	}
	// Bob, who was not away, has nothing to catch up on: a live send
	// reaches him with a cursor.
	bob, bobEnded := subscribe(ctx, t, s, "u2", "")
	status, body = s.do(t, http.MethodPost, "/api/notifications", "s3cret",
		`{"recipients":{"type":"entity","entityRef":"user:default/bob"},"payload":{"title":"Live"}}`)
	if status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	if f := next(t, bob, bobEnded); f.Message.Action != "new_notification" || f.Cursor == "" {
		t.Errorf("live frame %+v, want a new_notification with a cursor", f)
	}
}

// Who may connect, the health checks and the browser's CORS preflight.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(s.base, "http") + "/api/signals"
	for token, want := range map[string]int{"": 401, "nope": 401, "s3cret": 403} {
		var opts websocket.DialOptions
		if token != "" {
			opts.Subprotocols = []string{token}
		}
		c, res, err := websocket.Dial(ctx, wsURL, &opts)
		if err == nil {
			_ = c.CloseNow()
			t.Errorf("token %q connected", token)
			continue
		}
		if res == nil || res.StatusCode != want {
			t.Errorf("token %q: %v, want %d", token, res, want)
		}
	}
	for _, path := range []string{"/healthz", "/api/signals/health"} {
		if status, body := s.do(t, http.MethodGet, path, "", ""); status != 200 || string(body) != `{"status":"ok"}` {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	if status, _ := s.do(t, http.MethodGet, "/api/notifications/status", "", ""); status != 401 {
		t.Errorf("status without a token: %d, want 401", status)
	}
	if status, _ := s.do(t, http.MethodGet, "/api/notifications/openapi.json", "s3cret", ""); status != 200 {
		t.Errorf("openapi.json: %d", status)
	}

	req, _ := http.NewRequest(http.MethodOptions, s.base+"/api/notifications/status", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
	req, _ = http.NewRequest(http.MethodOptions, s.base+"/api/notifications/status", nil)
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin was allowed: %v", res.Header)
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags([]string{"-service-token", "a==b=ci", "-user-token", "u=user:default/x", "-postgres", "postgres://h/db"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.serviceTokens["a==b"] != "ci" || cfg.userTokens["u"] != "user:default/x" || cfg.addr != "127.0.0.1:7007" ||
		cfg.db != "herald.db" || cfg.baseURL != "http://localhost:3000" || cfg.postgres != "postgres://h/db" {
		t.Errorf("parsed %+v", cfg)
	}
	for _, args := range [][]string{
		{},
		{"-service-token", "noequals"},
		{"-service-token", "=ci"},
		{"-service-token", "t="},
		{"-service-token", "t=a", "-service-token", "t=b"},
		{"-user-token", "u=user:x", "-smtp", "localhost:25"},
		{"-user-token", "u=user:x", "-webhook-secret", "whsec_eA=="},
		{"-user-token", "u=user:x", "extra"},
		{"-nope"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

// Bad configuration fails before listening, with a clear error.
func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"not":"an array"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "h.db")
	for _, args := range [][]string{
		{"-user-token", "u=group:default/team", "-db", db},
		{"-user-token", "u=user:x", "-base-url", "localhost:3000", "-db", db},
		{"-user-token", "u=user:x", "-catalog", bad, "-db", db},
		{"-user-token", "u=user:x", "-catalog", filepath.Join(dir, "missing.json"), "-db", db},
		{"-user-token", "u=user:x", "-smtp", "nohost", "-smtp-from", "a@b.c", "-db", db},
		{"-user-token", "u=user:x", "-webhook", "ftp://x", "-db", db},
		{"-user-token", "u=user:x", "-addr", "256.0.0.1:bad", "-db", db},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func TestGroupsOf(t *testing.T) {
	t.Parallel()
	rel := func(ref, typ, target string) notifications.CatalogEntity {
		return notifications.CatalogEntity{Ref: ref, Relations: []notifications.Relation{{Type: typ, TargetRef: target}}}
	}
	entities := []notifications.CatalogEntity{
		rel("group:default/a", "hasMember", "user:Alice"),
		rel("group:B", "hasMember", "user:default/alice"), // another user: names keep their case
		rel("group:default/c", "hasMember", "user:default/Alice"),
		rel("user:default/Alice", "memberOf", "group:D"),
		rel("user:default/Alice", "memberOf", "component:x"),
		rel("group:default/a", "hasMember", "USER:DEFAULT/Alice"),
	}
	got := groupsOf(entities, "user:Alice")
	want := []string{"group:default/a", "group:default/c", "group:default/D"}
	if !slices.Equal(got, want) {
		t.Errorf("groupsOf = %v, want %v", got, want)
	}
}

// lineWriter hands each line written to it to lines.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 16)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.buf[:i]):
		default: // nobody is reading any more
		}
		w.buf = w.buf[i+1:]
	}
}

// bearerTransport presents a bearer token on every request.
type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// TestMCP: the MCP endpoint at /api/notifications/mcp takes the REST
// API's tokens; what a service sends over REST a user's agent reads, and
// what a service sends over MCP the user reads over REST.
func TestMCP(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func(token string) (*mcp.ClientSession, error) {
		client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "1"}, nil)
		return client.Connect(ctx, &mcp.StreamableClientTransport{
			Endpoint: s.base + "/api/notifications/mcp", HTTPClient: &http.Client{Transport: bearerTransport(token)},
		}, nil)
	}
	if status, _ := s.do(t, http.MethodPost, "/api/notifications", "s3cret", readmeBroadcast); status != 200 {
		t.Fatalf("REST broadcast: %d", status)
	}
	alice, err := connect("u1")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	res, err := alice.CallTool(ctx, &mcp.CallToolParams{Name: agent.ToolGetNotifications, Arguments: map[string]any{"view": "all"}})
	if err != nil || res.IsError {
		t.Fatalf("get-notifications: %v %v", err, res)
	}
	if raw, _ := json.Marshal(res.StructuredContent); !strings.Contains(string(raw), `"title":"Title of broadcast message"`) {
		t.Errorf("get-notifications: %s", raw)
	}

	ci, err := connect("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	res, err = ci.CallTool(ctx, &mcp.CallToolParams{Name: agent.ToolSendNotification, Arguments: map[string]any{
		"recipients": map[string]any{"type": "entity", "entityRef": "group:team"},
		"payload":    map[string]any{"title": "From an agent"},
	}})
	if err != nil || res.IsError {
		t.Fatalf("send-notification: %v %v", err, res)
	}
	if status, body := s.do(t, http.MethodGet, "/api/notifications/notifications?search=agent", "u1", ""); status != 200 ||
		!strings.Contains(string(body), `"origin":"ci"`) || !strings.Contains(string(body), `"totalCount":1`) {
		t.Errorf("alice's REST inbox: %d %s", status, body)
	}
	if status, body := s.do(t, http.MethodGet, "/api/notifications/notifications?search=agent", "u2", ""); status != 200 ||
		!strings.Contains(string(body), `"totalCount":0`) {
		t.Errorf("bob, not in the team, got it: %d %s", status, body)
	}
	if _, err := connect("nope"); err == nil {
		t.Error("an unknown token connected")
	}
	if status, _ := s.do(t, http.MethodPost, "/api/notifications/mcp", "", `{}`); status != http.StatusUnauthorized {
		t.Errorf("MCP without a token: %d, want 401", status)
	}
}
