package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
)

// ServeWebSocket authenticates the request, upgrades it and serves the
// Backstage signals protocol on it until the peer leaves, misses a pong,
// falls behind, or the Handler or its Hub closes. See the package
// documentation for the protocol.
func (h *Handler) ServeWebSocket(w http.ResponseWriter, r *http.Request) {
	id, protocol, ok := h.admit(w, r, true)
	if !ok {
		return
	}
	since, err := h.parseSince(r.URL.Query().Get("since"))
	if err != nil {
		h.logger.Debug("socket: refused connection with a bad cursor", "error", err, "remote", r.RemoteAddr)
		refuse(w, http.StatusBadRequest)
		return
	}

	// http.Server's read and write timeouts stay on a hijacked connection
	// and would cut it; liveness is the pings' job from here on.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	opts := &websocket.AcceptOptions{OriginPatterns: h.origins}
	if protocol != "" {
		opts.Subprotocols = []string{protocol}
	}
	ws, err := websocket.Accept(w, r, opts) // answers the request itself on failure
	if err != nil {
		h.logger.Debug("socket: upgrade failed", "error", err, "remote", r.RemoteAddr)
		return
	}

	c := &wsConn{
		h:     h,
		ws:    ws,
		id:    id,
		log:   h.logger.With("conn", h.nextID.Add(1), "user", id.User),
		stop:  make(chan struct{}),
		since: since,
	}
	if since.set {
		// Each channel is caught up at most once, and at most MaxChannels
		// of them, so queueing never blocks the reader.
		c.pending = make(chan *catchUpJob, h.maxChannels)
	}
	if !h.track(c) {
		_ = ws.Close(websocket.StatusServiceRestart, "server shutting down")
		return
	}
	reason := c.serve()
	h.untrack(c, reason)
}

// wsConn is one WebSocket connection.
type wsConn struct {
	h    *Handler
	ws   *websocket.Conn
	id   auth.Principal
	log  *slog.Logger
	stop chan struct{} // closed by shutdown

	since   catchUpRequest   // the client's cursor, when it gave one
	pending chan *catchUpJob // catch-ups for the writer; nil without a cursor
	buf     []byte           // the writer's frame with a cursor

	// writeTimer cuts a write that takes longer than the write timeout by
	// closing the connection: one timer per connection, re-armed per
	// write, where a context per write would cost a timer, a goroutine
	// hook and a dozen allocations per frame.
	writeTimer *time.Timer

	pingMu    sync.Mutex  // guards pingTimer and pingsDone
	pingTimer *time.Timer // the next ping; see startPings
	pingsDone bool

	stopOnce sync.Once
}

// catchUpJob asks the writer to replay one channel. ready is closed once
// the Hub subscription of the channel is in place: the replay must query
// after it, so that what changes meanwhile arrives live.
type catchUpJob struct {
	channel string
	ready   chan struct{}
}

func (c *wsConn) shutdown() { c.stopOnce.Do(func() { close(c.stop) }) }

func (c *wsConn) kill() {
	c.shutdown()
	_ = c.ws.CloseNow()
}

// clientFrame is what a client sends.
type clientFrame struct {
	Action  string `json:"action"`
	Channel string `json:"channel"`
}

// serve runs the connection: this goroutine writes, one reads the client's
// frames, one pings. It returns why the connection ended, once all three
// are done and the connection is closed.
func (c *wsConn) serve() error {
	sub := c.h.hub.Subscribe(signals.SubscribeOptions{User: c.id.User, OwnershipRefs: c.id.OwnershipRefs})
	defer sub.Close()
	c.log.Debug("socket: connected")

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// Writes run without a context (see writeTimer); when the reader or a
	// ping ends the connection, closing it is what stops a blocked write.
	stopClosing := context.AfterFunc(ctx, func() { _ = c.ws.CloseNow() })
	defer stopClosing()
	c.writeTimer = time.AfterFunc(time.Hour, func() { _ = c.ws.CloseNow() })
	c.writeTimer.Stop()
	// The first frame gives the client a cursor; see "Catch-up".
	var start []byte
	if c.h.catchUp != nil {
		start = cursorFrame(c.since.startCursor())
	}
	var wg sync.WaitGroup
	wg.Go(func() { cancel(c.readLoop(ctx, sub)) })
	c.startPings(ctx, cancel)

	reason := c.writeLoop(ctx, sub, start)
	// Close before cancelling: a cancelled read would drop the connection
	// before the close handshake.
	c.close(reason)
	cancel(reason)
	c.stopPings()
	wg.Wait()
	return reason
}

// writeLoop sends start (when set), then catch-ups and deliveries until
// the connection must end, and says why.
func (c *wsConn) writeLoop(ctx context.Context, sub *signals.Subscriber, start []byte) error {
	if start != nil {
		if err := c.write(start); err != nil {
			return err
		}
	}
	for {
		select {
		case <-c.stop:
			return errShutdown
		case <-ctx.Done():
			return context.Cause(ctx)
		case job := <-c.pending: // nil, never ready, without a cursor
			if err := c.catchUp(ctx, job); err != nil {
				return err
			}
		case d, ok := <-sub.C():
			select {
			case <-sub.Done(): // dropped: what is left is stale
				return sub.Err()
			default:
			}
			if !ok {
				return sub.Err()
			}
			// A catch-up queued before this delivery's channel was
			// subscribed goes first, so no cursor newer than the client's
			// reaches it before the replay does.
			if err := c.catchUpQueued(ctx); err != nil {
				return err
			}
			frame := d.Frame()
			if c.h.catchUp != nil {
				c.buf = withCursor(c.buf, frame, d.Time())
				frame = c.buf
			}
			if err := c.write(frame); err != nil {
				return err
			}
			if cap(c.buf) > 64<<10 {
				c.buf = nil // do not hold on to one large frame's memory
			}
		}
	}
}

// catchUpQueued runs the catch-ups already queued, without waiting for
// more.
func (c *wsConn) catchUpQueued(ctx context.Context) error {
	for {
		select {
		case job := <-c.pending:
			if err := c.catchUp(ctx, job); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// catchUp replays one channel to the client, once its Hub subscription is
// in place. Replayed frames carry no cursor: the client keeps the one it
// reconnected with until a live frame brings a newer one.
func (c *wsConn) catchUp(ctx context.Context, job *catchUpJob) error {
	select {
	case <-job.ready:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	frames, err := c.h.replay(ctx, c.stop, c.log, c.id, job.channel, c.since)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := c.write(f); err != nil {
			return err
		}
	}
	return nil
}

// write sends one frame within the write timeout, or closes the
// connection. context.Background has no Done channel, so the library sets
// no timeout hook of its own.
func (c *wsConn) write(frame []byte) error {
	c.writeTimer.Reset(c.h.writeTimeout)
	err := c.ws.Write(context.Background(), websocket.MessageText, frame)
	if !c.writeTimer.Stop() {
		return fmt.Errorf("socket: write: %w after %v", context.DeadlineExceeded, c.h.writeTimeout)
	}
	if err != nil {
		return fmt.Errorf("socket: write: %w", err)
	}
	return nil
}

// close ends the connection in the way its reason calls for.
func (c *wsConn) close(reason error) {
	switch {
	case errors.Is(reason, errShutdown), errors.Is(reason, signals.ErrHubClosed):
		_ = c.ws.Close(websocket.StatusServiceRestart, "server shutting down")
	case errors.Is(reason, errCatchUp):
		_ = c.ws.Close(websocket.StatusInternalError, "catch-up failed")
	case errors.Is(reason, signals.ErrSlowSubscriber):
		c.log.Warn("socket: closing a connection too slow to keep up")
		_ = c.ws.Close(websocket.StatusTryAgainLater, "too slow")
	default:
		// The peer left, broke the protocol, missed a pong or a write
		// timed out: the library has already closed the connection.
		_ = c.ws.CloseNow()
	}
	c.log.Debug("socket: disconnected", "reason", reason)
}

// readLoop applies the client's subscribe and unsubscribe frames in order;
// each is applied before the next frame (and so the next pong) is read.
func (c *wsConn) readLoop(ctx context.Context, sub *signals.Subscriber) error {
	channels := make(map[string]struct{})
	caughtUp := make(map[string]struct{}) // channels queued for catch-up
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("socket: read: %w", err)
		}
		if typ != websocket.MessageText {
			c.log.Debug("socket: ignored a binary frame")
			continue
		}
		var f clientFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.log.Debug("socket: ignored a frame that is not JSON", "error", err)
			continue
		}
		switch {
		case f.Channel == "":
			c.log.Debug("socket: ignored a frame without a channel", "action", f.Action)
		case f.Action == "subscribe":
			if _, ok := channels[f.Channel]; !ok && len(channels) >= c.h.maxChannels {
				c.log.Debug("socket: ignored a subscribe beyond the channel limit", "channel", f.Channel, "limit", c.h.maxChannels)
				continue
			}
			channels[f.Channel] = struct{}{}
			c.subscribe(sub, f.Channel, caughtUp)
		case f.Action == "unsubscribe":
			delete(channels, f.Channel)
			sub.Unsubscribe(f.Channel)
		default:
			c.log.Debug("socket: ignored an unknown action", "action", f.Action)
		}
	}
}

// subscribe subscribes sub to channel and, on the first subscribe of the
// channel by a client that reconnected with a cursor, queues its catch-up.
// The job is queued before the Hub subscription, so the writer sees it
// before any delivery of the channel; the writer waits for ready before it
// queries, so nothing changed meanwhile falls between the replay and the
// live frames.
func (c *wsConn) subscribe(sub *signals.Subscriber, channel string, caughtUp map[string]struct{}) {
	if _, done := caughtUp[channel]; c.pending == nil || done || len(caughtUp) >= cap(c.pending) {
		sub.Subscribe(channel)
		return
	}
	caughtUp[channel] = struct{}{}
	job := &catchUpJob{channel: channel, ready: make(chan struct{})}
	c.pending <- job // never blocks: at most cap(c.pending) jobs, ever
	sub.Subscribe(channel)
	close(job.ready)
}

// startPings pings the peer every interval; a pong must arrive before
// the next ping is due, or the connection ends. Each ping runs on a timer's
// goroutine that exists only while the ping does: an idle connection holds
// no goroutine for it.
func (c *wsConn) startPings(ctx context.Context, cancel context.CancelCauseFunc) {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pingTimer = time.AfterFunc(c.h.pingInterval, func() {
		pctx, cancelPing := context.WithTimeout(ctx, c.h.pingInterval)
		err := c.ws.Ping(pctx)
		cancelPing()
		if err != nil {
			cancel(fmt.Errorf("socket: no pong within %v: %w", c.h.pingInterval, err))
			return
		}
		c.pingMu.Lock()
		defer c.pingMu.Unlock()
		if !c.pingsDone {
			c.pingTimer.Reset(c.h.pingInterval)
		}
	})
}

// stopPings stops the pings; one in flight fails on the closed connection.
func (c *wsConn) stopPings() {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pingsDone = true
	c.pingTimer.Stop()
}
