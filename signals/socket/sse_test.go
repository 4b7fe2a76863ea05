package socket_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/socket"
)

// sseClient reads an event stream in the background, one event (the lines
// up to a blank line) at a time.
type sseClient struct {
	resp   *http.Response
	events chan string
	done   chan struct{}
	err    error // why reading stopped; set before done is closed
}

func (e *env) sseRequest(t *testing.T, token string, channels ...string) *http.Request {
	t.Helper()
	q := url.Values{"channel": channels}
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/signals/events?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// openSSE opens a stream; buffer is how many events the client holds
// before it stops reading.
func (e *env) openSSE(t *testing.T, hc *http.Client, buffer int, token string, channels ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := hc.Do(e.sseRequest(t, token, channels...).WithContext(ctx))
	if err != nil {
		cancel()
		t.Fatalf("GET events: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET events: %s", resp.Status)
	}
	c := &sseClient{resp: resp, events: make(chan string, buffer), done: make(chan struct{})}
	go c.read(ctx)
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-c.done
	})
	return c
}

func (c *sseClient) read(ctx context.Context) {
	defer close(c.done)
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(nil, 4<<20)
	var lines []string
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
			continue
		}
		select {
		case c.events <- strings.Join(lines, "\n"):
		case <-ctx.Done():
			c.err = ctx.Err()
			return
		}
		lines = nil
	}
	c.err = sc.Err()
	if c.err == nil {
		c.err = io.EOF
	}
}

// next returns the next event, skipping keep-alive comments when data is set.
func (c *sseClient) next(t *testing.T, data bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				<-c.done
				t.Fatalf("stream ended: %v", c.err)
			}
			if data && strings.HasPrefix(ev, ":") {
				continue
			}
			return ev
		case <-deadline:
			t.Fatal("no event arrived")
			return ""
		}
	}
}

// ended reads until the stream ends and returns how many data events were
// left and why reading stopped.
func (c *sseClient) ended(t *testing.T) (int, error) {
	t.Helper()
	deadline := time.After(timeout)
	n := 0
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				<-c.done
				return n, c.err
			}
			if strings.HasPrefix(ev, "data: ") {
				n++
			}
		case <-deadline:
			t.Fatal("stream did not end")
		}
	}
}

func TestSSEDelivers(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	c := e.openSSE(t, e.srv.Client(), 64, "john-token", "test", "sentinel")

	if ct := c.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := c.resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if got := c.next(t, false); got != "retry: 5000" {
		t.Errorf("first event = %q, want the retry hint", got)
	}

	// Subscribed before the headers went out: no wait needed.
	e.publish(t, signals.Signal{Recipients: signals.Entity(team), Channel: "test", Message: map[string]string{"msg": "team"}})
	e.publish(t, signals.Signal{Recipients: signals.Entity(jane), Channel: "test", Message: map[string]string{"msg": "jane"}})
	e.publish(t, broadcast("elsewhere", map[string]string{"msg": "other channel"}))
	e.publish(t, broadcast("sentinel", map[string]bool{"end": true}))

	if got, want := c.next(t, true), `data: {"channel":"test","message":{"msg":"team"}}`; got != want {
		t.Errorf("event = %q, want %q", got, want)
	}
	if got, want := c.next(t, true), "data: "+sentinelFrame; got != want {
		t.Errorf("event = %q, want the sentinel", got)
	}
}

func TestSSEKeepAlive(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{PingInterval: 20 * time.Millisecond}, signals.HubConfig{})
	c := e.openSSE(t, e.srv.Client(), 64, "jane-token", "test")
	c.next(t, false) // retry
	for range 2 {
		if got := c.next(t, false); got != ": keep-alive" {
			t.Errorf("event = %q, want a keep-alive comment", got)
		}
	}
}

func TestSSERefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{MaxChannels: 2}, signals.HubConfig{})
	tests := []struct {
		name     string
		req      *http.Request
		want     int
		wantBody bool
	}{
		{"no token", e.sseRequest(t, "", "test"), http.StatusUnauthorized, false},
		{"unknown token", e.sseRequest(t, "nonsense", "test"), http.StatusUnauthorized, false},
		{"service token", e.sseRequest(t, "service-token", "test"), http.StatusForbidden, false},
		{"token as sub-protocol", withHeader(e.sseRequest(t, "", "test"), "Sec-WebSocket-Protocol", "john-token"), http.StatusUnauthorized, false},
		{"no channel", e.sseRequest(t, "john-token"), http.StatusBadRequest, true},
		{"empty channel", e.sseRequest(t, "john-token", "test", ""), http.StatusBadRequest, true},
		{"too many channels", e.sseRequest(t, "john-token", "a", "b", "c"), http.StatusBadRequest, true},
		{"POST", withMethod(e.sseRequest(t, "john-token", "test"), http.MethodPost), http.StatusMethodNotAllowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := e.srv.Client().Do(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if got := len(body) > 0; got != tt.wantBody {
				t.Errorf("body %q, want a body: %v", body, tt.wantBody)
			}
		})
	}
}

func withHeader(r *http.Request, key, value string) *http.Request {
	r.Header.Set(key, value)
	return r
}

func withMethod(r *http.Request, method string) *http.Request {
	r.Method = method
	return r
}

// Shutdown ends the streams, and a WebSocket connection with them.
func TestSSEShutdown(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	s := e.openSSE(t, e.srv.Client(), 64, "john-token", "test")
	ws := e.dial(t, "jane-token")
	ws.sync(t)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := s.ended(t); !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %v, want EOF", err)
	}
	ws.closed(t)
	if n := e.hub.Len(); n != 0 {
		t.Errorf("hub has %d subscribers, want 0", n)
	}
	resp, err := e.srv.Client().Do(e.sseRequest(t, "john-token", "test"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stream after Shutdown: %d, want 503", resp.StatusCode)
	}
}

// A stream that stops reading is ended once its buffer is full; the client
// gets what was in flight and then the end of the stream.
func TestSSESlowStreamIsEnded(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{WriteTimeout: time.Minute}, signals.HubConfig{BufferSize: 1})
	fast := e.openSSE(t, e.srv.Client(), 64, "john-token", "big")
	fast.next(t, false)
	slow := e.openSSE(t, smallBufferClient(), 0, "jane-token", "big")

	const n = 24
	blob := strings.Repeat("x", 1<<20)
	for i := range n {
		e.publish(t, broadcast("big", map[string]any{"i": i, "blob": blob}))
		fast.next(t, true)
	}

	got, err := slow.ended(t)
	if got >= n {
		t.Errorf("slow stream received all %d events", got)
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("slow stream ended with %v, want EOF", err)
	}
	if reason := e.waitEnded(t); !errors.Is(reason, signals.ErrSlowSubscriber) {
		t.Errorf("ended with %v, want ErrSlowSubscriber", reason)
	}
}

// A client that goes away releases its subscriber.
func TestSSEClientLeaves(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := e.srv.Client().Do(e.sseRequest(t, "john-token", "test").WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.hub.Len(); n != 1 {
		t.Errorf("hub has %d subscribers, want 1", n)
	}
	cancel()
	resp.Body.Close()
	e.waitEnded(t)
	if n := e.hub.Len(); n != 0 {
		t.Errorf("hub has %d subscribers, want 0", n)
	}
}
