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
	// smallBuffers: see wsReadBuffer. Accept answers the request itself
	// on failure.
	ws, err := websocket.Accept(smallBuffers{w}, r, opts)
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
	// The connection is the library's now: this handler returns, and
	// net/http lets go of the request and of its goroutine's stack. A
	// connection holds one goroutine, its reader, and a writer only while
	// there is something to write.
	go c.serve()
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

	// Set by serve before anything can wake a writer.
	ctx    context.Context // ends with the connection; its cause says why
	cancel context.CancelCauseFunc

	// writeTimer cuts a write that takes longer than the write timeout by
	// closing the connection: one timer per connection, re-armed per
	// write, where a context per write would cost a timer, a goroutine
	// hook and a dozen allocations per frame.
	writeTimer *time.Timer

	wmu       sync.Mutex // guards the fields below
	sub       *signals.Subscriber
	start     []byte // the first frame, for the first writer; nil once sent
	writing   bool   // a writer goroutine is running
	again     bool   // woken while writing: look again before leaving
	finished  bool   // the connection has ended: no more writers
	writers   sync.WaitGroup
	pingTimer *time.Timer // the next ping; see startPings
	pingsDone bool

	// The reader's state; see read.
	rsub     *signals.Subscriber
	channels map[string]struct{} // subscribed by the client
	caughtUp map[string]struct{} // channels queued for catch-up
	cleanup  []func()            // run by finish, last first

	endOnce sync.Once
	reason  error // why the connection ended; set in endOnce

	stopOnce sync.Once
}

// catchUpJob asks the writer to replay one channel. ready is closed once
// the Hub subscription of the channel is in place: the replay must query
// after it, so that what changes meanwhile arrives live.
type catchUpJob struct {
	channel string
	ready   chan struct{}
}

func (c *wsConn) shutdown() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wake()
}

func (c *wsConn) kill() {
	c.shutdown()
	_ = c.ws.CloseNow()
}

// clientFrame is what a client sends.
type clientFrame struct {
	Action  string `json:"action"`
	Channel string `json:"channel"`
}

// serve starts the connection: its subscription, its first frame, its
// pings and its reader (see read), which ends it. Writers come and go
// (see wake), pings run on a timer.
func (c *wsConn) serve() {
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	// Writes run without a context (see writeTimer); when the reader or a
	// ping ends the connection, closing it is what stops a blocked write.
	stopClosing := context.AfterFunc(c.ctx, func() { _ = c.ws.CloseNow() })
	// A write that times out ends the connection with that cause, whether
	// the writer or the reader sees the closed connection first.
	c.writeTimer = time.AfterFunc(time.Hour, func() {
		c.cancel(fmt.Errorf("socket: write: %w after %v", context.DeadlineExceeded, c.h.writeTimeout))
	})
	c.writeTimer.Stop()

	sub := c.h.hub.Subscribe(signals.SubscribeOptions{User: c.id.User, OwnershipRefs: c.id.OwnershipRefs, Notify: c.wake})
	c.cleanup = []func(){func() { c.cancel(nil) }, func() { stopClosing() }, sub.Close}
	c.rsub = sub
	c.channels = make(map[string]struct{})
	c.caughtUp = make(map[string]struct{})
	c.log.Debug("socket: connected")
	c.wmu.Lock()
	c.sub = sub
	if c.h.catchUp != nil {
		// The first frame gives the client a cursor; see "Catch-up".
		c.start = cursorFrame(c.since.startCursor())
	}
	c.wmu.Unlock()
	c.wake()
	c.startPings()
	go c.read()
}

// read reads the client's next frame and applies it, then reads the one
// after it on a new goroutine and returns; on a read error it finishes
// the connection. A connection's reader spends its life blocked in Read,
// and a goroutine's stack stays as large as it ever grew: applying a frame
// (JSON, the Hub, a log line) grows it to 8 KiB, where blocking in Read
// needs a fraction of that. Reading each frame on a fresh goroutine keeps
// the idle reader's stack at what Read needs, for the cost of starting a
// goroutine per client frame; clients send few (subscribes; pongs are
// answered inside Read). Frames are still applied in order, each before
// the next is read.
func (c *wsConn) read() {
	typ, data, err := c.ws.Read(c.ctx)
	if err != nil {
		c.finish(fmt.Errorf("socket: read: %w", err))
		return
	}
	c.apply(typ, data)
	go c.read()
}

// finish ends the connection once its reader has stopped, with why Read
// failed unless a writer or a ping ended it first, waits for its writer
// and lets the Handler forget it.
func (c *wsConn) finish(err error) {
	if c.ctx.Err() != nil {
		err = context.Cause(c.ctx) // a writer or a ping ended it first
	}
	c.end(err)
	c.stopPings()
	c.wmu.Lock()
	c.finished = true
	c.wmu.Unlock()
	c.writers.Wait()
	for i := len(c.cleanup) - 1; i >= 0; i-- {
		c.cleanup[i]()
	}
	c.h.untrack(c, c.reason)
}

// end closes the connection in the way reason calls for and ends its
// context, once: the first caller's reason is the connection's.
func (c *wsConn) end(reason error) {
	c.endOnce.Do(func() {
		c.reason = reason
		// Close before cancelling: the cancel closes the connection at
		// once, which would cut the close handshake short.
		c.close(reason)
		c.cancel(reason)
	})
}

// wake makes sure a writer runs for what there is to write: the start
// frame, catch-ups, events, a shutdown or the subscription's end. It is
// the Subscriber's Notify, so it never blocks.
func (c *wsConn) wake() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case c.sub == nil || c.finished:
	case c.writing:
		c.again = true
	default:
		c.writing = true
		c.writers.Add(1)
		go c.writeAll()
	}
}

// writeAll is a writer: it writes what is ready until nothing is, then
// exits, unless it was woken meanwhile. A write that fails ends the
// connection.
func (c *wsConn) writeAll() {
	defer c.writers.Done()
	for {
		c.wmu.Lock()
		c.again = false
		sub, start := c.sub, c.start
		c.start = nil
		c.wmu.Unlock()

		if err := c.writeReady(sub, start); err != nil {
			if c.ctx.Err() != nil {
				err = context.Cause(c.ctx) // the connection ended first
			}
			c.end(err)
		}

		c.wmu.Lock()
		if !c.again || c.finished || c.ctx.Err() != nil {
			c.writing = false
			c.wmu.Unlock()
			return
		}
		c.wmu.Unlock()
	}
}

// writeReady writes start (when set), then the queued catch-ups and the
// buffered events, and returns nil when nothing is left, or why the
// connection must end.
func (c *wsConn) writeReady(sub *signals.Subscriber, start []byte) error {
	if c.ctx.Err() != nil {
		return context.Cause(c.ctx) // ending already
	}
	if start != nil {
		if err := c.write(start); err != nil {
			return err
		}
	}
	// The frame with a cursor is built in a buffer borrowed for as long
	// as this writer runs: an idle connection holds none.
	var buf *[]byte
	defer func() {
		if buf != nil {
			putCursorBuf(buf)
		}
	}()
	for {
		select {
		case <-c.stop:
			return errShutdown
		default:
		}
		// A catch-up queued before an event's channel was subscribed goes
		// first, so no cursor newer than the client's reaches it before
		// the replay does.
		if err := c.catchUpQueued(c.ctx); err != nil {
			return err
		}
		select {
		case d, ok := <-sub.C():
			select {
			case <-sub.Done(): // dropped: what is left is stale
				return sub.Err()
			default:
			}
			if !ok {
				return sub.Err()
			}
			frame := d.Frame()
			if c.h.catchUp != nil {
				if buf == nil {
					buf = cursorBufs.Get().(*[]byte)
				}
				*buf = withCursor(*buf, frame, d.Time())
				frame = *buf
			}
			if err := c.write(frame); err != nil {
				return err
			}
		default:
			select {
			case <-sub.Done():
				return sub.Err()
			default:
				return nil
			}
		}
	}
}

// cursorBufs holds the buffers writers build frames with cursors in.
var cursorBufs = sync.Pool{New: func() any { return new([]byte) }}

// putCursorBuf returns a buffer to cursorBufs, unless one large frame
// made it too large to keep.
func putCursorBuf(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		cursorBufs.Put(buf)
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
		return context.Cause(c.ctx) // the timer's: the write timed out
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

// apply applies one of the client's frames: a subscribe or an
// unsubscribe; anything else is ignored.
func (c *wsConn) apply(typ websocket.MessageType, data []byte) {
	if typ != websocket.MessageText {
		c.log.Debug("socket: ignored a binary frame")
		return
	}
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		c.log.Debug("socket: ignored a frame that is not JSON", "error", err)
		return
	}
	switch {
	case f.Channel == "":
		c.log.Debug("socket: ignored a frame without a channel", "action", f.Action)
	case f.Action == "subscribe":
		if _, ok := c.channels[f.Channel]; !ok && len(c.channels) >= c.h.maxChannels {
			c.log.Debug("socket: ignored a subscribe beyond the channel limit", "channel", f.Channel, "limit", c.h.maxChannels)
			return
		}
		c.channels[f.Channel] = struct{}{}
		c.subscribe(c.rsub, f.Channel, c.caughtUp)
	case f.Action == "unsubscribe":
		delete(c.channels, f.Channel)
		c.rsub.Unsubscribe(f.Channel)
	default:
		c.log.Debug("socket: ignored an unknown action", "action", f.Action)
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
	c.wake()
}

// startPings pings the peer every interval; a pong must arrive before
// the next ping is due, or the connection ends. Each ping runs on a timer's
// goroutine that exists only while the ping does: an idle connection holds
// no goroutine for it.
func (c *wsConn) startPings() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.pingTimer = time.AfterFunc(c.h.pingInterval, func() {
		pctx, cancelPing := context.WithTimeout(c.ctx, c.h.pingInterval)
		err := c.ws.Ping(pctx)
		cancelPing()
		if err != nil {
			c.cancel(fmt.Errorf("socket: no pong within %v: %w", c.h.pingInterval, err))
			return
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if !c.pingsDone {
			c.pingTimer.Reset(c.h.pingInterval)
		}
	})
}

// stopPings stops the pings; one in flight fails on the closed connection.
func (c *wsConn) stopPings() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.pingsDone = true
	c.pingTimer.Stop()
}
