// Command watch prints the signals a user receives, one JSON frame per
// line, the way the Backstage frontend's signals client receives them:
// it connects to the signals WebSocket with the user's token as the
// sub-protocol and subscribes to a channel.
//
//	go run ./examples/server/watch -token u1
//
// Flags: -url (default ws://127.0.0.1:7007/api/signals), -token (a user
// token, required), -channel (default notifications), -retry (the first
// reconnection delay, default 1s).
//
// Like a browser, it stays connected: when the connection ends (the
// server restarts, the network drops) it reconnects, after -retry and then
// twice as long after each failed attempt, up to 30s, with jitter so that
// many clients do not come back at once. It resumes from the last cursor
// the server sent (GET /api/signals?since=<cursor>), so the server first
// replays what was sent while it was away; a replayed frame may repeat one
// already printed. A refusal that retrying cannot cure (a bad token: 401,
// 403) ends it with status 1. Ctrl-C closes the connection normally (1000).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// maxRetry bounds the reconnection delay.
const maxRetry = 30 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

// watcher is one user's subscription, across connections.
type watcher struct {
	url, token, channel string
	stdout, stderr      io.Writer
	// cursor is the last catch-up cursor the server sent; "" until one
	// arrives (or when the server has catch-up off). Only the goroutine
	// reading the current connection touches it, and the next connection
	// starts after that goroutine has ended.
	cursor string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	w := &watcher{stdout: stdout, stderr: stderr}
	fs.StringVar(&w.url, "url", "ws://127.0.0.1:7007/api/signals", "the signals WebSocket")
	fs.StringVar(&w.token, "token", "", "a user token (required)")
	fs.StringVar(&w.channel, "channel", "notifications", "the channel to subscribe to")
	retry := fs.Duration("retry", time.Second, "the first reconnection delay; it doubles after each failed attempt, up to 30s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case w.token == "":
		return errors.New("-token is required")
	case *retry <= 0:
		return errors.New("-retry must be positive")
	}
	if _, err := url.Parse(w.url); err != nil {
		return fmt.Errorf("-url: %w", err)
	}

	delay := *retry
	for {
		connected, err := w.session(ctx)
		if ctx.Err() != nil {
			return err // Ctrl-C: the session closed the connection normally
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			return err
		}
		if connected {
			delay = *retry // a connection that worked starts the backoff over
		}
		// Wait between half the delay and the whole of it.
		wait := delay/2 + rand.N(delay/2+1)
		fmt.Fprintf(stderr, "%v; reconnecting in %v\n", err, wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, maxRetry)
	}
}

// refusedError is a handshake refusal that retrying cannot cure.
type refusedError struct{ status int }

func (e *refusedError) Error() string {
	return fmt.Sprintf("the server refused the connection: %d %s", e.status, http.StatusText(e.status))
}

// permanent reports whether a refused handshake's status will not change
// by retrying: a client error other than a timeout or rate limiting.
func permanent(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

// session connects once, resuming from the cursor, subscribes and prints
// frames until the connection ends or ctx is done (then it closes the
// connection normally). It reports whether it got connected, and why it
// ended.
func (w *watcher) session(ctx context.Context) (connected bool, err error) {
	u, since := w.url, w.cursor
	if since != "" {
		parsed, _ := url.Parse(w.url) // checked by run
		q := parsed.Query()
		q.Set("since", since)
		parsed.RawQuery = q.Encode()
		u = parsed.String()
	}
	c, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{w.token}})
	if err != nil {
		if res != nil && permanent(res.StatusCode) {
			return false, &refusedError{status: res.StatusCode}
		}
		return false, fmt.Errorf("connect to %s: %w", w.url, err)
	}

	// Read on a context of its own: cancelling a Read drops the
	// connection, and Ctrl-C should close it with a handshake instead.
	// Reading also receives the pong below.
	ended := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				ended <- err
				return
			}
			w.handle(data)
		}
	}()
	defer func() {
		_ = c.CloseNow()
		<-done // the reader owns the cursor until it has ended
	}()
	sub, _ := json.Marshal(map[string]string{"action": "subscribe", "channel": w.channel})
	if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
		return true, fmt.Errorf("subscribe: %w", err)
	}
	// The server applies a connection's frames in order, so once the ping
	// is answered the subscription is in place.
	if err := c.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			// Stopped before the pong came back: a shutdown, not a failure.
			return true, c.Close(websocket.StatusNormalClosure, "")
		}
		return true, fmt.Errorf("subscribe: %w", err)
	}
	if since != "" {
		fmt.Fprintf(w.stderr, "connected to %s, subscribed to %q, catching up from cursor %s; Ctrl-C to stop\n", w.url, w.channel, since)
	} else {
		fmt.Fprintf(w.stderr, "connected to %s, subscribed to %q; Ctrl-C to stop\n", w.url, w.channel)
	}
	select {
	case <-ctx.Done():
		return true, c.Close(websocket.StatusNormalClosure, "")
	case err := <-ended:
		return true, fmt.Errorf("connection ended: %w", err)
	}
}

// handle prints a frame that carries a signal and keeps the cursor of any
// frame that has one (the first frame of a connection has only a cursor).
func (w *watcher) handle(data []byte) {
	var f struct {
		Channel string `json:"channel"`
		Cursor  string `json:"cursor"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		fmt.Fprintf(w.stderr, "ignoring a frame that is not JSON: %.80q\n", data)
		return
	}
	if f.Cursor != "" {
		w.cursor = f.Cursor
	}
	if f.Channel != "" {
		fmt.Fprintf(w.stdout, "%s\n", data)
	}
}
