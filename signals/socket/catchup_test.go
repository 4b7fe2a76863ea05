package socket_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/socket"
)

// catchUpCall is one call of a test CatchUpFunc.
type catchUpCall struct {
	user, channel string
	since         time.Time
}

// recorder is a CatchUpFunc that records its calls and answers with
// answer (nil: no signals).
type recorder struct {
	calls  chan catchUpCall
	answer func(ctx context.Context, c catchUpCall) ([]signals.Signal, error)
}

func newRecorder(answer func(ctx context.Context, c catchUpCall) ([]signals.Signal, error)) *recorder {
	return &recorder{calls: make(chan catchUpCall, 64), answer: answer}
}

func (r *recorder) catchUp(ctx context.Context, user, channel string, since time.Time) ([]signals.Signal, error) {
	c := catchUpCall{user, channel, since}
	r.calls <- c
	if r.answer == nil {
		return nil, nil
	}
	return r.answer(ctx, c)
}

func (r *recorder) next(t *testing.T) catchUpCall {
	t.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(timeout):
		t.Fatal("CatchUp was not called")
		return catchUpCall{}
	}
}

// none checks that CatchUp has not been called (or called again).
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-r.calls:
		t.Errorf("unexpected CatchUp call %+v", c)
	default:
	}
}

// dialSince connects as john with ?since=since ("" for none).
func (e *env) dialSince(t *testing.T, since string) *client {
	t.Helper()
	u := e.wsURL()
	if since != "" {
		u += "?since=" + url.QueryEscape(since)
	}
	return e.dialURL(t, u, 64, &websocket.DialOptions{Subprotocols: []string{"john-token"}})
}

// cursorOf splits a live frame into the frame without its cursor and the
// cursor's time, failing unless the cursor is the last member.
func cursorOf(t *testing.T, frame string) (string, time.Time) {
	t.Helper()
	i := strings.LastIndex(frame, `,"cursor":"`)
	if i < 0 || !strings.HasSuffix(frame, `"}`) {
		t.Fatalf("frame %s has no cursor at its end", frame)
	}
	ms, err := strconv.ParseInt(frame[i+len(`,"cursor":"`):len(frame)-2], 10, 64)
	if err != nil {
		t.Fatalf("frame %s: cursor is not milliseconds: %v", frame, err)
	}
	return frame[:i] + "}", time.UnixMilli(ms)
}

// startCursor reads a connection's first frame, {"cursor":"..."}.
func startCursor(t *testing.T, c *client) time.Time {
	t.Helper()
	var f map[string]string
	raw := c.next(t)
	if err := json.Unmarshal([]byte(raw), &f); err != nil || len(f) != 1 || f["cursor"] == "" {
		t.Fatalf("first frame = %s, want {\"cursor\":\"...\"}", raw)
	}
	ms, err := strconv.ParseInt(f["cursor"], 10, 64)
	if err != nil {
		t.Fatalf("cursor %q: %v", f["cursor"], err)
	}
	return time.UnixMilli(ms)
}

// within checks that got, a cursor, lies in [before, after] to the
// millisecond.
func within(t *testing.T, what string, got, before, after time.Time) {
	t.Helper()
	if got.UnixMilli() < before.UnixMilli() || got.UnixMilli() > after.UnixMilli() {
		t.Errorf("%s cursor %v is not within [%v, %v]", what, got, before, after)
	}
}

func TestCatchUpConfigValidation(t *testing.T) {
	t.Parallel()
	hub := signals.NewHub(signals.HubConfig{})
	t.Cleanup(hub.Close)
	for _, cfg := range []socket.Config{
		{Hub: hub, Authenticator: authenticate, CatchUpWindow: -time.Second},
		{Hub: hub, Authenticator: authenticate, CatchUpTimeout: -time.Second},
	} {
		if _, err := socket.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestCatchUpOffSendsNoCursors(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{}, signals.HubConfig{})
	// A cursor is ignored, even a malformed one, when catch-up is off.
	c := e.dialSince(t, "not-a-cursor")
	c.send(t, "subscribe", "test")
	e.publish(t, broadcast("test", map[string]int{"n": 1}))
	c.expect(t, `{"channel":"test","message":{"n":1}}`)
}

func TestCatchUpCursors(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	e := setup(t, socket.Config{CatchUpFunc: rec.catchUp}, signals.HubConfig{})

	before := time.Now()
	c := e.dial(t, "john-token")
	within(t, "first", startCursor(t, c), before, time.Now())

	c.send(t, "subscribe", "test")
	before = time.Now()
	e.publish(t, broadcast("test", map[string]string{"msg": "<a&b>"}))
	after := time.Now()
	frame, at := cursorOf(t, c.next(t))
	if want := `{"channel":"test","message":{"msg":"<a&b>"}}`; frame != want {
		t.Errorf("frame without cursor = %s, want %s", frame, want)
	}
	within(t, "live", at, before, after)
	rec.none(t) // no since, nothing to catch up
}

func TestCatchUpReplay(t *testing.T) {
	t.Parallel()
	const window = 30 * time.Second
	rec := newRecorder(func(_ context.Context, c catchUpCall) ([]signals.Signal, error) {
		if c.channel != "notifications" {
			return nil, nil
		}
		return []signals.Signal{
			{Recipients: signals.Entity(john), Channel: "notifications", Message: map[string]int{"n": 1}},
			{Recipients: signals.Entity(team), Channel: "notifications", Message: map[string]int{"n": 2}},
			{Recipients: signals.Entity(jane), Channel: "notifications", Message: map[string]int{"jane": 1}},
			{Recipients: signals.Broadcast(), Channel: "other", Message: map[string]int{"other": 1}},
			{Recipients: signals.Broadcast(), Channel: "notifications", Message: []int{1}},
			{Recipients: signals.Broadcast(), Channel: "notifications", Message: map[string]int{"n": 3}},
		}, nil
	})
	e := setup(t, socket.Config{CatchUpFunc: rec.catchUp, CatchUpWindow: window}, signals.HubConfig{})

	cursor := time.UnixMilli(1_700_000_000_123)
	c := e.dialSince(t, "1700000000123")
	if got := startCursor(t, c); !got.Equal(cursor) {
		t.Errorf("first frame cursor = %v, want the client's %v", got, cursor)
	}
	c.send(t, "subscribe", "notifications", "sentinel")
	for _, want := range []catchUpCall{{john, "notifications", cursor.Add(-window)}, {john, "sentinel", cursor.Add(-window)}} {
		if got := rec.next(t); got.user != want.user || got.channel != want.channel || !got.since.Equal(want.since) {
			t.Errorf("CatchUp(%+v), want %+v", got, want)
		}
	}
	// Replayed frames carry no cursor; what is not for john, not on the
	// channel or not an object is dropped.
	for _, want := range []string{
		`{"channel":"notifications","message":{"n":1}}`,
		`{"channel":"notifications","message":{"n":2}}`,
		`{"channel":"notifications","message":{"n":3}}`,
	} {
		if got := c.next(t); got != want {
			t.Errorf("replayed frame = %s, want %s", got, want)
		}
	}
	e.publish(t, broadcast("notifications", map[string]string{"live": "yes"}))
	if frame, _ := cursorOf(t, c.next(t)); frame != `{"channel":"notifications","message":{"live":"yes"}}` {
		t.Errorf("live frame = %s", frame)
	}

	// A channel is caught up once per connection.
	c.send(t, "unsubscribe", "notifications")
	c.send(t, "subscribe", "notifications")
	e.publish(t, broadcast("sentinel", map[string]bool{"end": true}))
	if frame, _ := cursorOf(t, c.next(t)); frame != sentinelFrame {
		t.Errorf("frame = %s, want the sentinel", frame)
	}
	rec.none(t)
}

// TestCatchUpLeavesNoGap publishes a change while CatchUp runs, as when a
// notification commits between the subscribe and the query: the live
// subscription already exists, so it arrives, after the replay.
func TestCatchUpLeavesNoGap(t *testing.T) {
	t.Parallel()
	var e *env
	rec := newRecorder(func(_ context.Context, c catchUpCall) ([]signals.Signal, error) {
		if err := e.hub.Publish(context.Background(), broadcast(c.channel, map[string]string{"live": "during"})); err != nil {
			return nil, err
		}
		return []signals.Signal{broadcast(c.channel, map[string]string{"replayed": "before"})}, nil
	})
	e = setup(t, socket.Config{CatchUpFunc: rec.catchUp}, signals.HubConfig{})
	c := e.dialSince(t, "2024-01-02T03:04:05.5Z")
	if got, want := startCursor(t, c), time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC); !got.Equal(want) {
		t.Errorf("first frame cursor = %v, want %v (RFC 3339 accepted)", got, want)
	}
	c.send(t, "subscribe", "notifications")
	rec.next(t)
	c.expect(t, `{"channel":"notifications","message":{"replayed":"before"}}`)
	if frame, _ := cursorOf(t, c.next(t)); frame != `{"channel":"notifications","message":{"live":"during"}}` {
		t.Errorf("second = %s, want the live signal", frame)
	}
}

func TestCatchUpFailureClosesTheConnection(t *testing.T) {
	t.Parallel()
	rec := newRecorder(func(context.Context, catchUpCall) ([]signals.Signal, error) {
		return nil, errors.New("database down")
	})
	e := setup(t, socket.Config{CatchUpFunc: rec.catchUp}, signals.HubConfig{})
	c := e.dialSince(t, "1700000000000")
	startCursor(t, c)
	c.write(t, map[string]string{"action": "subscribe", "channel": "notifications"})
	if _, err := c.closed(t); websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Errorf("closed with %v, want 1011 so the client retries from its cursor", err)
	}
	e.waitEnded(t)
}

func TestCatchUpRefusesBadCursors(t *testing.T) {
	t.Parallel()
	e := setup(t, socket.Config{CatchUpFunc: newRecorder(nil).catchUp}, signals.HubConfig{})
	for _, since := range []string{"yesterday", "-5", "1.5"} {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, resp, err := websocket.Dial(ctx, e.wsURL()+"?since="+url.QueryEscape(since),
			&websocket.DialOptions{Subprotocols: []string{"john-token"}})
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("since=%s: %v (%s), want 400", since, err, statusOf(resp))
		}
	}
}

func TestCatchUpShutdownInterruptsIt(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	cancelled := make(chan error, 1)
	rec := newRecorder(func(ctx context.Context, _ catchUpCall) ([]signals.Signal, error) {
		close(entered)
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	})
	e := setup(t, socket.Config{CatchUpFunc: rec.catchUp}, signals.HubConfig{})
	c := e.dialSince(t, "1700000000000")
	c.send(t, "subscribe", "notifications")
	select {
	case <-entered:
	case <-time.After(timeout):
		t.Fatal("CatchUp was not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("CatchUp's ctx ended with %v, want Canceled", err)
	}
	if n, err := c.closed(t); websocket.CloseStatus(err) != websocket.StatusServiceRestart {
		t.Errorf("closed with %v after %d frames, want 1012", err, n)
	}
}

// openSSEReq opens the stream req asks for and returns its client, or the
// response when it is not 200.
func (e *env) openSSEReq(t *testing.T, req *http.Request) (*sseClient, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := e.srv.Client().Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		t.Fatalf("GET events: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp
	}
	c := &sseClient{resp: resp, events: make(chan string, 64), done: make(chan struct{})}
	go c.read(ctx)
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-c.done
	})
	return c, resp
}

func TestSSECatchUp(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Second
	rec := newRecorder(func(_ context.Context, c catchUpCall) ([]signals.Signal, error) {
		return []signals.Signal{broadcast(c.channel, map[string]string{"replayed": c.channel})}, nil
	})
	e := setup(t, socket.Config{CatchUpFunc: rec.catchUp, CatchUpWindow: window}, signals.HubConfig{})

	// EventSource reconnects with Last-Event-ID.
	req := withHeader(e.sseRequest(t, "john-token", "notifications", "catalog", "notifications"), "Last-Event-ID", "1700000000000")
	c, resp := e.openSSEReq(t, req)
	if c == nil {
		t.Fatalf("GET events: %s", resp.Status)
	}
	if got, want := c.next(t, true), "retry: 5000\nid: 1700000000000"; got != want {
		t.Errorf("first event = %q, want %q", got, want)
	}
	since := time.UnixMilli(1_700_000_000_000).Add(-window)
	for _, want := range []string{"notifications", "catalog"} { // each channel once
		if got := rec.next(t); got.channel != want || got.user != john || !got.since.Equal(since) {
			t.Errorf("CatchUp(%+v), want %s since %v", got, want, since)
		}
	}
	for _, want := range []string{
		`data: {"channel":"notifications","message":{"replayed":"notifications"}}`,
		`data: {"channel":"catalog","message":{"replayed":"catalog"}}`,
	} {
		if got := c.next(t, true); got != want {
			t.Errorf("replayed event = %q, want %q", got, want)
		}
	}
	before := time.Now()
	e.publish(t, broadcast("catalog", map[string]int{"n": 1}))
	after := time.Now()
	ev := c.next(t, true)
	id, data, ok := strings.Cut(ev, "\n")
	ms, err := strconv.ParseInt(strings.TrimPrefix(id, "id: "), 10, 64)
	if !ok || err != nil || data != `data: {"channel":"catalog","message":{"n":1}}` {
		t.Fatalf("live event = %q, want an id line and the frame", ev)
	}
	within(t, "live", time.UnixMilli(ms), before, after)
	rec.none(t)
}

func TestSSECatchUpCursors(t *testing.T) {
	t.Parallel()
	rec := newRecorder(func(context.Context, catchUpCall) ([]signals.Signal, error) {
		return nil, errors.New("database down")
	})
	e := setup(t, socket.Config{CatchUpFunc: rec.catchUp}, signals.HubConfig{})

	// Without a cursor, the stream starts with one and CatchUp is not asked.
	before := time.Now()
	c, resp := e.openSSEReq(t, e.sseRequest(t, "john-token", "notifications"))
	if c == nil {
		t.Fatalf("GET events: %s", resp.Status)
	}
	first := c.next(t, true)
	ms, err := strconv.ParseInt(strings.TrimPrefix(first, "retry: 5000\nid: "), 10, 64)
	if err != nil {
		t.Fatalf("first event = %q, want a retry and an id", first)
	}
	within(t, "first", time.UnixMilli(ms), before, time.Now())
	rec.none(t)

	// The query parameter wins over the header; a failed catch-up ends
	// the stream, and EventSource retries from the same id.
	req := e.sseRequest(t, "john-token", "notifications")
	req.URL.RawQuery += "&since=1700000000000"
	c, resp = e.openSSEReq(t, withHeader(req, "Last-Event-ID", "garbage"))
	if c == nil {
		t.Fatalf("GET events: %s", resp.Status)
	}
	if got, want := c.next(t, true), "retry: 5000\nid: 1700000000000"; got != want {
		t.Errorf("first event = %q, want %q", got, want)
	}
	rec.next(t)
	if n, err := c.ended(t); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %d more events, %v; want it ended cleanly", n, err)
	}

	for _, since := range []string{"soon", "-1"} {
		req := e.sseRequest(t, "john-token", "notifications")
		req.URL.RawQuery += "&since=" + url.QueryEscape(since)
		if c, resp := e.openSSEReq(t, req); c != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("since=%s: %s, want 400", since, resp.Status)
		}
	}
}
