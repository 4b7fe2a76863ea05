package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/socket"
	"github.com/heraldhq/herald/store"
)

// host is a program that wires one Authenticator into both the REST API
// and the signals endpoints, as the examples do.
type host struct {
	srv *httptest.Server
	hub *signals.Hub
}

func newHost(t *testing.T, authn auth.Authenticator) *host {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hub := signals.NewHub(signals.HubConfig{})
	t.Cleanup(hub.Close)
	svc, err := notifications.New(notifications.Config{Store: st, Signals: hub})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	api, err := rest.New(rest.Config{Service: svc, Authenticator: authn})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := socket.New(socket.Config{Hub: hub, Authenticator: authn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sig.Close() })
	mux := http.NewServeMux()
	mux.Handle("/api/notifications/", http.StripPrefix("/api/notifications", api))
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", sig))
	mux.Handle("/api/signals/", http.StripPrefix("/api/signals", sig))
	h := &host{srv: httptest.NewServer(mux), hub: hub}
	t.Cleanup(h.srv.Close)
	return h
}

// call makes a REST call with token as its bearer token ("" for none) and
// returns the status and the body.
func (h *host) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+"/api/notifications"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// dial opens the signals WebSocket offering token as its sub-protocol, the
// browser's way. It returns the connection, or nil and the HTTP status of
// the refusal.
func (h *host) dial(t *testing.T, token string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/api/signals"
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{token}})
	if err != nil {
		if res == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, res.StatusCode
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, http.StatusSwitchingProtocols
}

// events opens the signals SSE stream with token as its bearer token and
// returns the status.
func (h *host) events(t *testing.T, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/api/signals/events?channel=notifications", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// One StaticTokens serves the REST API and the signals endpoints: a user
// token reads the inbox and receives its signals, a service token sends
// but may not connect, an unknown token is refused by both, with the REST
// error envelope on the REST side.
func TestOneAuthenticatorForEveryEndpoint(t *testing.T) {
	t.Parallel()
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{"ci-token": "external:ci"},
		Users:    map[string]auth.StaticUser{"alice-token": {Ref: "user:alice", OwnershipRefs: []string{"group:team"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, tokens)

	ws, status := h.dial(t, "alice-token")
	if ws == nil {
		t.Fatalf("alice's WebSocket: %d", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","channel":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	// Pongs arrive through reads: read in the background.
	frames := make(chan []byte, 4)
	go func() {
		defer close(frames)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			frames <- data
		}
	}()
	if err := ws.Ping(ctx); err != nil { // the subscribe is applied once the pong arrives
		t.Fatal(err)
	}

	// The service sends to alice; she gets the signal, then reads the
	// notification over REST with the same token.
	status, body := h.call(t, http.MethodPost, "/notifications", "ci-token",
		`{"recipients":{"type":"entity","entityRef":"user:alice"},"payload":{"title":"Build failed"}}`)
	if status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	var frame []byte
	select {
	case frame = <-frames:
	case <-ctx.Done():
		t.Fatal("no signal arrived")
	}
	var f struct {
		Channel string `json:"channel"`
		Message struct {
			Action string `json:"action"`
		} `json:"message"`
	}
	if err := json.Unmarshal(frame, &f); err != nil || f.Channel != "notifications" || f.Message.Action != "new_notification" {
		t.Errorf("frame %s, want a new_notification", frame)
	}
	if status, body := h.call(t, http.MethodGet, "/status", "alice-token", ""); status != http.StatusOK ||
		!strings.HasPrefix(body, `{"unread":1,`) {
		t.Errorf("alice's status: %d %s, want 1 unread", status, body)
	}
	if status := h.events(t, "alice-token"); status != http.StatusOK {
		t.Errorf("alice's event stream: %d, want 200", status)
	}

	// A service token sends but neither reads an inbox nor connects.
	h.refusedEverywhere(t, "ci-token", http.StatusForbidden, "NotAllowedError")
	// A user token reads but does not send.
	if status, body := h.call(t, http.MethodPost, "/notifications", "alice-token",
		`{"recipients":{"type":"broadcast"},"payload":{"title":"t"}}`); status != http.StatusForbidden {
		t.Errorf("user token sending: %d %s, want 403", status, body)
	}
	// An unknown token is refused everywhere.
	h.refusedEverywhere(t, "guess", http.StatusUnauthorized, "AuthenticationError")
}

// refusedEverywhere checks that token is refused with status by the REST
// API (in Backstage's error envelope, with the error named name), the
// WebSocket and the event stream.
func (h *host) refusedEverywhere(t *testing.T, token string, status int, name string) {
	t.Helper()
	if got, body := h.call(t, http.MethodGet, "/status", token, ""); got != status || !strings.Contains(body, `"name":"`+name+`"`) {
		t.Errorf("token %q on /status: %d %s, want %d %s", token, got, body, status, name)
	}
	if _, got := h.dial(t, token); got != status {
		t.Errorf("token %q on the WebSocket: %d, want %d", token, got, status)
	}
	if got := h.events(t, token); got != status {
		t.Errorf("token %q on the event stream: %d, want %d", token, got, status)
	}
}

// A host's own Authenticator gets the bare token from every endpoint:
// without "Bearer " from the REST and event-stream header, as offered from
// the WebSocket's sub-protocol. Its ErrForbidden is 403 on all of them.
func TestAuthenticatorGetsTheBareToken(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	authn := auth.AuthenticatorFunc(func(ctx context.Context, token string) (auth.Principal, error) {
		if ctx == nil {
			return auth.Principal{}, errors.New("no context")
		}
		mu.Lock()
		got = append(got, token)
		mu.Unlock()
		switch token {
		case "jane":
			return auth.Principal{Kind: auth.PrincipalUser, User: "user:default/jane"}, nil
		case "suspended":
			return auth.Principal{}, auth.ErrForbidden
		}
		return auth.Principal{}, auth.ErrUnauthenticated
	})
	h := newHost(t, authn)

	if status, body := h.call(t, http.MethodGet, "/status", "jane", ""); status != http.StatusOK {
		t.Errorf("REST: %d %s", status, body)
	}
	if ws, status := h.dial(t, "jane"); ws == nil {
		t.Errorf("WebSocket: %d", status)
	}
	h.refusedEverywhere(t, "suspended", http.StatusForbidden, "NotAllowedError")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"jane", "jane", "suspended", "suspended", "suspended"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the Authenticator got %q, want %q", got, want)
	}
}
