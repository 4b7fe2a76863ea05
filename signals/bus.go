package signals

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// BusConfig configures a Bus.
type BusConfig struct {
	// Transport carries envelopes to the other instances. The Bus owns it
	// from then on and closes it in Close. Required.
	Transport Transport

	// Local is this instance's own fan-out, usually its *Hub. The Bus hands
	// it every signal of every instance exactly once: its own directly in
	// Publish, the others' from the transport. Required.
	Local Publisher

	// InstanceID names this instance in envelopes, logs and Gap.Origin. It
	// need not be unique: every Bus also draws a random run id, so a
	// restarted instance is never mistaken for its former self. Defaults to
	// the host name.
	InstanceID string

	// OnGap is told when signals from other instances may have been missed
	// (see Gap); every gap is also logged. It runs on the receiving
	// goroutine, before the signals that follow the gap are delivered, and
	// must not block for long. Its ctx ends when the Bus closes. It may be
	// called more than once for one outage. Defaults to nil: gaps are only
	// logged.
	OnGap func(ctx context.Context, g Gap)

	// SendTimeout bounds one send on the transport. Sends run on a context
	// that keeps the publisher's values but not its cancellation, so a
	// publisher that gives up does not fail the others batched with it.
	// Defaults to 5 seconds.
	SendTimeout time.Duration

	// Logger receives gaps, undecodable envelopes and local delivery
	// errors. Defaults to slog.Default(), so a host that configured
	// nothing still sees them.
	Logger *slog.Logger
}

const (
	envelopeVersion    = 1
	defaultSendTimeout = 5 * time.Second
	// peerIdleTTL is how long the Bus remembers the sequence of an instance
	// it no longer hears from.
	peerIdleTTL = time.Hour
)

// Bus is a Publisher that shares signals between the instances of a
// deployment over a Transport: the Go counterpart of Backstage's events bus
// carrying the "signals" topic. Put it where a Publisher is expected (for
// instance notifications.Config.Signals) and give it the instance's Hub as
// Local.
//
// Every signal published on any instance's Bus reaches every instance's
// Local exactly once, and the signals of one publishing instance arrive in
// the order it published them (for Publish calls that follow one another).
// A Bus delivers its own signals to Local directly, without a round trip,
// so an instance's own clients are served even while the transport is down.
//
// # Envelope
//
// On the transport each signal travels as one JSON envelope:
//
//	{"v":1,"origin":"web-1","run":"9f2c…","seq":42,"signal":{"recipients":…,"channel":…,"message":…}}
//
// origin is the InstanceID; run is random per Bus; seq counts the run's
// signals from 1. A receiver drops an envelope whose seq it has already
// seen for that origin and run (a duplicate), and reports a Gap with Missed
// set when seq skips ahead. Envelopes of another version are logged and
// dropped, so a newer version can be rolled out instance by instance only
// alongside one that still speaks version 1.
//
// # Size limit
//
// The envelope must fit the transport's limit (see SizeLimiter): about 1 MB
// for both pgbus and natsbus by default. The envelope adds about 80 bytes
// and the instance id to the signal's JSON. A larger signal fails
// Publish with an error wrapping ErrTooLarge; it is still delivered locally.
//
// A Bus is safe for concurrent use.
type Bus struct {
	transport Transport
	local     Publisher
	origin    string
	run       string
	onGap     func(context.Context, Gap)
	timeout   time.Duration
	batch     BatchSender
	log       *slog.Logger

	ctx    context.Context // ends on Close; for receiving and OnGap
	cancel context.CancelFunc
	sub    Subscription

	sendMu  sync.Mutex
	seq     uint64
	queue   []outgoing
	closed  bool
	wake    chan struct{} // cap 1: the queue has work, or the bus closed
	stopped chan struct{} // closed when the sender goroutine exits

	recvMu  sync.Mutex // the transport serialises calls; this guards against a faulty one
	peers   map[peerKey]*peer
	gen     uint64 // incremented on each transport gap
	handled uint64

	closeOnce sync.Once
	closeErr  error
}

var _ Publisher = (*Bus)(nil)

type outgoing struct {
	ctx  context.Context
	msg  []byte
	done chan error // cap 1
}

type peerKey struct{ origin, run string }

type peer struct {
	seq  uint64
	gen  uint64
	seen time.Time
}

// NewBus subscribes to cfg.Transport and returns a Bus that is receiving: a
// signal another instance publishes after NewBus returns reaches
// cfg.Local. If NewBus fails it closes nothing; the caller still owns the
// transport.
func NewBus(ctx context.Context, cfg BusConfig) (*Bus, error) {
	switch {
	case cfg.Transport == nil:
		return nil, errors.New("signals: BusConfig.Transport is required")
	case cfg.Local == nil:
		return nil, errors.New("signals: BusConfig.Local is required")
	case cfg.SendTimeout < 0:
		return nil, fmt.Errorf("signals: BusConfig.SendTimeout %v is negative", cfg.SendTimeout)
	}
	b := &Bus{
		transport: cfg.Transport,
		local:     cfg.Local,
		origin:    cfg.InstanceID,
		onGap:     cfg.OnGap,
		timeout:   cfg.SendTimeout,
		log:       cfg.Logger,
		wake:      make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		peers:     make(map[peerKey]*peer),
	}
	if b.origin == "" {
		if b.origin, _ = os.Hostname(); b.origin == "" {
			b.origin = "herald"
		}
	}
	if b.timeout == 0 {
		b.timeout = defaultSendTimeout
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.batch, _ = cfg.Transport.(BatchSender)
	var id [12]byte
	rand.Read(id[:]) // never fails (crypto/rand)
	b.run = hex.EncodeToString(id[:])

	b.ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	sub, err := cfg.Transport.Subscribe(ctx, (*busReceiver)(b))
	if err != nil {
		b.cancel()
		return nil, fmt.Errorf("signals: subscribe: %w", err)
	}
	b.sub = sub
	go b.sendLoop()
	return b, nil
}

// Publish validates s, delivers it to the local Publisher and sends it to
// the other instances. It waits for the transport to accept the envelope
// (bounded by BusConfig.SendTimeout), not for the other instances to
// deliver it. Concurrent calls are batched when the transport is a
// BatchSender. The error joins the local delivery's and the send's; a
// signal that failed to send is reported as a Gap by the other instances
// when the next one arrives. If ctx ends first Publish returns its error,
// and the signal may still be sent.
func (b *Bus) Publish(ctx context.Context, s Signal) error {
	if err := s.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("%w: encode: %w", ErrInvalidSignal, err)
	}
	done := make(chan error, 1)
	b.sendMu.Lock()
	if b.closed {
		b.sendMu.Unlock()
		return ErrClosed
	}
	b.seq++
	b.queue = append(b.queue, outgoing{ctx: ctx, msg: b.envelope(b.seq, body), done: done})
	b.sendMu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}

	var errs []error
	if err := b.local.Publish(ctx, s); err != nil {
		errs = append(errs, fmt.Errorf("signals: local delivery: %w", err))
	}
	select {
	case err := <-done:
		if err != nil {
			errs = append(errs, fmt.Errorf("signals: send: %w", err))
		}
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// envelope builds the wire form around an already encoded signal.
func (b *Bus) envelope(seq uint64, body []byte) []byte {
	origin, _ := json.Marshal(b.origin) // a string always encodes
	msg := make([]byte, 0, len(body)+len(origin)+len(b.run)+64)
	msg = append(msg, `{"v":1,"origin":`...)
	msg = append(msg, origin...)
	msg = append(msg, `,"run":"`...)
	msg = append(msg, b.run...)
	msg = append(msg, `","seq":`...)
	msg = strconv.AppendUint(msg, seq, 10)
	msg = append(msg, `,"signal":`...)
	msg = append(msg, body...)
	return append(msg, '}')
}

// sendLoop is the only goroutine that sends, so envelopes leave in sequence
// order; whatever queued up during a send goes out in the next batch.
func (b *Bus) sendLoop() {
	defer close(b.stopped)
	for {
		<-b.wake
		for {
			b.sendMu.Lock()
			batch, closed := b.queue, b.closed
			b.queue = nil
			b.sendMu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			b.sendBatch(batch)
		}
	}
}

func (b *Bus) sendBatch(batch []outgoing) {
	// The first publisher's values (trace ids...) ride along; no one's
	// cancellation does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), b.timeout)
	defer cancel()
	if b.batch != nil && len(batch) > 1 {
		msgs := make([][]byte, len(batch))
		for i, o := range batch {
			msgs[i] = o.msg
		}
		err := b.batch.SendBatch(ctx, msgs)
		for _, o := range batch {
			o.done <- err
		}
		return
	}
	for _, o := range batch {
		o.done <- b.transport.Send(ctx, o.msg)
	}
}

// Close stops receiving, waits for the sends already queued, and closes the
// transport. Publish fails with ErrClosed afterwards. Close is idempotent.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		errs := []error{b.sub.Close()}
		b.cancel()
		b.sendMu.Lock()
		b.closed = true
		b.sendMu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
		<-b.stopped
		errs = append(errs, b.transport.Close())
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// busReceiver is the Bus seen as a TransportHandler, kept off Bus's method
// set so hosts do not mistake it for API.
type busReceiver Bus

var _ TransportHandler = (*busReceiver)(nil)

// envelope is the wire form, decoded in one pass: the message stays raw
// JSON, handed to Local as a json.RawMessage.
type envelope struct {
	V      int        `json:"v"`
	Origin string     `json:"origin"`
	Run    string     `json:"run"`
	Seq    uint64     `json:"seq"`
	Signal wireSignal `json:"signal"`
}

type wireSignal struct {
	Recipients Recipients      `json:"recipients"`
	Channel    string          `json:"channel"`
	Message    json.RawMessage `json:"message"`
}

func (r *busReceiver) HandleMessage(msg []byte) {
	b := (*Bus)(r)
	var env envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		b.log.Warn("signals: dropping undecodable envelope", "error", err, "bytes", len(msg))
		return
	}
	if env.V != envelopeVersion {
		b.log.Warn("signals: dropping envelope of unknown version", "version", env.V, "origin", env.Origin)
		return
	}
	if env.Origin == b.origin && env.Run == b.run {
		return // delivered locally by Publish
	}
	s := Signal{Recipients: env.Signal.Recipients, Channel: env.Signal.Channel}
	if m := env.Signal.Message; len(m) > 0 && string(m) != "null" {
		s.Message = m
	}
	if err := s.Validate(); err != nil {
		b.log.Warn("signals: dropping invalid signal", "error", err, "origin", env.Origin)
		return
	}
	if !b.track(env.Origin, env.Run, env.Seq) {
		return
	}
	if err := b.local.Publish(b.ctx, s); err != nil {
		b.log.Warn("signals: local delivery failed", "error", err, "origin", env.Origin, "channel", s.Channel)
	}
}

// track updates the sequence state of an envelope's sender, reports a
// hole in it, and reports whether the envelope is new.
func (b *Bus) track(origin, run string, seq uint64) bool {
	b.recvMu.Lock()
	defer b.recvMu.Unlock()
	now := time.Now()
	key := peerKey{origin, run}
	p := b.peers[key]
	switch {
	case p == nil:
		p = &peer{}
		b.peers[key] = p
	case seq <= p.seq:
		b.log.Debug("signals: dropping duplicate envelope", "origin", origin, "seq", seq)
		return false
	case seq > p.seq+1 && p.gen == b.gen:
		// After a transport gap the first envelope only re-synchronises:
		// the gap was already reported.
		b.reportGap(Gap{Origin: origin, Missed: seq - p.seq - 1, Since: p.seen, Until: now})
	}
	p.seq, p.gen, p.seen = seq, b.gen, now
	if b.handled++; b.handled%1024 == 0 {
		for k, q := range b.peers {
			if now.Sub(q.seen) > peerIdleTTL {
				delete(b.peers, k)
			}
		}
	}
	return true
}

func (r *busReceiver) HandleGap(g Gap) {
	b := (*Bus)(r)
	b.recvMu.Lock()
	defer b.recvMu.Unlock()
	b.gen++
	b.reportGap(g)
}

// reportGap logs g and calls OnGap; recvMu is held.
func (b *Bus) reportGap(g Gap) {
	attrs := []any{"until", g.Until}
	if g.Origin != "" {
		attrs = append(attrs, "origin", g.Origin, "missed", g.Missed)
	}
	if !g.Since.IsZero() {
		attrs = append(attrs, "since", g.Since)
	}
	if g.Err != nil {
		attrs = append(attrs, "error", g.Err)
	}
	b.log.Warn("signals: signals from other instances may have been missed", attrs...)
	if b.onGap != nil {
		b.onGap(b.ctx, g)
	}
}
