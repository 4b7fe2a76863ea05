package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/notifications"
)

// browser is a signals client that behaves as a catch-up-aware page: it
// keeps the cursor of the last frame that carried one, so that it can
// reconnect with ?since=<cursor>.
type browser struct {
	conn   *websocket.Conn
	frames chan frame // closed when the connection ends
	cursor string
}

// frame is one frame from the server and when it arrived.
type frame struct {
	at  time.Time
	raw []byte
	payload
}

// payload is the part of a frame the demo reads.
type payload struct {
	Channel string `json:"channel"`
	Message struct {
		Action         string                      `json:"action"`
		NotificationID string                      `json:"notification_id"`
		Notification   *notifications.Notification `json:"notification"`
	} `json:"message"`
	Cursor string `json:"cursor"`
}

// connect opens a WebSocket to the signals endpoint of the instance at
// baseURL, as the Backstage client does (the token as sub-protocol),
// with since as the catch-up cursor when set, and subscribes to the
// notifications channel. It returns once the subscription is in place.
func connect(ctx context.Context, baseURL, token, since string) (*browser, error) {
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/api/signals"
	if since != "" {
		u += "?since=" + url.QueryEscape(since)
	}
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{token}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	conn.SetReadLimit(1 << 20)
	b := &browser{conn: conn, frames: make(chan frame, 1024)}
	go b.read()

	// The first frame is the connection's cursor.
	if _, err := b.next(ctx); err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	sub := []byte(`{"action":"subscribe","channel":"` + notifications.SignalChannel + `"}`)
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	// The server applies a connection's frames in order and answers a ping
	// after them, so once the pong is back the subscription is live.
	if err := conn.Ping(ctx); err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	return b, nil
}

// read stamps and queues frames until the connection ends. Reading all
// the time also answers the server's pings and lets Ping complete.
func (b *browser) read() {
	defer close(b.frames)
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			return
		}
		f := frame{at: time.Now(), raw: data}
		if json.Unmarshal(data, &f.payload) != nil {
			continue
		}
		b.frames <- f
	}
}

// next returns the next frame, updating the cursor.
func (b *browser) next(ctx context.Context) (frame, error) {
	select {
	case f, ok := <-b.frames:
		if !ok {
			return frame{}, errors.New("connection closed")
		}
		if f.Cursor != "" {
			b.cursor = f.Cursor
		}
		return f, nil
	case <-ctx.Done():
		return frame{}, fmt.Errorf("waiting for a frame: %w", ctx.Err())
	}
}

// await returns the first new_notification frame about id, skipping
// others (a replay may bring notifications the client has seen).
func (b *browser) await(ctx context.Context, id string) (frame, error) {
	for {
		f, err := b.next(ctx)
		if err != nil {
			return frame{}, err
		}
		if f.Message.Action == notifications.ActionNewNotification && f.Message.NotificationID == id {
			return f, nil
		}
	}
}

// close drops the connection without a close handshake, as a network
// failure would.
func (b *browser) close() {
	_ = b.conn.CloseNow()
	for range b.frames { // let the reader finish
	}
}
