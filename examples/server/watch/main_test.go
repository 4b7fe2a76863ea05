package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
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
