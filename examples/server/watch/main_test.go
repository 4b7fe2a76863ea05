package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/socket"
	"github.com/heraldhq/herald/store"
)

// TestWatch runs the client against a scripted server: it must offer the
// token as sub-protocol, subscribe, print each frame on its own line, and
// close normally when its context ends.
func TestWatch(t *testing.T) {
	t.Parallel()
	closed := make(chan websocket.StatusCode, 1)
	subscribed := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"u1"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if c.Subprotocol() != "u1" {
			closed <- -1
			return
		}
		ctx := context.Background()
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		subscribed <- string(data)
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"channel":"notifications","message":{"action":"new_notification"}}`))
		_, _, err = c.Read(ctx)
		closed <- websocket.CloseStatus(err)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lines{got: make(chan string, 4)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-url", "ws" + strings.TrimPrefix(srv.URL, "http"), "-token", "u1"}, out, &bytes.Buffer{})
	}()
	select {
	case got := <-subscribed:
		if got != `{"action":"subscribe","channel":"notifications"}` {
			t.Errorf("subscribe frame %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no subscribe frame")
	}
	select {
	case line := <-out.got:
		if line != `{"channel":"notifications","message":{"action":"new_notification"}}` {
			t.Errorf("printed %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the frame was not printed")
	}
	cancel()
	select {
	case code := <-closed:
		if code != websocket.StatusNormalClosure {
			t.Errorf("closed with %v, want 1000", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not close")
	}
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestWatchNeedsToken(t *testing.T) {
	t.Parallel()
	if err := run(context.Background(), nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("run without -token succeeded")
	}
}

// TestWatchReconnectsAndCatchesUp restarts a real Herald under the
// client: it reconnects with backoff, resumes from its cursor, and prints
// the notification sent while it was away.
func TestWatchReconnectsAndCatchesUp(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "herald.db")
	first := openHerald(t, db)
	addr := first.serve(t, "127.0.0.1:0")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, log := &lines{got: make(chan string, 1024)}, &lines{got: make(chan string, 1024)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-url", "ws://" + addr + "/api/signals", "-token", "u1", "-retry", "10ms"}, out, log)
	}()
	waitLine(t, log, "connected to ")
	before := first.send(t, "Before the restart")
	waitLine(t, out, before)

	first.stop(t)
	waitLine(t, log, "reconnecting in")
	// The server comes back on the same database and address; what was
	// sent before it listens again is for the client to catch up on.
	second := openHerald(t, db)
	away := second.send(t, "Sent while the client was away")
	second.serve(t, addr)
	waitLine(t, log, "catching up from cursor")
	waitLine(t, out, away)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// A refusal that retrying cannot cure ends the client.
func TestWatchGivesUpOnABadToken(t *testing.T) {
	t.Parallel()
	h := openHerald(t, filepath.Join(t.TempDir(), "herald.db"))
	addr := h.serve(t, "127.0.0.1:0")
	err := run(context.Background(), []string{"-url", "ws://" + addr + "/api/signals", "-token", "guess", "-retry", "10ms"},
		&bytes.Buffer{}, &bytes.Buffer{})
	var refused *refusedError
	if !errors.As(err, &refused) || refused.status != http.StatusUnauthorized {
		t.Errorf("run with a bad token: %v, want the 401 refusal", err)
	}
}

// waitLine waits for a line of l containing want, skipping the others.
func waitLine(t *testing.T, l *lines, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line := <-l.got:
			if strings.Contains(line, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no line containing %q", want)
		}
	}
}

// herald is a Herald server as examples/server wires it, reduced to the
// signals endpoint with catch-up, on a SQLite file.
type herald struct {
	store  *store.Store
	hub    *signals.Hub
	svc    *notifications.Service
	socket *socket.Handler
	srv    *http.Server
	served chan error
}

func openHerald(t *testing.T, db string) *herald {
	t.Helper()
	ctx := context.Background()
	h := &herald{hub: signals.NewHub(signals.HubConfig{})}
	var err error
	if h.store, err = store.OpenSQLite(ctx, db); err != nil {
		t.Fatal(err)
	}
	if h.svc, err = notifications.New(notifications.Config{Store: h.store, Signals: h.hub}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{Users: map[string]auth.StaticUser{"u1": {Ref: "user:default/alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	h.socket, err = socket.New(socket.Config{Hub: h.hub, Authenticator: tokens, CatchUpFunc: h.svc.CatchUp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.stop(t) })
	return h
}

// serve listens on addr and returns the address it got.
func (h *herald) serve(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", h.socket))
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	h.served = make(chan error, 1)
	go func() { h.served <- h.srv.Serve(ln) }()
	return ln.Addr().String()
}

// send sends a notification to the watched user and returns its id.
func (h *herald) send(t *testing.T, title string) string {
	t.Helper()
	sent, err := h.svc.Send(context.Background(), notifications.SendOptions{
		Origin: "external:ci", Recipients: notifications.Entity("user:default/alice"), Payload: notifications.Payload{Title: title},
	})
	if err != nil || len(sent) != 1 {
		t.Fatalf("send: %v, %v", sent, err)
	}
	return sent[0].ID
}

// stop shuts the server down as examples/server does; it is idempotent.
func (h *herald) stop(t *testing.T) {
	t.Helper()
	if h.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if h.srv != nil {
		var sockErr error
		var wg sync.WaitGroup
		wg.Go(func() { sockErr = h.socket.Shutdown(ctx) })
		errs = append(errs, h.srv.Shutdown(ctx))
		wg.Wait()
		if err := <-h.served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		errs = append(errs, sockErr)
	}
	errs = append(errs, h.socket.Close(), h.svc.Close(ctx))
	h.hub.Close()
	errs = append(errs, h.store.Close())
	h.store = nil
	if err := errors.Join(errs...); err != nil {
		t.Errorf("stopping the server: %v", err)
	}
}

// lines hands each printed line to got.
type lines struct {
	mu  sync.Mutex
	buf []byte
	got chan string
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.got <- string(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}
