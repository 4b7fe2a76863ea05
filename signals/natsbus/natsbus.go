// Package natsbus is a signals.Transport on core NATS publish/subscribe:
// every instance of a Herald deployment publishes its signals' envelopes on
// one subject and subscribes to it.
//
//	tr, err := natsbus.New(ctx, natsbus.Config{URL: "nats://nats:4222"})
//	...
//	bus, err := signals.NewBus(ctx, signals.BusConfig{Transport: tr, Local: hub, OnGap: refetch})
//
// It lives in a module of its own so that only hosts that use NATS
// download the client.
//
// # Delivery
//
// Core NATS delivers at most once and keeps nothing for a subscriber that
// is away. A Transport holds one connection, which the client reconnects
// forever (natsbus sets MaxReconnects to -1 unless Config.Options say
// otherwise). When the connection drops and comes back, each subscription
// reports a signals.Gap once its subscription is live again on the server,
// before the first message that follows; a subscriber that falls behind
// and has messages dropped by the client (a slow consumer) reports one too.
// Messages of one Transport reach every subscriber in the order sent.
//
// Send returns once the message is in the client's outgoing buffer; core
// NATS acknowledges nothing, so it does not wait for the server. What is
// buffered while the connection is down is sent on reconnection (the client
// keeps up to 8 MB by default), or lost if that buffer fills; the receiving
// Bus then reports the hole in the sender's sequence numbers.
//
// # Size limit
//
// A message may be as large as the server's max_payload, 1 MB (1048576
// bytes) unless the server is configured otherwise; MaxMessageSize reports
// the value the server announced. Send refuses a larger message with an
// error wrapping signals.ErrTooLarge instead of letting the server close
// the connection.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/signals"
)

// DefaultSubject is the subject of a Config without one.
const DefaultSubject = "herald.signals"

const (
	defaultName  = "herald-natsbus"
	flushTimeout = 10 * time.Second
)

// Config configures a Transport.
type Config struct {
	// URL is the NATS server to connect to, or a comma-separated list of
	// servers of one cluster, as nats.Connect takes it. Required.
	URL string

	// Subject carries the envelopes. Deployments that share a NATS account
	// keep apart by using different subjects. It must be a literal subject
	// (no wildcards). Defaults to "herald.signals".
	Subject string

	// Name is the connection name the server shows in its monitoring.
	// Defaults to "herald-natsbus".
	Name string

	// Options are further client options (credentials, TLS, reconnect
	// timing...), applied in order after natsbus' own defaults, so they win.
	// Disconnect, reconnect, error and closed handlers they set still run:
	// natsbus calls them after its own. Defaults to none.
	Options []nats.Option

	// PendingBytes bounds the bytes of received messages waiting for a
	// slow handler; past it the client drops messages and the drop is
	// reported as a gap. Defaults to the NATS client's 64 MiB.
	PendingBytes int

	// Logger receives disconnections, reconnections and slow-consumer
	// drops. Defaults to slog.Default(), so a host that configured nothing
	// still sees them.
	Logger *slog.Logger
}

// Transport is a signals.Transport on a NATS connection. It is safe for
// concurrent use.
type Transport struct {
	nc      *nats.Conn
	subject string
	pending int // bytes; 0 keeps the client's default
	log     *slog.Logger
	closed  atomic.Bool

	mu      sync.Mutex
	lostAt  time.Time // of the last disconnection
	lostErr error
	subs    map[*nats.Subscription]*subscription
}

var (
	_ signals.Transport   = (*Transport)(nil)
	_ signals.SizeLimiter = (*Transport)(nil)
)

// New validates cfg and connects. It fails if no server can be reached
// now; once connected, the client reconnects by itself. ctx bounds the
// connection attempt.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	if cfg.URL == "" {
		return nil, errors.New("natsbus: Config.URL is required")
	}
	t := &Transport{subject: cfg.Subject, pending: cfg.PendingBytes, log: cfg.Logger, subs: make(map[*nats.Subscription]*subscription)}
	if t.subject == "" {
		t.subject = DefaultSubject
	}
	if err := validSubject(t.subject); err != nil {
		return nil, err
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	opts := nats.GetDefaultOptions()
	for _, u := range strings.Split(cfg.URL, ",") {
		opts.Servers = append(opts.Servers, strings.TrimSpace(u))
	}
	opts.Name = cfg.Name
	if opts.Name == "" {
		opts.Name = defaultName
	}
	opts.MaxReconnect = -1
	for _, o := range cfg.Options {
		if err := o(&opts); err != nil {
			return nil, fmt.Errorf("natsbus: option: %w", err)
		}
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < opts.Timeout {
		opts.Timeout = max(time.Until(d), time.Millisecond)
	}
	t.install(&opts)
	nc, err := opts.Connect()
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	t.nc = nc
	return t, nil
}

// validSubject accepts literal subjects: dot-separated, non-empty tokens
// without wildcards or white space.
func validSubject(s string) error {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("natsbus: Config.Subject %q is not a literal NATS subject", s)
		}
	}
	return nil
}

// install sets natsbus' connection handlers, chaining to those opts held.
func (t *Transport) install(opts *nats.Options) {
	disconnected, reconnected, asyncErr := opts.DisconnectedErrCB, opts.ReconnectedCB, opts.AsyncErrorCB
	opts.DisconnectedErrCB = func(nc *nats.Conn, err error) {
		if err == nil {
			err = errors.New("natsbus: disconnected")
		}
		if !t.closed.Load() {
			t.mu.Lock()
			t.lostAt, t.lostErr = time.Now(), err
			t.mu.Unlock()
			t.log.Warn("natsbus: disconnected; reconnecting", "subject", t.subject, "error", err)
		}
		if disconnected != nil {
			disconnected(nc, err)
		}
	}
	opts.ReconnectedCB = func(nc *nats.Conn) {
		t.log.Warn("natsbus: reconnected; signals sent meanwhile may have been missed",
			"subject", t.subject, "server", nc.ConnectedUrlRedacted())
		// Once the server answers a flush it has the re-sent
		// subscriptions: only then is a gap report true to its promise.
		if err := nc.FlushTimeout(flushTimeout); err == nil {
			for _, s := range t.subscriptions() {
				s.gapIfReconnected()
			}
		}
		if reconnected != nil {
			reconnected(nc)
		}
	}
	opts.AsyncErrorCB = func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			t.mu.Lock()
			s := t.subs[sub]
			t.mu.Unlock()
			if s != nil {
				t.log.Warn("natsbus: slow consumer; messages dropped", "subject", t.subject)
				now := time.Now()
				s.gap(signals.Gap{Since: now, Until: now, Err: err})
			}
		}
		if asyncErr != nil {
			asyncErr(nc, sub, err)
		}
	}
}

func (t *Transport) subscriptions() []*subscription {
	t.mu.Lock()
	defer t.mu.Unlock()
	subs := make([]*subscription, 0, len(t.subs))
	for _, s := range t.subs {
		subs = append(subs, s)
	}
	return subs
}

func (t *Transport) lost() (time.Time, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lostAt, t.lostErr
}

// MaxMessageSize returns the max_payload the server announced.
func (t *Transport) MaxMessageSize() int { return int(t.nc.MaxPayload()) }

// Send publishes msg on the subject. See the package documentation for
// what "sent" means in core NATS.
func (t *Transport) Send(ctx context.Context, msg []byte) error {
	if t.closed.Load() {
		return fmt.Errorf("natsbus: send: %w", signals.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if limit := t.nc.MaxPayload(); int64(len(msg)) > limit {
		return fmt.Errorf("natsbus: %w: %d bytes, the server's max_payload is %d", signals.ErrTooLarge, len(msg), limit)
	}
	switch err := t.nc.Publish(t.subject, msg); {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("natsbus: %w: %w", signals.ErrTooLarge, err)
	case errors.Is(err, nats.ErrConnectionClosed):
		return fmt.Errorf("natsbus: send: %w: %w", signals.ErrClosed, err)
	default:
		return fmt.Errorf("natsbus: send: %w", err)
	}
}

// Subscribe subscribes h to the subject and returns once the server has
// the subscription (a flush round trip, bounded by ctx or 10 seconds).
func (t *Transport) Subscribe(ctx context.Context, h signals.TransportHandler) (signals.Subscription, error) {
	if t.closed.Load() {
		return nil, fmt.Errorf("natsbus: subscribe: %w", signals.ErrClosed)
	}
	s := &subscription{t: t, h: h, seen: t.nc.Stats().Reconnects}
	// Registered under mu before the first message can arrive.
	t.mu.Lock()
	sub, err := t.nc.Subscribe(t.subject, s.receive)
	if err == nil && t.pending > 0 {
		if err = sub.SetPendingLimits(nats.DefaultSubPendingMsgsLimit, t.pending); err != nil {
			_ = sub.Unsubscribe() // the error that matters is SetPendingLimits's
		}
	}
	if err == nil {
		s.sub = sub
		t.subs[sub] = s
	}
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := t.nc.FlushWithContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("natsbus: subscribe: flush: %w", err)
	}
	return s, nil
}

// Close ends the subscriptions and closes the connection, after sending
// what is buffered.
func (t *Transport) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	for _, s := range t.subscriptions() {
		_ = s.Close()
	}
	t.nc.Close()
	return nil
}

type subscription struct {
	t   *Transport
	h   signals.TransportHandler
	sub *nats.Subscription

	mu     sync.Mutex // serialises the handler's calls
	closed bool
	seen   uint64 // the connection's reconnect count already reported
}

func (s *subscription) receive(m *nats.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.gapIfReconnectedLocked()
	s.h.HandleMessage(m.Data)
}

func (s *subscription) gapIfReconnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.gapIfReconnectedLocked()
	}
}

// gapIfReconnectedLocked reports a gap when the connection reconnected
// since the last report. A message received after the reconnection proves
// the subscription live as well as the reconnect handler's flush does.
func (s *subscription) gapIfReconnectedLocked() {
	n := s.t.nc.Stats().Reconnects
	if n == s.seen {
		return
	}
	s.seen = n
	since, err := s.t.lost()
	s.h.HandleGap(signals.Gap{Since: since, Until: time.Now(), Err: err})
}

func (s *subscription) gap(g signals.Gap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.h.HandleGap(g)
	}
}

// Close unsubscribes and waits for a handler call in progress, so the
// handler is not called afterwards.
func (s *subscription) Close() error {
	err := s.sub.Unsubscribe()
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	s.t.mu.Lock()
	delete(s.t.subs, s.sub)
	s.t.mu.Unlock()
	if already || errors.Is(err, nats.ErrBadSubscription) || errors.Is(err, nats.ErrConnectionClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("natsbus: unsubscribe: %w", err)
	}
	return nil
}
