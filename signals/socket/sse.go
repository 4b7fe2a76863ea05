package socket

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/signals"
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
	if h.isClosed() {
		refuse(w, http.StatusServiceUnavailable)
		return
	}
	id, _, status := h.authenticateRequest(r, false)
	if status != 0 {
		h.logger.Debug("socket: refused event stream", "status", status, "remote", r.RemoteAddr)
		refuse(w, status)
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
	// or the Last-Event-ID header EventSource sends when it reconnects. It
	// is reserved: signals carry no ids yet, so it is parsed and ignored.
	// Replaying what the client missed belongs in stream, between
	// subscribing and the first event, so nothing published meanwhile is
	// lost; its events would then carry "id:" fields.
	since string
}

func (h *Handler) parseSSERequest(r *http.Request) (sseRequest, error) {
	q := r.URL.Query()
	req := sseRequest{channels: q["channel"], since: q.Get("since")}
	if req.since == "" {
		req.since = r.Header.Get("Last-Event-ID")
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
	sseKeepAlive = []byte(": keep-alive\n\n")
	sseData      = []byte("data: ")
	sseEnd       = []byte("\n\n")
)

// stream writes the event stream and returns why it ended.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, id Identity, req sseRequest, s *sseStream) error {
	// Subscribe before the response starts: once the client sees the
	// headers, every later signal reaches it.
	sub := h.hub.Subscribe(signals.SubscribeOptions{User: id.UserRef, OwnershipRefs: id.OwnershipRefs, Channels: req.channels})
	defer sub.Close()
	log := h.logger.With("stream", h.nextID.Add(1), "user", id.UserRef)
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
	reason := func() error {
		_, _ = w.Write(sseRetry) // errors resurface on flush
		if err := flush(); err != nil {
			return fmt.Errorf("socket: write: %w", err)
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
				writeEvent(w, d)
				// Write what else is already waiting in one flush.
				for n := len(sub.C()); n > 0; n-- {
					if d, ok = <-sub.C(); !ok {
						break
					}
					writeEvent(w, d)
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

// writeEvent writes one signal as an SSE event. The frame is compact JSON,
// which escapes every line terminator, so it fits on one data line. Write
// errors resurface on the next flush.
func writeEvent(w http.ResponseWriter, d *signals.Delivery) {
	_, _ = w.Write(sseData)
	_, _ = w.Write(d.Frame())
	_, _ = w.Write(sseEnd)
}
