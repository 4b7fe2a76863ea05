package signals

import (
	"context"
	"errors"
	"time"
)

// Transport carries opaque messages between the instances of one deployment:
// a message sent by any instance reaches every live subscription on the same
// backend (database channel, NATS subject...), including the sender's own.
// It is the seam behind Bus; packages pgbus and natsbus implement it, and
// package signalstest holds the conformance suite every implementation must
// pass.
//
// Guarantees a Transport gives:
//   - Messages are arbitrary bytes; a transport never alters them.
//   - Sends that follow one another (the second starts after the first
//     returned) reach every subscription in that order.
//   - Delivery is at most once while a subscription's connection holds. After
//     a connection failure a transport may lose messages (it then reports a
//     Gap) and may deliver a retried message twice; Bus discards such
//     duplicates by sequence number.
//
// Implementations are safe for concurrent use.
type Transport interface {
	// Send hands msg to the backend for delivery to every subscription. It
	// returns once the backend accepted msg, or with an error wrapping
	// ErrTooLarge when msg exceeds the transport's size limit, or ErrClosed
	// after Close. Send does not wait for subscribers.
	Send(ctx context.Context, msg []byte) error

	// Subscribe starts delivering messages to h and returns once the
	// subscription is live: every message sent after Subscribe returns
	// reaches h, until the subscription or the transport is closed. A
	// transport calls h's methods one at a time, never concurrently, in the
	// order the backend delivered the messages.
	Subscribe(ctx context.Context, h TransportHandler) (Subscription, error)

	// Close ends every subscription and releases the connections. Send and
	// Subscribe fail with ErrClosed afterwards. Close is idempotent.
	Close() error
}

// TransportHandler receives what a Transport delivers to a subscription.
type TransportHandler interface {
	// HandleMessage is called for each message. The handler owns msg. It
	// runs on the transport's receiving goroutine: delivery of the next
	// message waits for it, so it must not block.
	HandleMessage(msg []byte)

	// HandleGap is called when messages may have been lost: the connection
	// to the backend dropped and came back, or the backend discarded
	// messages for this subscriber. A transport calls it once the
	// subscription is live again, before the first message received after
	// the gap, so a client that refetches its state when told misses nothing.
	HandleGap(g Gap)
}

// Subscription is a live Transport subscription.
type Subscription interface {
	// Close ends the subscription: once it returns, the handler is not
	// called again. Close is idempotent.
	Close() error
}

// BatchSender is an optional ability of a Transport: it sends several
// messages in one round trip (pgbus sends them in one transaction). Bus
// uses it when concurrent publishers queue up behind a send in flight.
type BatchSender interface {
	// SendBatch sends msgs in order, as len(msgs) calls to Send would, and
	// either accepts them all or returns an error.
	SendBatch(ctx context.Context, msgs [][]byte) error
}

// SizeLimiter is an optional ability of a Transport that bounds the size of
// a message. The conformance suite checks the bound is exact.
type SizeLimiter interface {
	// MaxMessageSize is the largest message Send accepts, in bytes; larger
	// ones fail with an error wrapping ErrTooLarge.
	MaxMessageSize() int
}

// Gap tells that signals may have been missed. A host usually reacts by
// telling its clients to refetch what the signals would have updated (for
// the notifications inbox, the unread count and the list).
type Gap struct {
	// Origin is the instance (its BusConfig.InstanceID) whose signals were
	// lost, when a Bus saw a hole in that instance's sequence numbers. It is
	// empty when signals from any instance may be missing, as after a lost
	// connection.
	Origin string
	// Missed is how many signals are known to be lost from Origin; 0 when
	// unknown.
	Missed uint64
	// Since is when signals may have started going missing; zero when
	// unknown.
	Since time.Time
	// Until is when delivery resumed.
	Until time.Time
	// Err is the cause the transport saw (a connection error, a slow
	// consumer), if any.
	Err error
}

var (
	// ErrTooLarge is wrapped by the error of a Transport (and so of a Bus)
	// asked to send a message above its size limit.
	ErrTooLarge = errors.New("signals: message too large")

	// ErrClosed is wrapped by the error of a Bus or Transport used after
	// Close.
	ErrClosed = errors.New("signals: closed")
)
