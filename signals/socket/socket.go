// Package socket serves signals to browsers: a WebSocket endpoint speaking
// the Backstage signals protocol (what @backstage/plugin-signals connects
// to), and a Server-Sent Events stream for clients that cannot use
// WebSockets. Both feed from a signals.Hub.
//
// # Routes
//
// A Handler answers, relative to where it is mounted:
//
//	GET /          WebSocket upgrade (ServeWebSocket)
//	GET /health    200 {"status":"ok"}, unauthenticated
//	GET /events    Server-Sent Events stream (ServeSSE)
//
// Mount it behind http.StripPrefix, registering the prefix both with and
// without the trailing slash, because the Backstage client connects to the
// bare prefix and a WebSocket client does not follow ServeMux's redirect:
//
//	h, err := socket.New(socket.Config{Hub: hub, Authenticator: tokens})
//	mux.Handle("/api/signals", http.StripPrefix("/api/signals", h))
//	mux.Handle("/api/signals/", http.StripPrefix("/api/signals", h))
//
// ServeWebSocket and ServeSSE can also be mounted on their own.
//
// # WebSocket protocol
//
// The client authenticates in the handshake through Config.Authenticator
// (the same auth.Authenticator the REST API takes), either the browser's
// way, with its token offered as a WebSocket sub-protocol
// (Sec-WebSocket-Protocol; the value that authenticates is echoed as the
// selected protocol), or with an Authorization: Bearer header. Only a user
// principal may connect. A request that does not authenticate is answered
// with a plain 401 Unauthorized, or 403 Forbidden for credentials that are
// valid but may not connect (a service principal, or auth.ErrForbidden),
// with Connection: close and Content-Length: 0.
//
// The client then sends text frames {"action":"subscribe","channel":"x"} and
// {"action":"unsubscribe","channel":"x"}, applied in order and not
// acknowledged. Other actions, binary frames and invalid JSON are ignored;
// a frame over 32 KiB closes the connection (1009). The server sends a text
// frame {"channel":"x","message":{...}} for each signal of a subscribed
// channel addressed to everyone, to the user or to one of the principal's
// ownership refs
// (with a cursor when catch-up is on; see Catch-up).
//
// The server pings every Config.PingInterval and drops a peer that has not
// answered by the next ping. A connection that cannot keep up (its Hub
// subscriber is dropped as slow) is closed with 1013 (try again later), and
// Shutdown closes connections with 1012 (service restart); the Backstage
// client reconnects after both.
//
// # Server-Sent Events
//
// ServeSSE streams the same frames as SSE events:
//
//	GET /events?channel=notifications&channel=catalog
//	Authorization: Bearer <token>
//
// The channels are fixed for the life of the stream (at least one, at most
// Config.MaxChannels). Each signal is an unnamed event, so EventSource's
// onmessage receives it, with the frame as its one data line:
//
//	data: {"channel":"notifications","message":{...}}
//
// preceded by an "id:" line holding the cursor when catch-up is on.
//
// The stream starts with "retry: 5000" (the Backstage client's reconnect
// delay) and carries a ": keep-alive" comment every Config.PingInterval so
// proxies keep it open. A stream that falls behind is ended; the client
// reconnects.
//
// # Catch-up
//
// Backstage's signals are fire and forget: a browser that loses its
// connection for a moment misses what was sent meanwhile. With
// Config.CatchUpFunc set, a client that reconnects gets it back:
//
//  1. Every live frame carries a cursor, an opaque string (today milliseconds
//     since the Unix epoch on the server's clock, the time its Hub
//     accepted the signal): on a WebSocket as an extra member,
//     {"channel":"x","message":{...},"cursor":"1718000000123"}; on an SSE
//     stream as the event's "id:" field. The first frame of a WebSocket
//     connection is a cursor alone, {"cursor":"..."}, and an SSE stream
//     starts with an event that has an id and no data, so a client holds a
//     cursor before any signal arrives. The Backstage client ignores the
//     extra member and frames without a channel.
//  2. The client keeps the cursor of the last frame that had one and
//     reconnects with it: GET /?since=<cursor> for the WebSocket,
//     GET /events?channel=...&since=<cursor> for SSE, where EventSource's
//     own Last-Event-ID header does the same. An RFC 3339 time is accepted
//     too; anything else is refused with 400.
//  3. On the first subscribe of each channel (for SSE, at once for all the
//     stream's channels) the server first subscribes the connection to the
//     Hub, then calls CatchUpFunc(user, channel, cursor − Config.CatchUpWindow)
//     and sends what it returns, without cursors, before any live frame of
//     that channel; then it continues live. The connection's first frame
//     repeats the client's cursor, so a client that drops again during the
//     replay retries from where it was.
//
// Because the replay is asked for after the live subscription exists,
// nothing falls between the two, but a change can arrive twice: replayed
// and live, or replayed again after the next reconnect. The look-back
// window exists because a change is stamped in the database before it is
// committed, and its signal reaches this instance's Hub later still,
// possibly from another instance whose clock differs; the window must
// cover both. So clients de-duplicate: (*notifications.Service).CatchUp,
// the usual CatchUpFunc, replays a new_notification frame, with the
// notification as it is now, for every notification created, updated,
// read or saved since the cursor, and a client treats each as an upsert
// keyed by notification id. What leaves no time behind (marking unread)
// is not replayed.
//
// Subscribe to every channel right after connecting, as the Backstage
// client does: a live frame's cursor covers the channels subscribed when
// it was sent. A catch-up that fails closes the WebSocket with 1011
// (internal error) or ends the SSE stream, so the client retries from the
// same cursor.
//
// # Lifecycle
//
// WebSocket connections are hijacked and live outside http.Server's
// bookkeeping, and SSE streams would hold up its Shutdown, so shut the
// Handler down along with the server:
//
//	srv.RegisterOnShutdown(func() {
//		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//		defer cancel()
//		_ = h.Shutdown(ctx)
//	})
package socket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of Config.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxChannels  = 100
)

// maxProtocolTokens bounds how many offered sub-protocol values are tried as
// tokens, so one handshake cannot make the server verify hundreds.
const maxProtocolTokens = 8

// errShutdown ends connections closed by Handler.Shutdown.
var errShutdown = errors.New("socket: server shutting down")

// Config configures a Handler.
type Config struct {
	// Hub is where connections subscribe. The Handler does not close it.
	// Required.
	Hub *signals.Hub

	// Authenticator verifies the tokens of connecting clients; only user
	// principals may connect. Give it the Authenticator of the REST API
	// (an *auth.StaticTokens, or the host's own), so one set of tokens
	// serves both. Required.
	Authenticator auth.Authenticator

	// PingInterval is how often a WebSocket peer is pinged; one that has
	// not answered by the next ping is dropped. SSE streams write a
	// keep-alive comment at the same interval. Defaults to
	// DefaultPingInterval (30s).
	PingInterval time.Duration

	// WriteTimeout bounds the write of one frame or event; a client that
	// takes longer is disconnected. Defaults to DefaultWriteTimeout (10s).
	WriteTimeout time.Duration

	// MaxChannels is how many channels one connection or stream may
	// subscribe; WebSocket subscribes beyond it are ignored, SSE requests
	// asking for more are refused with 400. Defaults to DefaultMaxChannels
	// (100).
	MaxChannels int

	// OriginPatterns lists the browser origins, besides the request's own
	// host, allowed to open a WebSocket, as host patterns matched with
	// path.Match (for example "backstage.example.com" or "localhost:3000"
	// for a development frontend). Defaults to none: cross-origin upgrades
	// are refused with 403. Clients that send no Origin are not affected.
	OriginPatterns []string

	// CatchUpFunc turns catch-up on (see "Catch-up" in the package
	// documentation): frames and events then carry cursors, and a client
	// reconnecting with one is replayed what CatchUpFunc returns before it
	// continues live. Wire it to the notifications service with
	// svc.CatchUp. Defaults to nil: no cursors are sent and the "since"
	// parameter and Last-Event-ID header are ignored.
	CatchUpFunc CatchUpFunc

	// CatchUpWindow is how far before a client's cursor CatchUpFunc is asked
	// to look. It covers what happens between the moment a change is
	// stamped in the database and the moment its signal reaches this
	// instance's Hub (the commit, the cross-instance transport), and the
	// clock difference between instances, so it must exceed both. Defaults
	// to DefaultCatchUpWindow (1 minute).
	CatchUpWindow time.Duration

	// CatchUpTimeout bounds one call of CatchUpFunc. Defaults to
	// DefaultCatchUpTimeout (10s).
	CatchUpTimeout time.Duration

	// Logger receives connection events at debug level and failures above
	// it. Defaults to slog.Default(), so a host that configured nothing
	// still sees the failures.
	Logger *slog.Logger

	// MeterProvider counts open connections (herald.connections).
	// Defaults to otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Handler serves the signals endpoints. It is safe for concurrent use.
type Handler struct {
	hub          *signals.Hub
	auth         auth.Authenticator
	pingInterval time.Duration
	writeTimeout time.Duration
	maxChannels  int
	origins      []string
	logger       *slog.Logger
	tel          connTelemetry

	catchUp        CatchUpFunc
	catchUpWindow  time.Duration
	catchUpTimeout time.Duration

	nextID atomic.Uint64

	mu      sync.Mutex
	closed  bool
	streams map[stream]struct{}
	wg      sync.WaitGroup

	// onEnd, when set by tests, is called as each connection or stream
	// has ended and released its Hub subscriber.
	onEnd func(reason error)
}

var _ http.Handler = (*Handler)(nil)

// stream is one open WebSocket connection or SSE stream.
type stream interface {
	// shutdown asks the stream to end gracefully; it does not wait.
	shutdown()
	// kill ends the stream at once; it does not wait.
	kill()
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Hub == nil:
		return nil, errors.New("socket: Config.Hub is required")
	case cfg.Authenticator == nil:
		return nil, errors.New("socket: Config.Authenticator is required")
	case cfg.PingInterval < 0:
		return nil, fmt.Errorf("socket: Config.PingInterval %v is negative", cfg.PingInterval)
	case cfg.WriteTimeout < 0:
		return nil, fmt.Errorf("socket: Config.WriteTimeout %v is negative", cfg.WriteTimeout)
	case cfg.MaxChannels < 0:
		return nil, fmt.Errorf("socket: Config.MaxChannels %d is negative", cfg.MaxChannels)
	case cfg.CatchUpWindow < 0:
		return nil, fmt.Errorf("socket: Config.CatchUpWindow %v is negative", cfg.CatchUpWindow)
	case cfg.CatchUpTimeout < 0:
		return nil, fmt.Errorf("socket: Config.CatchUpTimeout %v is negative", cfg.CatchUpTimeout)
	}
	h := &Handler{
		hub:          cfg.Hub,
		auth:         cfg.Authenticator,
		pingInterval: orDefault(cfg.PingInterval, DefaultPingInterval),
		writeTimeout: orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		maxChannels:  orDefault(cfg.MaxChannels, DefaultMaxChannels),
		origins:      cfg.OriginPatterns,
		logger:       cfg.Logger,
		streams:      make(map[stream]struct{}),
		tel:          newConnTelemetry(cfg.MeterProvider),

		catchUp:        cfg.CatchUpFunc,
		catchUpWindow:  orDefault(cfg.CatchUpWindow, DefaultCatchUpWindow),
		catchUpTimeout: orDefault(cfg.CatchUpTimeout, DefaultCatchUpTimeout),
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	return h, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ServeHTTP routes a request relative to the Handler's mount point: "/" (or
// "") to ServeWebSocket, "/health" to the health check and "/events" to
// ServeSSE. Other paths get 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "", "/":
		h.ServeWebSocket(w, r)
	case "/health":
		serveHealth(w, r)
	case "/events":
		h.ServeSSE(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveHealth answers Backstage's unauthenticated health check.
func serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

// Shutdown stops accepting connections, asks every WebSocket connection to
// close (1012, service restart) and every SSE stream to end, and waits for
// them until ctx is done; then it drops the rest at once and returns
// ctx.Err(). Clients reconnect, to another instance if there is one.
func (h *Handler) Shutdown(ctx context.Context) error {
	for _, s := range h.stop() {
		s.shutdown()
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, s := range h.snapshot() {
			s.kill()
		}
		return ctx.Err()
	}
}

// Close stops accepting connections, drops every WebSocket connection
// without a close handshake (clients see 1006 and reconnect, as after
// Backstage's terminate), ends every SSE stream and waits for them to
// finish: at once, except for an SSE write already blocked on a stalled
// client, which gives up within WriteTimeout. It returns nil; it implements
// io.Closer.
func (h *Handler) Close() error {
	for _, s := range h.stop() {
		s.kill()
	}
	h.wg.Wait()
	return nil
}

// stop marks the Handler closed and returns the open streams.
func (h *Handler) stop() []stream {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return h.snapshot()
}

func (h *Handler) snapshot() []stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]stream, 0, len(h.streams))
	for s := range h.streams {
		out = append(out, s)
	}
	return out
}

func (h *Handler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// track registers an open stream; it reports false once the Handler is
// closed, and the caller must then end the stream.
func (h *Handler) track(s stream) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.streams[s] = struct{}{}
	h.tel.add(s, 1)
	h.wg.Add(1)
	return true
}

// untrack removes an ended stream; reason is why it ended.
func (h *Handler) untrack(s stream, reason error) {
	h.mu.Lock()
	delete(h.streams, s)
	h.tel.add(s, -1)
	h.mu.Unlock()
	if h.onEnd != nil {
		h.onEnd(reason)
	}
	h.wg.Done()
}

// admit lets a request open a WebSocket connection or an event stream,
// returning what authenticateRequest does, or answers it with an empty
// refusal and reports false: 503 once the Handler is closed, otherwise
// the status authentication failed with.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, fromProtocols bool) (auth.Principal, string, bool) {
	if h.isClosed() {
		refuse(w, http.StatusServiceUnavailable)
		return auth.Principal{}, "", false
	}
	id, protocol, status := h.authenticateRequest(r, fromProtocols)
	if status != 0 {
		h.logger.Debug("socket: refused a request", "status", status, "path", r.URL.Path, "remote", r.RemoteAddr)
		refuse(w, status)
		return auth.Principal{}, "", false
	}
	return id, protocol, true
}

// authenticateRequest finds the principal of a request from its offered
// sub-protocols (when fromProtocols is set) and then its bearer token. On
// success it returns the principal and, when a sub-protocol value
// authenticated, that value; on failure the HTTP status to answer.
func (h *Handler) authenticateRequest(r *http.Request, fromProtocols bool) (auth.Principal, string, int) {
	var forbidden, failed bool
	try := func(token string) (auth.Principal, bool) {
		p, err := h.auth.Authenticate(r.Context(), token)
		switch {
		case err == nil && p.Kind == auth.PrincipalService:
			forbidden = true // services send; they do not receive signals
		case err == nil && p.Kind != auth.PrincipalUser:
			h.logger.Error("socket: the Authenticator returned a principal of unknown kind", "kind", p.Kind)
			failed = true
		case err == nil && p.User == "":
			h.logger.Error("socket: the Authenticator returned a user principal without User")
			failed = true
		case err == nil:
			return p, true
		case errors.Is(err, auth.ErrForbidden):
			forbidden = true
		case errors.Is(err, auth.ErrUnauthenticated):
		default:
			h.logger.Error("socket: authentication failed", "error", err)
			failed = true
		}
		return auth.Principal{}, false
	}

	if fromProtocols {
		for _, token := range protocolTokens(r) {
			if p, ok := try(token); ok {
				return p, token, 0
			}
		}
	}
	if token, err := auth.BearerToken(r); err == nil {
		if p, ok := try(token); ok {
			return p, "", 0
		}
	}
	switch {
	case failed:
		return auth.Principal{}, "", http.StatusInternalServerError
	case forbidden:
		return auth.Principal{}, "", http.StatusForbidden
	default:
		return auth.Principal{}, "", http.StatusUnauthorized
	}
}

// protocolTokens returns the offered Sec-WebSocket-Protocol values, at most
// maxProtocolTokens of them.
func protocolTokens(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" && len(out) < maxProtocolTokens {
				out = append(out, t)
			}
		}
	}
	return out
}

// refuse answers a request that gets no connection with an empty response
// that closes the TCP connection, as Backstage's signals backend does.
func refuse(w http.ResponseWriter, status int) {
	hdr := w.Header()
	if status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", "Bearer")
	}
	hdr.Set("Connection", "close")
	hdr.Set("Content-Length", "0")
	w.WriteHeader(status)
}
