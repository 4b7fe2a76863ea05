package notifications_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/socket"
	"github.com/heraldhq/herald/store"
)

const (
	alice = "user:default/alice"
	bob   = "user:default/bob"
	// wait bounds every wait; tests never get near it unless broken.
	wait = 15 * time.Second
)

// newCatchUpService returns a Service on a fresh SQLite store publishing
// to pub (nil: none), with clock as Now when set.
func newCatchUpService(t *testing.T, pub signals.Publisher, clock func() time.Time) *notifications.Service {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := notifications.New(notifications.Config{Store: st, Signals: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

func sendOne(t *testing.T, svc *notifications.Service, r notifications.Recipients, title string) notifications.Notification {
	t.Helper()
	ns, err := svc.Sender("plugin:test").Send(t.Context(), r, notifications.Payload{Title: title})
	if err != nil || len(ns) != 1 {
		t.Fatalf("Send %q: %v (%d notifications)", title, err, len(ns))
	}
	return ns[0]
}

// replayed returns the ids and titles of what CatchUp returns, checking
// that each signal is a new_notification for user on the notifications
// channel.
func replayed(t *testing.T, svc *notifications.Service, user string, since time.Time) []notifications.Notification {
	t.Helper()
	sigs, err := svc.CatchUp(t.Context(), user, notifications.SignalChannel, since)
	if err != nil {
		t.Fatalf("CatchUpFunc: %v", err)
	}
	var out []notifications.Notification
	for _, s := range sigs {
		msg, ok := s.Message.(notifications.NotificationMessage)
		if s.Channel != notifications.SignalChannel || s.Recipients.IsBroadcast() ||
			!slices.Equal(s.Recipients.EntityRefs, []string{user}) || !ok ||
			msg.Action != notifications.ActionNewNotification || msg.Notification == nil || msg.NotificationID != msg.Notification.ID {
			t.Fatalf("CatchUp returned %+v, want a new_notification for %s with its notification", s, user)
		}
		out = append(out, *msg.Notification)
	}
	return out
}

func titles(ns []notifications.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Payload.Title
	}
	return out
}

func TestCatchUp(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := notificationstest.NewClock(t0)
	svc := newCatchUpService(t, nil, clock.Now)

	old := sendOne(t, svc, notifications.Entity(alice), "old")
	clock.Set(t0.Add(time.Minute))
	sendOne(t, svc, notifications.Entity(alice), "new")
	sendOne(t, svc, notifications.Entity(bob), "bob's")
	clock.Set(t0.Add(2 * time.Minute))
	sendOne(t, svc, notifications.Broadcast(), "broadcast")
	clock.Set(t0.Add(3 * time.Minute))
	if _, err := svc.Update(t.Context(), alice, notifications.UpdateOptions{IDs: []string{old.ID}, Read: new(true)}); err != nil {
		t.Fatal(err)
	}

	// "old" was read since: it comes back with its read time, oldest first.
	got := replayed(t, svc, alice, t0.Add(30*time.Second))
	if want := []string{"old", "new", "broadcast"}; !slices.Equal(titles(got), want) {
		t.Errorf("alice since 30s = %v, want %v", titles(got), want)
	} else if got[0].Read == nil || !got[0].Read.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("replayed %q has read = %v, want its read time", got[0].Payload.Title, got[0].Read)
	}
	if got := replayed(t, svc, bob, t0.Add(90*time.Second)); !slices.Equal(titles(got), []string{"broadcast"}) {
		t.Errorf("bob since 90s = %v, want only the broadcast", titles(got))
	}
	// The user ref is canonicalised, as everywhere in the inbox.
	if sigs, err := svc.CatchUp(t.Context(), "user:bob", notifications.SignalChannel, t0); err != nil || len(sigs) != 2 ||
		!slices.Equal(sigs[0].Recipients.EntityRefs, []string{bob}) {
		t.Errorf("CatchUp(user:bob) = %+v, %v; want bob's two, addressed to %s", sigs, err, bob)
	}
	if got := replayed(t, svc, alice, t0.Add(4*time.Minute)); len(got) != 0 {
		t.Errorf("alice since 4m = %v, want nothing", titles(got))
	}

	if sigs, err := svc.CatchUp(t.Context(), alice, "catalog", t0); sigs != nil || err != nil {
		t.Errorf("CatchUp of another channel = %v, %v; want nil, nil", sigs, err)
	}
	if _, err := svc.CatchUp(t.Context(), "group:default/team", notifications.SignalChannel, t0); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("CatchUp of a group = %v, want ErrInvalid", err)
	}
}

func TestCatchUpLimit(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := notificationstest.NewClock(t0)
	svc := newCatchUpService(t, nil, clock.Now)
	const sent = notifications.CatchUpLimit + 3
	for i := range sent {
		clock.Set(t0.Add(time.Duration(i) * time.Second))
		sendOne(t, svc, notifications.Entity(alice), fmt.Sprint(i))
	}
	got := titles(replayed(t, svc, alice, t0))
	if len(got) != notifications.CatchUpLimit || got[0] != "3" || got[len(got)-1] != fmt.Sprint(sent-1) {
		t.Errorf("CatchUp returned %d, from %v to %v; want the newest %d, oldest first",
			len(got), got[0], got[len(got)-1], notifications.CatchUpLimit)
	}
}

// liveEnv is a Service whose signals reach browsers through the socket
// Handler, wired as a host does.
type liveEnv struct {
	svc *notifications.Service
	srv *httptest.Server
}

func newLiveEnv(t *testing.T) *liveEnv {
	t.Helper()
	hub := signals.NewHub(signals.HubConfig{})
	t.Cleanup(hub.Close)
	svc := newCatchUpService(t, hub, nil)
	h, err := socket.New(socket.Config{
		Hub: hub,
		Authenticator: auth.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
			if token != "alice-token" {
				return auth.Principal{}, auth.ErrUnauthenticated
			}
			return auth.Principal{Kind: auth.PrincipalUser, User: alice}, nil
		}),
		CatchUpFunc: svc.CatchUp,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", h))
	mux.Handle("/api/signals/", http.StripPrefix("/api/signals", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return &liveEnv{svc: svc, srv: srv}
}

// frame is what the socket sends: a signal with a cursor, or a cursor alone.
type frame struct {
	Channel string `json:"channel"`
	Message struct {
		Action         string                      `json:"action"`
		NotificationID string                      `json:"notification_id"`
		Notification   *notifications.Notification `json:"notification"`
	} `json:"message"`
	Cursor string `json:"cursor"`
}

// browser is a WebSocket client that keeps the last cursor, as a
// reconnecting page would. It reads in the background, so that it answers
// pings and its own Ping works as a barrier.
type browser struct {
	ws     *websocket.Conn
	frames chan []byte // closed when reading stops
	cursor string
}

func (e *liveEnv) connect(t *testing.T, since string) *browser {
	t.Helper()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/signals"
	if since != "" {
		u += "?since=" + url.QueryEscape(since)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"alice-token"}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	b := &browser{ws: ws, frames: make(chan []byte, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(b.frames)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			b.frames <- data
		}
	}()
	t.Cleanup(func() {
		ws.CloseNow()
		for range b.frames { // unblock the reader
		}
		<-done
	})
	if f := b.next(t); f.Channel != "" || f.Cursor == "" {
		t.Fatalf("first frame = %+v, want a cursor alone", f)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","channel":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	// The server applies a connection's frames in order and answers the
	// ping after them: once it does, the subscription is in place.
	if err := ws.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return b
}

func (b *browser) next(t *testing.T) frame {
	t.Helper()
	var data []byte
	select {
	case d, ok := <-b.frames:
		if !ok {
			t.Fatal("connection closed")
		}
		data = d
	case <-time.After(wait):
		t.Fatal("no frame arrived")
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	if f.Cursor != "" {
		b.cursor = f.Cursor
	}
	return f
}

// TestCatchUpOverWebSocket is the case catch-up exists for: a browser
// loses its connection, a notification is sent meanwhile, and the browser
// gets it when it reconnects with its cursor.
func TestCatchUpOverWebSocket(t *testing.T) {
	t.Parallel()
	e := newLiveEnv(t)
	b := e.connect(t, "")
	seen := sendOne(t, e.svc, notifications.Entity(alice), "seen live")
	if f := b.next(t); f.Message.NotificationID != seen.ID || f.Cursor == "" {
		t.Fatalf("live frame = %+v, want %s with a cursor", f, seen.ID)
	}
	b.ws.CloseNow()

	missed := sendOne(t, e.svc, notifications.Entity(alice), "missed")

	again := e.connect(t, b.cursor)
	got := map[string]string{} // id -> title, de-duplicated as a client does
	for len(got) < 2 {
		f := again.next(t)
		if f.Channel != notifications.SignalChannel || f.Message.Action != notifications.ActionNewNotification || f.Message.Notification == nil {
			t.Fatalf("replayed frame = %+v, want a new_notification with its notification", f)
		}
		if f.Cursor != "" {
			t.Errorf("replayed frame has cursor %q; replays keep the client's", f.Cursor)
		}
		got[f.Message.NotificationID] = f.Message.Notification.Payload.Title
	}
	// The look-back window replays what was seen live too; the client
	// de-duplicates it by id.
	if want := map[string]string{seen.ID: "seen live", missed.ID: "missed"}; !maps.Equal(got, want) {
		t.Errorf("replayed %v, want %v", got, want)
	}
	after := sendOne(t, e.svc, notifications.Entity(alice), "after")
	if f := again.next(t); f.Message.NotificationID != after.ID || f.Cursor == "" {
		t.Errorf("frame after the replay = %+v, want %s live", f, after.ID)
	}
}

// TestCatchUpOverSSE is the same over an event stream, reconnecting the
// way EventSource does: with the last event id as Last-Event-ID.
func TestCatchUpOverSSE(t *testing.T) {
	t.Parallel()
	e := newLiveEnv(t)
	open := func(lastEventID string) (*bufio.Scanner, func()) {
		ctx, cancel := context.WithTimeout(t.Context(), wait) // bounds the reads too
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/api/signals/events?channel=notifications", nil)
		req.Header.Set("Authorization", "Bearer alice-token")
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			cancel()
			t.Fatalf("GET events: %v %v", err, resp)
		}
		return bufio.NewScanner(resp.Body), func() { cancel(); resp.Body.Close() }
	}
	// event reads one event: its id (if any) and its data (if any).
	event := func(sc *bufio.Scanner) (id, data string) {
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				return id, data
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}

	sc, stop := open("")
	lastID, _ := event(sc) // the stream's first cursor
	if lastID == "" {
		t.Fatal("the stream did not start with an id")
	}
	stop()
	missed := sendOne(t, e.svc, notifications.Entity(alice), "missed")

	sc, stop = open(lastID)
	defer stop()
	if id, _ := event(sc); id != lastID {
		t.Errorf("first id = %q, want the client's %q", id, lastID)
	}
	id, data := event(sc)
	var f frame
	if err := json.Unmarshal([]byte(data), &f); err != nil || f.Message.NotificationID != missed.ID || id != "" {
		t.Errorf("replayed event id=%q data=%s, want %s without an id", id, data, missed.ID)
	}
}
