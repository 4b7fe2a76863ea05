package socket

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
)

// ServeSSE authenticates the request by its bearer token and streams the
// signals of the channels named by its repeated "channel" query parameter
// as Server-Sent Events, until the client leaves, falls behind, or the
// Handler or its Hub closes. See the package documentation for the format.
//
// Bad requests (no channel, an empty one, more than Config.MaxChannels) get
// 400; failed authentication gets the same empty 401 or 403 as a WebSocket
// handshake. ServeSSE extends the connection's write deadline before each
// write, so http.Server.WriteTimeout does not cut streams.
func (h *Handler) ServeSSE(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	id, _, ok := h.admit(w, r, false)
	if !ok {
		return
	}
	req, err := h.parseSSERequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	s := &sseStream{stop: make(chan struct{})}
	if !h.track(s) {
		refuse(w, http.StatusServiceUnavailable)
		return
	}
	reason := h.stream(w, r, id, req, s)
	h.untrack(s, reason)
}

// sseRequest is what a client asks of ServeSSE.
type sseRequest struct {
	channels []string

	// since is the client's catch-up cursor: the "since" query parameter,
	// or the Last-Event-ID header EventSource sends when it reconnects.
	// It is only read when catch-up is on.
	since catchUpRequest
}

func (h *Handler) parseSSERequest(r *http.Request) (sseRequest, error) {
	q := r.URL.Query()
	req := sseRequest{channels: q["channel"]}
	since := q.Get("since")
	if since == "" {
		since = r.Header.Get("Last-Event-ID")
	}
	var err error
	if req.since, err = h.parseSince(since); err != nil {
		return req, err
	}
	switch {
	case len(req.channels) == 0:
		return req, errors.New(`at least one "channel" query parameter is required`)
	case len(req.channels) > h.maxChannels:
		return req, fmt.Errorf(`at most %d "channel" query parameters are allowed`, h.maxChannels)
	}
	for _, c := range req.channels {
		if c == "" {
			return req, errors.New(`a "channel" query parameter is empty`)
		}
	}
	return req, nil
}

// sseStream is one open event stream.
type sseStream struct {
	stop     chan struct{}
	stopOnce sync.Once
}

func (s *sseStream) shutdown() { s.stopOnce.Do(func() { close(s.stop) }) }

// kill cannot interrupt a write in progress; that one ends within
// WriteTimeout.
func (s *sseStream) kill() { s.shutdown() }

var (
	sseRetry     = []byte("retry: 5000\n\n")
	sseRetryID   = []byte("retry: 5000\nid: ")
	sseKeepAlive = []byte(": keep-alive\n\n")
	sseID        = []byte("id: ")
	sseData      = []byte("data: ")
	sseEnd       = []byte("\n\n")
)

// stream writes the event stream and returns why it ended.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, id auth.Principal, req sseRequest, s *sseStream) error {
	// Subscribe before the response starts: once the client sees the
	// headers, every later signal reaches it.
	sub := h.hub.Subscribe(signals.SubscribeOptions{User: id.User, OwnershipRefs: id.OwnershipRefs, Channels: req.channels})
	defer sub.Close()
	log := h.logger.With("stream", h.nextID.Add(1), "user", id.User)
	log.Debug("socket: event stream opened", "channels", req.channels)

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // ask nginx not to buffer the stream
	w.WriteHeader(http.StatusOK)

	// Writes go to the ResponseWriter's buffer and reach the client on
	// flush, so an event and those queued behind it go out together.
	rc := http.NewResponseController(w)
	flush := func() error {
		if err := rc.SetWriteDeadline(time.Now().Add(h.writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return rc.Flush()
	}

	ticker := time.NewTicker(h.pingInterval)
	defer ticker.Stop()
	cursors := h.catchUp != nil
	reason := func() error {
		// Errors of writes resurface on flush. With catch-up on, the first
		// event (it has no data, so EventSource dispatches nothing) sets
		// the client's Last-Event-ID; see "Catch-up".
		if cursors {
			_, _ = w.Write(sseRetryID)
			_, _ = w.Write(appendCursor(nil, req.since.startCursor()))
			_, _ = w.Write(sseEnd)
		} else {
			_, _ = w.Write(sseRetry)
		}
		if err := flush(); err != nil {
			return fmt.Errorf("socket: write: %w", err)
		}
		if req.since.set {
			if err := h.replaySSE(r, w, flush, s, log, id, req); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return fmt.Errorf("socket: write: %w", err)
			}
		}
		for {
			select {
			case <-r.Context().Done():
				return r.Context().Err()
			case <-s.stop:
				return errShutdown
			case <-ticker.C:
				_, _ = w.Write(sseKeepAlive)
			case d, ok := <-sub.C():
				if !ok {
					return sub.Err()
				}
				writeEvent(w, d, cursors)
				// Write what else is already waiting in one flush.
				for n := len(sub.C()); n > 0; n-- {
					if d, ok = <-sub.C(); !ok {
						break
					}
					writeEvent(w, d, cursors)
				}
			}
			select {
			case <-sub.Done(): // dropped or closed: what is buffered is stale
				return sub.Err()
			default:
			}
			if err := flush(); err != nil {
				return fmt.Errorf("socket: write: %w", err)
			}
		}
	}()
	if errors.Is(reason, signals.ErrSlowSubscriber) {
		log.Warn("socket: ending an event stream too slow to keep up")
	}
	log.Debug("socket: event stream closed", "reason", reason)
	return reason
}

// replaySSE writes what CatchUpFunc returns for each channel of the stream,
// which is already subscribed, as events without an id: the client keeps
// its Last-Event-ID until a live event brings a newer one. flush renews
// the write deadline, which the CatchUpFunc calls may have used up.
func (h *Handler) replaySSE(r *http.Request, w http.ResponseWriter, flush func() error, s *sseStream, log *slog.Logger, id auth.Principal, req sseRequest) error {
	seen := make(map[string]bool, len(req.channels))
	for _, channel := range req.channels {
		if seen[channel] {
			continue
		}
		seen[channel] = true
		frames, err := h.replay(r.Context(), s.stop, log, id, channel, req.since)
		if err != nil {
			return err
		}
		if err := flush(); err != nil {
			return fmt.Errorf("socket: write: %w", err)
		}
		for _, f := range frames {
			writeData(w, f)
		}
	}
	return nil
}

// writeEvent writes one signal as an SSE event, with its cursor as the
// event id when cursors are on. The frame is compact JSON, which escapes
// every line terminator, so it fits on one data line. Write errors
// resurface on the next flush.
func writeEvent(w http.ResponseWriter, d *signals.Event, cursor bool) {
	if cursor {
		var b [24]byte
		_, _ = w.Write(sseID)
		_, _ = w.Write(append(appendCursor(b[:0], d.Time()), '\n'))
	}
	writeData(w, d.Frame())
}

func writeData(w http.ResponseWriter, frame []byte) {
	_, _ = w.Write(sseData)
	_, _ = w.Write(frame)
	_, _ = w.Write(sseEnd)
}
