// Package pgbus is a signals.Transport on PostgreSQL LISTEN/NOTIFY: the
// instances of a Herald deployment that share a database share their
// signals, with no other server to run.
//
//	tr, err := pgbus.New(ctx, pgbus.Config{DSN: dsn})
//	...
//	bus, err := signals.NewBus(ctx, signals.BusConfig{Transport: tr, Local: hub, OnGap: refetch})
//	...
//	svc, err := notifications.New(notifications.Config{Signals: bus, ...})
//
// # Connections
//
// A Transport holds one connection for sending, used one send at a time
// (the Bus sends from one goroutine anyway, batching what queues up into one
// transaction), and one dedicated listening connection per subscription.
// Both are plain pgx connections opened from Config.DSN, so neither takes a
// slot in the host's pool; PostgreSQL sees them with the application_name
// "herald-pgbus send <channel>" and "herald-pgbus listen <channel>" unless
// the DSN sets one. NOTIFY works only on a primary: point DSN at it (through
// PgBouncer only in session pooling mode).
//
// When the listening connection drops (a restart, a failover,
// pg_terminate_backend, a health check that found it dead) the
// subscription reconnects with exponential backoff and jitter, logs it, and
// reports a signals.Gap once it listens again: notifications sent while it
// was away are lost, as LISTEN/NOTIFY keeps nothing for absent listeners.
// A send that fails because its connection broke is retried once on a new
// connection; should the first attempt have committed after all, the Bus
// drops the duplicate by its sequence number.
//
// # Large messages: sent by reference
//
// A NOTIFY payload must be shorter than 8000 bytes and be text. A message
// that is shorter than that, valid UTF-8 and free of NUL bytes travels in
// the payload itself. Any other message, up to Config.MaxMessageSize
// (1 MiB by default), is inserted into the UNLOGGED table
// herald_signal_payloads and its id is notified, in one statement and one
// transaction; each listener reads the body by id on its listening
// connection, in notification order. Rows older than
// Config.PayloadRetention (a minute by default) are deleted by later large
// sends. A listener that cannot find a row (it was away longer than the
// retention) reports a gap.
//
// Sending by reference was chosen over splitting into chunks because it
// keeps PostgreSQL's notification queue small: that queue is shared by the
// whole cluster, holds every notification until the slowest listener has
// read it, and when it fills up every NOTIFY fails. A reference costs one
// small notification and one indexed read per instance, whatever the
// message's size, and needs no reassembly state on receivers. The price is
// one small table, created by New if it does not exist (which needs the
// CREATE privilege the first time), and its cleanup.
package pgbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/signals"
)

const (
	// DefaultChannel is the NOTIFY channel of a Config without one.
	DefaultChannel = "herald_signals"

	// PayloadTable holds the messages too large or too binary for a NOTIFY
	// payload.
	PayloadTable = "herald_signal_payloads"

	// DefaultMaxMessageSize is the size limit of a Config without one.
	DefaultMaxMessageSize = 1 << 20

	// maxInline is the largest message that travels in the payload: the
	// payload, a one-byte tag plus the message, must be under 8000 bytes.
	maxInline = 7998

	maxChannelLen = 63 // NAMEDATALEN - 1

	defaultRetention         = time.Minute
	defaultReconnectDelay    = 100 * time.Millisecond
	defaultMaxReconnectDelay = 30 * time.Second
	defaultHealthCheck       = 30 * time.Second

	connectTimeout = 10 * time.Second
	queryTimeout   = 10 * time.Second

	// tableLockKey serialises concurrent New calls creating the table
	// ("herald" in ASCII).
	tableLockKey = 0x686572616c64
)

// Config configures a Transport.
type Config struct {
	// DSN is the PostgreSQL connection string (URL or key=value form) of
	// the primary. Required unless ConnConfig is set.
	DSN string

	// ConnConfig is used instead of DSN when set, for settings a string
	// cannot carry (a custom dialer, TLS configuration). It is copied for
	// each connection. Defaults to the configuration parsed from DSN.
	ConnConfig *pgx.ConnConfig

	// Channel is the NOTIFY channel; deployments sharing a database keep
	// apart by using different channels. At most 63 bytes. Defaults to
	// "herald_signals".
	Channel string

	// MaxMessageSize is the largest message Send accepts, in bytes; a
	// larger one fails with an error wrapping signals.ErrTooLarge. Defaults
	// to 1 MiB.
	MaxMessageSize int

	// PayloadRetention is how long a message sent by reference stays in the
	// payload table, which bounds how late a listener may read it. Defaults
	// to 1 minute.
	PayloadRetention time.Duration

	// ReconnectDelay is the first wait before reconnecting a lost listening
	// connection; each failed attempt doubles it, up to MaxReconnectDelay,
	// with jitter. Defaults to 100 milliseconds.
	ReconnectDelay time.Duration

	// MaxReconnectDelay caps the wait between reconnection attempts.
	// Defaults to 30 seconds.
	MaxReconnectDelay time.Duration

	// HealthCheckInterval is how long a listening connection may stay
	// silent before it is pinged, so a connection that died without a word
	// (a dropped network path) is noticed. Defaults to 30 seconds.
	HealthCheckInterval time.Duration

	// Logger receives reconnections and undeliverable notifications.
	// Defaults to slog.Default(), so a host that configured nothing still
	// sees them.
	Logger *slog.Logger
}

// Transport is a signals.Transport on PostgreSQL LISTEN/NOTIFY. It is safe
// for concurrent use.
type Transport struct {
	conf    *pgx.ConnConfig
	channel string
	max     int
	keep    time.Duration
	delay   time.Duration
	maxWait time.Duration
	health  time.Duration
	log     *slog.Logger

	closed atomic.Bool

	sendMu      sync.Mutex // one send at a time on conn
	conn        *pgx.Conn  // nil until needed again after a failure
	utf8        bool       // the database encoding is UTF8
	lastCleanup time.Time

	mu   sync.Mutex
	subs map[*subscription]struct{}
}

var (
	_ signals.Transport   = (*Transport)(nil)
	_ signals.BatchSender = (*Transport)(nil)
	_ signals.SizeLimiter = (*Transport)(nil)
)

// New validates cfg, connects for sending, and creates the payload table if
// it does not exist.
func New(ctx context.Context, cfg Config) (*Transport, error) {
	t := &Transport{
		conf:    cfg.ConnConfig,
		channel: cfg.Channel,
		max:     cfg.MaxMessageSize,
		keep:    cfg.PayloadRetention,
		delay:   cfg.ReconnectDelay,
		maxWait: cfg.MaxReconnectDelay,
		health:  cfg.HealthCheckInterval,
		log:     cfg.Logger,
		subs:    make(map[*subscription]struct{}),
	}
	if t.conf == nil {
		if cfg.DSN == "" {
			return nil, errors.New("pgbus: Config.DSN is required")
		}
		conf, err := pgx.ParseConfig(cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("pgbus: parse DSN: %w", err)
		}
		t.conf = conf
	}
	if t.channel == "" {
		t.channel = DefaultChannel
	}
	if len(t.channel) > maxChannelLen {
		return nil, fmt.Errorf("pgbus: Config.Channel is %d bytes, at most %d allowed", len(t.channel), maxChannelLen)
	}
	for name, d := range map[string]time.Duration{
		"PayloadRetention": t.keep, "ReconnectDelay": t.delay,
		"MaxReconnectDelay": t.maxWait, "HealthCheckInterval": t.health,
	} {
		if d < 0 {
			return nil, fmt.Errorf("pgbus: Config.%s %v is negative", name, d)
		}
	}
	if t.max < 0 {
		return nil, fmt.Errorf("pgbus: Config.MaxMessageSize %d is negative", t.max)
	}
	t.max = orDefault(t.max, DefaultMaxMessageSize)
	t.keep = orDefault(t.keep, defaultRetention)
	t.delay = orDefault(t.delay, defaultReconnectDelay)
	t.maxWait = max(orDefault(t.maxWait, defaultMaxReconnectDelay), t.delay)
	t.health = orDefault(t.health, defaultHealthCheck)
	if t.log == nil {
		t.log = slog.Default()
	}

	conn, err := t.connect(ctx, "send")
	if err != nil {
		return nil, fmt.Errorf("pgbus: connect: %w", err)
	}
	if err := createTable(ctx, conn); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("pgbus: create %s: %w", PayloadTable, err)
	}
	t.conn = conn
	return t, nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func createTable(ctx context.Context, conn *pgx.Conn) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(tableLockKey)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE UNLOGGED TABLE IF NOT EXISTS `+PayloadTable+` (
			id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			created_at timestamptz NOT NULL DEFAULT now(),
			body       bytea NOT NULL
		)`)
		return err
	})
}

// connect opens a connection named for its role, unless the DSN names it.
func (t *Transport) connect(ctx context.Context, role string) (*pgx.Conn, error) {
	conf := t.conf.Copy()
	if conf.RuntimeParams["application_name"] == "" {
		conf.RuntimeParams["application_name"] = "herald-pgbus " + role + " " + t.channel
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, conf)
	if err != nil {
		return nil, err
	}
	if role == "send" {
		t.utf8 = conn.PgConn().ParameterStatus("server_encoding") == "UTF8"
	}
	return conn, nil
}

// MaxMessageSize returns Config.MaxMessageSize.
func (t *Transport) MaxMessageSize() int { return t.max }

// Send notifies msg on the channel; see SendBatch.
func (t *Transport) Send(ctx context.Context, msg []byte) error {
	return t.SendBatch(ctx, [][]byte{msg})
}

// SendBatch notifies msgs in one transaction, so listeners get them
// together and in order. Messages that do not fit a NOTIFY payload are
// stored by reference (see the package documentation).
func (t *Transport) SendBatch(ctx context.Context, msgs [][]byte) error {
	for _, m := range msgs {
		if len(m) > t.max {
			return fmt.Errorf("pgbus: %w: %d bytes, the limit is %d", signals.ErrTooLarge, len(m), t.max)
		}
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	for attempt := 0; ; attempt++ {
		if t.closed.Load() {
			return fmt.Errorf("pgbus: send: %w", signals.ErrClosed)
		}
		err := t.sendOnce(ctx, msgs)
		if err == nil {
			return nil
		}
		broken := t.conn == nil || t.conn.IsClosed()
		if broken && t.conn != nil {
			t.conn = nil
		}
		if !broken || attempt > 0 || ctx.Err() != nil {
			return fmt.Errorf("pgbus: send: %w", err)
		}
		t.log.Warn("pgbus: sending connection lost; retrying on a new one", "channel", t.channel, "error", err)
	}
}

func (t *Transport) sendOnce(ctx context.Context, msgs [][]byte) error {
	if t.conn == nil {
		conn, err := t.connect(ctx, "send")
		if err != nil {
			return err
		}
		t.conn = conn
	}
	batch := &pgx.Batch{}
	byRef := false
	for _, m := range msgs {
		if t.inline(m) {
			batch.Queue("SELECT pg_notify($1, $2)", t.channel, "i"+string(m))
			continue
		}
		byRef = true
		batch.Queue(`WITH p AS (INSERT INTO `+PayloadTable+` (body) VALUES ($2) RETURNING id)
			SELECT pg_notify($1, 'r' || id) FROM p`, t.channel, m)
	}
	cleanup := byRef && time.Since(t.lastCleanup) > t.keep/2
	if cleanup {
		batch.Queue(`DELETE FROM `+PayloadTable+` WHERE created_at < now() - $1 * interval '1 millisecond'`,
			t.keep.Milliseconds())
	}
	if err := t.conn.SendBatch(ctx, batch).Close(); err != nil {
		return err
	}
	if cleanup {
		t.lastCleanup = time.Now()
	}
	return nil
}

// inline reports whether m can travel in a NOTIFY payload as it is.
func (t *Transport) inline(m []byte) bool {
	if len(m) > maxInline {
		return false
	}
	for _, c := range m {
		if c == 0 || (c >= utf8.RuneSelf && !t.utf8) {
			return false
		}
	}
	return utf8.Valid(m)
}

// Subscribe opens a dedicated connection, LISTENs on the channel, and
// delivers from a goroutine until the subscription or the transport is
// closed. It returns once the LISTEN took effect.
func (t *Transport) Subscribe(ctx context.Context, h signals.TransportHandler) (signals.Subscription, error) {
	if t.closed.Load() {
		return nil, fmt.Errorf("pgbus: subscribe: %w", signals.ErrClosed)
	}
	conn, err := t.listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgbus: subscribe: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscription{t: t, h: h, cancel: cancel, done: make(chan struct{})}
	t.mu.Lock()
	if t.closed.Load() {
		t.mu.Unlock()
		cancel()
		_ = conn.Close(runCtx)
		return nil, fmt.Errorf("pgbus: subscribe: %w", signals.ErrClosed)
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	go s.run(runCtx, conn)
	return s, nil
}

func (t *Transport) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := t.connect(ctx, "listen")
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{t.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// Close ends every subscription and closes the sending connection.
func (t *Transport) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	t.mu.Lock()
	subs := t.subs
	t.subs = nil
	t.mu.Unlock()
	for s := range subs {
		_ = s.Close() // never fails
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if t.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	err := t.conn.Close(ctx)
	t.conn = nil
	return err
}

// errPayloadGone is the gap cause when a referenced message was cleaned up
// before this listener read it.
var errPayloadGone = errors.New("pgbus: message by reference already deleted")

type subscription struct {
	t      *Transport
	h      signals.TransportHandler
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Close stops the listening goroutine and waits for it, so the handler is
// not called afterwards.
func (s *subscription) Close() error {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
	})
	return nil
}

func (s *subscription) run(ctx context.Context, conn *pgx.Conn) {
	defer close(s.done)
	for {
		lostAt, cause := s.receive(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.t.log.Warn("pgbus: listening connection lost; reconnecting", "channel", s.t.channel, "error", cause)
		if conn = s.reconnect(ctx); conn == nil {
			return
		}
		now := time.Now()
		s.t.log.Warn("pgbus: listening again; signals sent meanwhile were missed",
			"channel", s.t.channel, "down", now.Sub(lostAt).Round(time.Millisecond))
		s.h.HandleGap(signals.Gap{Since: lostAt, Until: now, Err: cause})
	}
}

// receive delivers notifications until conn fails, returning when and why,
// or until ctx ends.
func (s *subscription) receive(ctx context.Context, conn *pgx.Conn) (time.Time, error) {
	for {
		wait, cancel := context.WithTimeout(ctx, s.t.health)
		n, err := conn.WaitForNotification(wait)
		idle := wait.Err() == context.DeadlineExceeded
		cancel()
		if n != nil {
			if err := s.deliver(ctx, conn, n.Payload); err != nil {
				return time.Now(), err
			}
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		case idle && !conn.IsClosed():
			ping, cancel := context.WithTimeout(ctx, queryTimeout)
			err = conn.Ping(ping)
			cancel()
			if err != nil && ctx.Err() == nil {
				return time.Now(), fmt.Errorf("health check: %w", err)
			}
		default:
			return time.Now(), err
		}
	}
}

// deliver hands one notification's message to the handler. It returns an
// error only when conn broke while reading a message by reference.
func (s *subscription) deliver(ctx context.Context, conn *pgx.Conn, payload string) error {
	if payload == "" {
		s.t.log.Warn("pgbus: ignoring an empty notification", "channel", s.t.channel)
		return nil
	}
	switch payload[0] {
	case 'i':
		s.h.HandleMessage([]byte(payload[1:]))
		return nil
	case 'r':
	default:
		s.t.log.Warn("pgbus: ignoring a notification of unknown form", "channel", s.t.channel, "tag", payload[:1])
		return nil
	}
	id, err := strconv.ParseInt(payload[1:], 10, 64)
	if err != nil {
		s.t.log.Warn("pgbus: ignoring a malformed reference", "channel", s.t.channel, "payload", payload)
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var body []byte
	err = conn.QueryRow(qctx, "SELECT body FROM "+PayloadTable+" WHERE id = $1", id).Scan(&body)
	switch {
	case err == nil:
		s.h.HandleMessage(body)
		return nil
	case conn.IsClosed() || ctx.Err() != nil:
		return fmt.Errorf("read message %d: %w", id, err)
	default:
		if errors.Is(err, pgx.ErrNoRows) {
			err = errPayloadGone
		}
		now := time.Now()
		s.t.log.Warn("pgbus: lost a message sent by reference", "channel", s.t.channel, "id", id, "error", err)
		s.h.HandleGap(signals.Gap{Since: now, Until: now, Err: err})
		return nil
	}
}

// reconnect listens again with exponential backoff and jitter, until it
// succeeds or ctx ends (then it returns nil).
func (s *subscription) reconnect(ctx context.Context) *pgx.Conn {
	delay := s.t.delay
	for attempt := 1; ; attempt++ {
		conn, err := s.t.listen(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := delay/2 + rand.N(delay/2+1)
		s.t.log.Warn("pgbus: reconnect failed", "channel", s.t.channel, "attempt", attempt, "retry_in", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		delay = min(2*delay, s.t.maxWait)
	}
}
