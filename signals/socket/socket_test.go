package socket_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/socket"
)

const (
	john = "user:default/john.doe"
	jane = "user:default/jane.doe"
	team = "group:default/team-a"

	// timeout bounds every wait; tests never get near it unless broken.
	timeout = 15 * time.Second

	sentinelFrame = `{"channel":"sentinel","message":{"end":true}}`
)

// authenticate is the test identity provider.
var authenticate = auth.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
	switch token {
	case "john-token":
		return auth.Principal{Kind: auth.PrincipalUser, User: john, OwnershipRefs: []string{john, team}}, nil
	case "jane-token":
		return auth.Principal{Kind: auth.PrincipalUser, User: jane, OwnershipRefs: []string{jane}}, nil
	case "service-token":
		return auth.Principal{Kind: auth.PrincipalService, Subject: "external:ci"}, nil
	case "banned-token":
		return auth.Principal{}, fmt.Errorf("banned: %w", auth.ErrForbidden)
	case "broken-token":
		return auth.Principal{}, errors.New("identity provider unreachable")
	case "nobody-token":
		return auth.Principal{Kind: auth.PrincipalUser}, nil // a hook bug: no user
	case "robot-token":
		return auth.Principal{Kind: "robot", User: john}, nil // a hook bug: no such kind
	}
	return auth.Principal{}, fmt.Errorf("unknown token: %w", auth.ErrUnauthenticated)
})

type env struct {
	hub   *signals.Hub
	h     *socket.Handler
	srv   *httptest.Server
	ended chan error // why each connection or stream ended
}

// setup serves a Handler at /api/signals the way the package documents.
func setup(t *testing.T, cfg socket.Config, hubCfg signals.HubConfig) *env {
	t.Helper()
	e := &env{hub: signals.NewHub(hubCfg), ended: make(chan error, 64)}
	cfg.Hub = e.hub
	if cfg.Authenticator == nil {
		cfg.Authenticator = authenticate
	}
	h, err := socket.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	socket.SetOnEnd(h, func(reason error) {
		select {
		case e.ended <- reason:
		default:
			t.Errorf("more connections ended than the test expects: %v", reason)
		}
	})
	e.h = h
	mux := http.NewServeMux()
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", h))
	mux.Handle("/api/signals/", http.StripPrefix("/api/signals", h))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = h.Close()
		e.srv.Close()
		e.hub.Close()
	})
	return e
}

func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/signals" }

// waitEnded returns why the next connection ended.
func (e *env) waitEnded(t *testing.T) error {
	t.Helper()
	select {
	case reason := <-e.ended:
		return reason
	case <-time.After(timeout):
		t.Fatal("no connection ended")
		return nil
	}
}

func (e *env) publish(t *testing.T, s signals.Signal) {
	t.Helper()
	if err := e.hub.Publish(context.Background(), s); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// sentinel broadcasts on the "sentinel" channel and checks that it is the
// next frame of every client: whatever was published before it to a
// client and has not arrived never will, since a connection keeps order.
func (e *env) sentinel(t *testing.T, clients ...*client) {
	t.Helper()
	e.publish(t, signals.Signal{Recipients: signals.Broadcast(), Channel: "sentinel", Message: map[string]bool{"end": true}})
	for i, c := range clients {
		if got := c.next(t); got != sentinelFrame {
			t.Errorf("client %d: got %s, want the sentinel", i, got)
		}
	}
}

// client is a WebSocket client that reads in the background, so it answers
// pings and Ping works as a barrier.
type client struct {
	ws     *websocket.Conn
	frames chan string
	quit   chan struct{}
	done   chan struct{}
	err    error // why reading stopped; set before done is closed
}

func (e *env) dial(t *testing.T, token string) *client {
	t.Helper()
	return e.dialWith(t, 64, &websocket.DialOptions{Subprotocols: []string{token}})
}

// subscribed connects as the user of token and subscribes to channels, in
// order.
func (e *env) subscribed(t *testing.T, token string, channels ...string) *client {
	t.Helper()
	c := e.dial(t, token)
	c.send(t, "subscribe", channels...)
	return c
}

// dialWith connects with opts; buffer is how many frames the client holds
// before it stops reading (0: it stops after one unclaimed frame).
func (e *env) dialWith(t *testing.T, buffer int, opts *websocket.DialOptions) *client {
	t.Helper()
	return e.dialURL(t, e.wsURL(), buffer, opts)
}

// dialURL connects to u, the endpoint perhaps with a query, as dialWith
// connects to the endpoint.
func (e *env) dialURL(t *testing.T, u string, buffer int, opts *websocket.DialOptions) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		t.Fatalf("Dial: %v (%s)", err, statusOf(resp))
	}
	ws.SetReadLimit(4 << 20)
	c := &client{ws: ws, frames: make(chan string, buffer), quit: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() {
		close(c.quit)
		_ = ws.CloseNow()
		<-c.done
	})
	return c
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

func (c *client) read() {
	defer close(c.done)
	defer close(c.frames)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		select {
		case c.frames <- string(data):
		case <-c.quit:
			c.err = errors.New("test over")
			return
		}
	}
}

// sync returns once the server has acted on every frame sent before: it
// reads frames in order and answers the ping only after the earlier ones.
func (c *client) sync(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func (c *client) write(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// send sends a subscribe or unsubscribe frame and waits until it is applied.
func (c *client) send(t *testing.T, action string, channels ...string) {
	t.Helper()
	for _, ch := range channels {
		c.write(t, map[string]string{"action": action, "channel": ch})
	}
	c.sync(t)
}

// expect fails t unless the next frame is want.
func (c *client) expect(t *testing.T, want string) {
	t.Helper()
	if got := c.next(t); got != want {
		t.Errorf("frame = %s, want %s", got, want)
	}
}

func (c *client) next(t *testing.T) string {
	t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			<-c.done
			t.Fatalf("connection closed: %v", c.err)
		}
		return f
	case <-time.After(timeout):
		t.Fatal("no frame arrived")
		return ""
	}
}

// closed reads until the connection ends and returns how many frames were
// left and the error that ended it.
func (c *client) closed(t *testing.T) (int, error) {
	t.Helper()
	deadline := time.After(timeout)
	n := 0
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				<-c.done
				return n, c.err
			}
			n++
		case <-deadline:
			t.Fatal("connection did not close")
		}
	}
}

func broadcast(channel string, message any) signals.Signal {
	return signals.Signal{Recipients: signals.Broadcast(), Channel: channel, Message: message}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	hub := signals.NewHub(signals.HubConfig{})
	t.Cleanup(hub.Close)
	tests := []struct {
		name string
		cfg  socket.Config
	}{
		{"no hub", socket.Config{Authenticator: authenticate}},
		{"no authenticator", socket.Config{Hub: hub}},
		{"negative ping interval", socket.Config{Hub: hub, Authenticator: authenticate, PingInterval: -time.Second}},
		{"negative write timeout", socket.Config{Hub: hub, Authenticator: authenticate, WriteTimeout: -time.Second}},
		{"negative max channels", socket.Config{Hub: hub, Authenticator: authenticate, MaxChannels: -1}},
	}
	for _, tt := range tests {
		if _, err := socket.New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	if _, err := socket.New(socket.Config{Hub: hub, Authenticator: authenticate}); err != nil {
		t.Errorf("New with the required fields: %v", err)
	}
}

// GET /health answers {"status":"ok"} without authentication; other
// methods get 405, other paths 404.
func TestHealth(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})

	resp, err := e.srv.Client().Get(e.srv.URL + "/api/signals/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}` {
		t.Errorf("health = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}

	resp, err = e.srv.Client().Post(e.srv.URL+"/api/signals/health", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST health = %d, want 405", resp.StatusCode)
	}

	resp, err = e.srv.Client().Get(e.srv.URL + "/api/signals/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path = %d, want 404", resp.StatusCode)
	}
}

// A broadcast reaches a subscribed connection as its exact frame, and
// nothing more arrives after the client unsubscribes.
func TestBroadcastThenUnsubscribe(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	c := e.subscribed(t, "john-token", "test", "sentinel")

	e.publish(t, broadcast("test", map[string]string{"msg": "test"}))
	c.expect(t, `{"channel":"test","message":{"msg":"test"}}`)

	c.send(t, "unsubscribe", "test")
	e.publish(t, broadcast("test", map[string]string{"msg": "again"}))
	e.sentinel(t, c)
}

// A signal to a user reaches that user's connections subscribed to the
// channel, and neither another user's nor that user's unsubscribed ones.
func TestUserSignalReachesOnlySubscribedOwner(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	a := e.subscribed(t, "jane-token", "test", "sentinel")
	b := e.subscribed(t, "john-token", "test", "sentinel")
	c := e.subscribed(t, "john-token", "sentinel")

	e.publish(t, signals.Signal{
		Recipients: signals.Recipients{Type: signals.RecipientUser, EntityRefs: []string{john}},
		Channel:    "test",
		Message:    map[string]string{"msg": "for john"},
	})
	b.expect(t, `{"channel":"test","message":{"msg":"for john"}}`)
	e.sentinel(t, a, b, c)
}

// A signal to a group reaches the connections of its members, every tab
// of each, and no one else.
func TestGroupSignal(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	tab1, tab2 := e.dial(t, "john-token"), e.dial(t, "john-token")
	other := e.dial(t, "jane-token")
	for _, c := range []*client{tab1, tab2, other} {
		c.send(t, "subscribe", "test", "sentinel")
	}

	e.publish(t, signals.Signal{Recipients: signals.Entity(team), Channel: "test", Message: map[string]string{"msg": "team"}})
	for _, c := range []*client{tab1, tab2} {
		c.expect(t, `{"channel":"test","message":{"msg":"team"}}`)
	}
	e.sentinel(t, tab1, tab2, other)
}

// Signals without a channel or a message are refused by Publish and reach
// no connection.
func TestInvalidSignalIsNotDelivered(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	c := e.subscribed(t, "john-token", "test", "sentinel")

	for _, s := range []signals.Signal{
		{Recipients: signals.Broadcast(), Message: map[string]string{"msg": "no channel"}},
		{Recipients: signals.Broadcast(), Channel: "test"},
	} {
		if err := e.hub.Publish(context.Background(), s); !errors.Is(err, signals.ErrInvalidSignal) {
			t.Errorf("Publish(%+v) = %v, want ErrInvalidSignal", s, err)
		}
	}
	e.sentinel(t, c)
}

// A connection the client closes leaves the Hub; the others still
// receive.
func TestClosedConnectionIsRemoved(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	a := e.subscribed(t, "john-token", "test")
	b := e.subscribed(t, "jane-token", "test")

	if err := a.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if reason := e.waitEnded(t); websocket.CloseStatus(reason) != websocket.StatusNormalClosure {
		t.Errorf("ended with %v, want the client's 1000", reason)
	}
	if n := e.hub.Len(); n != 1 {
		t.Errorf("hub has %d subscribers, want 1", n)
	}
	e.publish(t, broadcast("test", map[string]int{"n": 2}))
	b.expect(t, `{"channel":"test","message":{"n":2}}`)
}

// A connection that errs (dropped, or sends an oversized frame) is
// terminated and leaves the Hub.
func TestConnectionErrorTerminates(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	keep := e.subscribed(t, "jane-token", "test")

	t.Run("abrupt disconnect", func(t *testing.T) {
		c := e.subscribed(t, "john-token", "test")
		_ = c.ws.CloseNow()
		if reason := e.waitEnded(t); reason == nil {
			t.Error("ended without a reason")
		}
		if n := e.hub.Len(); n != 1 {
			t.Errorf("hub has %d subscribers, want 1", n)
		}
	})
	t.Run("oversized frame", func(t *testing.T) {
		c := e.dial(t, "john-token")
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = c.ws.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","channel":"`+strings.Repeat("x", 64<<10)+`"}`))
		if _, err := c.closed(t); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Errorf("client saw %v, want 1009", err)
		}
		e.waitEnded(t)
		if n := e.hub.Len(); n != 1 {
			t.Errorf("hub has %d subscribers, want 1", n)
		}
	})
	e.publish(t, broadcast("test", map[string]int{"n": 1}))
	keep.next(t)
}

// Unknown actions, binary frames, invalid JSON and frames without a channel
// are ignored; the connection carries on.
func TestIgnoredClientFrames(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	c := e.dial(t, "john-token")

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, f := range []struct {
		typ  websocket.MessageType
		data string
	}{
		{websocket.MessageBinary, `{"action":"subscribe","channel":"test"}`},
		{websocket.MessageText, `not json`},
		{websocket.MessageText, `{"action":"subscribe","channel":7}`},
		{websocket.MessageText, `{"action":"publish","channel":"test"}`},
		{websocket.MessageText, `{"action":"subscribe"}`},
	} {
		if err := c.ws.Write(ctx, f.typ, []byte(f.data)); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	c.send(t, "subscribe", "sentinel")
	e.publish(t, broadcast("test", map[string]int{"n": 1}))
	e.sentinel(t, c)
}

func TestMaxChannels(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{MaxChannels: 2}, signals.HubConfig{})
	c := e.subscribed(t, "john-token", "sentinel", "a", "b", "a")
	e.publish(t, broadcast("b", map[string]int{"n": 1}))
	e.sentinel(t, c)

	c.send(t, "unsubscribe", "a")
	c.send(t, "subscribe", "b")
	e.publish(t, broadcast("b", map[string]int{"n": 2}))
	c.expect(t, `{"channel":"b","message":{"n":2}}`)
}

// A handshake that does not authenticate as a user gets an empty 401, 403
// or 500 response that closes the connection, not a failed upgrade.
func TestRefusedHandshakes(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "Sec-WebSocket-Protocol: nonsense\r\n", http.StatusUnauthorized},
		{"unknown bearer", "Authorization: Bearer nonsense\r\n", http.StatusUnauthorized},
		{"not bearer", "Authorization: Basic am9objpwdw==\r\n", http.StatusUnauthorized},
		{"service token", "Sec-WebSocket-Protocol: service-token\r\n", http.StatusForbidden},
		{"service bearer", "Authorization: Bearer service-token\r\n", http.StatusForbidden},
		{"forbidden token", "Sec-WebSocket-Protocol: banned-token\r\n", http.StatusForbidden},
		{"provider down", "Sec-WebSocket-Protocol: broken-token\r\n", http.StatusInternalServerError},
		{"principal without user", "Sec-WebSocket-Protocol: nobody-token\r\n", http.StatusInternalServerError},
		{"principal of unknown kind", "Sec-WebSocket-Protocol: robot-token\r\n", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br := rawHandshake(t, e, tt.header)
			// Reading to EOF also proves the server closes the connection.
			raw, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
			if err != nil {
				t.Fatalf("ReadResponse: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			head := strings.ToLower(string(raw))
			for _, line := range []string{"\r\nconnection: close\r\n", "\r\ncontent-length: 0\r\n"} {
				if !strings.Contains(head, line) {
					t.Errorf("response lacks %q:\n%s", line, raw)
				}
			}
			if len(body) != 0 || resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Errorf("refusal has a body or upgrade headers:\n%s", raw)
			}
		})
	}
}

// rawHandshake sends a WebSocket handshake with extra header lines and
// returns the connection to read the response from.
func rawHandshake(t *testing.T, e *env, header string) *bufio.Reader {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(timeout))
	req := "GET /api/signals HTTP/1.1\r\n" +
		"Host: " + e.srv.Listener.Addr().String() + "\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + header + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return bufio.NewReader(conn)
}

// The sub-protocol value that authenticated is echoed as the selected
// protocol, whatever its position among those offered.
func TestSubprotocolTokenIsEchoed(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.wsURL()+"/", &websocket.DialOptions{Subprotocols: []string{"not-a-token", "john-token"}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer ws.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("status = %d, want 101", resp.StatusCode)
	}
	if got := ws.Subprotocol(); got != "john-token" {
		t.Errorf("selected protocol = %q, want the token", got)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	c := e.dialWith(t, 64, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer jane-token"}}})
	if got := c.ws.Subprotocol(); got != "" {
		t.Errorf("selected protocol = %q, want none", got)
	}
	c.send(t, "subscribe", "test")
	e.publish(t, signals.Signal{Recipients: signals.Entity(jane), Channel: "test", Message: map[string]int{"n": 1}})
	c.expect(t, `{"channel":"test","message":{"n":1}}`)
}

func TestOriginPatterns(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{OriginPatterns: []string{"frontend.example:3000"}}, signals.HubConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	_, resp, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{
		Subprotocols: []string{"john-token"},
		HTTPHeader:   http.Header{"Origin": {"http://evil.example"}},
	})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: err %v, %s; want 403", err, statusOf(resp))
	}
	e.dialWith(t, 1, &websocket.DialOptions{
		Subprotocols: []string{"john-token"},
		HTTPHeader:   http.Header{"Origin": {"http://frontend.example:3000"}},
	})
}

// A peer that answers pings stays; one that does not is dropped.
func TestPing(t *testing.T) {
	t.Parallel()
	// A pong must come back within the interval: long enough for a
	// loaded machine running the race detector.
	cfg := socket.Config{PingInterval: 250 * time.Millisecond}

	t.Run("answered", func(t *testing.T) {
		t.Parallel()
		e := setup(t, cfg, signals.HubConfig{})
		pings := make(chan struct{}, 16)
		c := e.dialWith(t, 64, &websocket.DialOptions{
			Subprotocols: []string{"john-token"},
			OnPingReceived: func(context.Context, []byte) bool {
				select {
				case pings <- struct{}{}:
				default:
				}
				return true
			},
		})
		c.send(t, "subscribe", "test")
		for range 3 {
			select {
			case <-pings:
			case <-time.After(timeout):
				t.Fatal("no ping arrived")
			}
		}
		e.publish(t, signals.Signal{Recipients: signals.Entity(john), Channel: "test", Message: map[string]int{"n": 1}})
		c.next(t)
		if n := e.hub.Len(); n != 1 {
			t.Errorf("hub has %d subscribers, want 1", n)
		}
	})

	t.Run("unanswered", func(t *testing.T) {
		t.Parallel()
		e := setup(t, cfg, signals.HubConfig{})
		pinged := make(chan struct{}, 1)
		c := e.dialWith(t, 64, &websocket.DialOptions{
			Subprotocols: []string{"jane-token"},
			OnPingReceived: func(context.Context, []byte) bool {
				select {
				case pinged <- struct{}{}:
				default:
				}
				return false // never pong
			},
		})
		_, err := c.closed(t)
		if websocket.CloseStatus(err) != -1 {
			t.Errorf("client saw %v, want the connection dropped without a close frame", err)
		}
		select {
		case <-pinged:
		default:
			t.Error("dropped without a ping")
		}
		if reason := e.waitEnded(t); !errors.Is(reason, context.DeadlineExceeded) {
			t.Errorf("ended with %v, want the pong wait to have expired", reason)
		}
		if n := e.hub.Len(); n != 0 {
			t.Errorf("hub has %d subscribers, want 0", n)
		}
	})
}

// smallBufferClient's connections have a small, fixed TCP receive buffer,
// so a client that stops reading backs the server up quickly.
func smallBufferClient() *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				err = conn.(*net.TCPConn).SetReadBuffer(32 << 10)
			}
			return conn, err
		},
	}}
}

// A connection that stops reading is closed with 1013 once its buffer is
// full; a connection that keeps up receives every signal meanwhile.
func TestSlowConnectionIsClosed(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{WriteTimeout: time.Minute}, signals.HubConfig{BufferSize: 1})
	fast := e.subscribed(t, "john-token", "big")
	slow := e.dialWith(t, 0, &websocket.DialOptions{Subprotocols: []string{"jane-token"}, HTTPClient: smallBufferClient()})
	slow.send(t, "subscribe", "big")

	// Far more than the socket buffers hold. Each publish waits for the
	// fast client's previous frame, so only the slow one falls behind.
	const n = 24
	blob := strings.Repeat("x", 1<<20)
	for i := range n {
		e.publish(t, broadcast("big", map[string]any{"i": i, "blob": blob}))
		if got := fast.next(t); !strings.HasPrefix(got, `{"channel":"big","message":{"blob":"xxx`) ||
			!strings.HasSuffix(got, fmt.Sprintf(`"i":%d}}`, i)) {
			t.Fatalf("fast client: frame %d is %.60s...", i, got)
		}
	}

	got, err := slow.closed(t)
	if got >= n {
		t.Errorf("slow client received all %d frames", got)
	}
	if websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Errorf("slow client saw %v, want 1013", err)
	}
	if reason := e.waitEnded(t); !errors.Is(reason, signals.ErrSlowSubscriber) {
		t.Errorf("ended with %v, want ErrSlowSubscriber", reason)
	}
	e.publish(t, broadcast("big", map[string]int{"i": n}))
	fast.next(t)
}

// A write that the peer does not take within WriteTimeout ends the
// connection, even while the Hub still has room for the peer's signals.
func TestWriteTimeoutEndsConnection(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{WriteTimeout: 100 * time.Millisecond}, signals.HubConfig{BufferSize: 64})
	slow := e.dialWith(t, 0, &websocket.DialOptions{Subprotocols: []string{"jane-token"}, HTTPClient: smallBufferClient()})
	slow.send(t, "subscribe", "big")
	slow.sync(t)

	// Far more than the socket buffers hold, and fewer frames than the
	// Hub buffers: only the write timeout can end the connection.
	blob := strings.Repeat("x", 1<<20)
	for i := range 16 {
		e.publish(t, broadcast("big", map[string]any{"i": i, "blob": blob}))
	}
	if reason := e.waitEnded(t); !errors.Is(reason, context.DeadlineExceeded) {
		t.Errorf("ended with %v, want the write timeout", reason)
	}
	if n := e.hub.Len(); n != 0 {
		t.Errorf("hub has %d subscribers, want 0", n)
	}
}

// Shutdown closes every connection with 1012 (service restart) and
// refuses new ones with 503.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	a, b := e.dial(t, "john-token"), e.dial(t, "jane-token")
	a.sync(t)
	b.sync(t)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range []*client{a, b} {
		if _, err := c.closed(t); websocket.CloseStatus(err) != websocket.StatusServiceRestart {
			t.Errorf("client saw %v, want 1012", err)
		}
	}
	if n := e.hub.Len(); n != 0 {
		t.Errorf("hub has %d subscribers, want 0", n)
	}
	_, resp, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{Subprotocols: []string{"john-token"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Shutdown: err %v, %s; want 503", err, statusOf(resp))
	}
}

func TestCloseDropsConnections(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	c := e.dial(t, "john-token")
	c.sync(t)
	if err := e.h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.closed(t); websocket.CloseStatus(err) != -1 {
		t.Errorf("client saw %v, want an abnormal closure", err)
	}
	if n := e.hub.Len(); n != 0 {
		t.Errorf("hub has %d subscribers, want 0", n)
	}
}

func TestHubCloseEndsConnections(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	c := e.dial(t, "john-token")
	c.sync(t)
	e.hub.Close()
	if _, err := c.closed(t); websocket.CloseStatus(err) != websocket.StatusServiceRestart {
		t.Errorf("client saw %v, want 1012", err)
	}
	if reason := e.waitEnded(t); !errors.Is(reason, signals.ErrHubClosed) {
		t.Errorf("ended with %v, want ErrHubClosed", reason)
	}
}

// A client may send its first frames in the same write as the handshake,
// before the 101 arrives: the bytes net/http has already read when the
// connection is hijacked must reach the WebSocket reader. And frames of
// every size must arrive whole through the connection's small write
// buffer.
func TestPipelinedFramesAndLargeFrames(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(timeout))

	// A client frame is masked; a zero key leaves the payload as it is.
	clientFrame := func(opcode byte, payload string) string {
		return string([]byte{0x80 | opcode, 0x80 | byte(len(payload)), 0, 0, 0, 0}) + payload
	}
	req := "GET /api/signals HTTP/1.1\r\n" +
		"Host: " + e.srv.Listener.Addr().String() + "\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer john-token\r\n\r\n" +
		clientFrame(0x1, `{"action":"subscribe","channel":"big"}`) +
		clientFrame(0x9, "") // the pong comes once the subscribe is applied
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status = %d, want 101", resp.StatusCode)
	}
	readFrame := func() (byte, string) {
		t.Helper()
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("read a frame header: %v", err)
		}
		n := int(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			_, err = io.ReadFull(br, ext[:])
			n = int(ext[0])<<8 | int(ext[1])
		case 127:
			var ext [8]byte
			_, err = io.ReadFull(br, ext[:])
			n = 0
			for _, b := range ext {
				n = n<<8 | int(b)
			}
		}
		payload := make([]byte, n)
		if _, err2 := io.ReadFull(br, payload); err != nil || err2 != nil {
			t.Fatalf("read a frame: %v %v", err, err2)
		}
		return hdr[0], string(payload)
	}
	if op, _ := readFrame(); op != 0x8a {
		t.Fatalf("first frame has opcode %#x, want a final pong (0x8a)", op)
	}
	for _, size := range []int{10, 120, 200, 5000, 70_000} {
		pad := strings.Repeat("p", size)
		e.publish(t, signals.Signal{Recipients: signals.Broadcast(), Channel: "big", Message: map[string]string{"pad": pad}})
		want := `{"channel":"big","message":{"pad":"` + pad + `"}}`
		if op, got := readFrame(); op != 0x81 || got != want {
			t.Fatalf("pad %d: got a frame of opcode %#x and %d bytes, want a final text frame of %d", size, op, len(got), len(want))
		}
	}
}
