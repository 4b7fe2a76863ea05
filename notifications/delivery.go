package notifications

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// A delivery is everything one post-processor does for one stored
// notification: one record per (notification, post-processor), written in
// the send's own transaction and worked off by the Service's delivery
// workers, so a crash after commit loses nothing. Delivery is at least
// once: an attempt that ran but whose outcome was not recorded (a crash in
// between) runs again. The delivery id is the same on every attempt, so a
// downstream system can de-duplicate by it (the webhook processor sends it
// as webhook-id, the email processor derives Message-ID from it).

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// The delivery statuses. Pending and retrying deliveries are waiting for an
// attempt (NextAttempt says when); the others are final until a
// RetryDelivery.
const (
	DeliveryPending   DeliveryStatus = "pending"   // not attempted yet, or running its first attempt
	DeliveryRetrying  DeliveryStatus = "retrying"  // an attempt failed; another is due at NextAttempt
	DeliverySent      DeliveryStatus = "sent"      // the post-processor returned nil
	DeliveryFailed    DeliveryStatus = "failed"    // attempts exhausted, or a Permanent error
	DeliveryCancelled DeliveryStatus = "cancelled" // the notification is gone, or the user turned the channel off
)

// Valid reports whether s is one of the five statuses.
func (s DeliveryStatus) Valid() bool {
	switch s {
	case DeliveryPending, DeliveryRetrying, DeliverySent, DeliveryFailed, DeliveryCancelled:
		return true
	}
	return false
}

// Final reports whether s is sent, failed or cancelled.
func (s DeliveryStatus) Final() bool {
	return s == DeliverySent || s == DeliveryFailed || s == DeliveryCancelled
}

// Delivery is the record of one post-processor's work for one notification.
type Delivery struct {
	ID             string
	NotificationID string
	// User is the recipient, "" for a broadcast.
	User string
	// Origin is the origin of the send that made the delivery.
	Origin    string
	Processor string
	Status    DeliveryStatus
	// Attempts counts the attempts started, the running one included.
	Attempts int
	// LastError is the last failed attempt's error text, at most
	// MaxDeliveryErrorLength bytes, with URLs reduced to scheme and host.
	LastError string
	// NextAttempt is when the next attempt is due, while pending or
	// retrying; nil once final, and nil while a pending delivery is held
	// for a digest.
	NextAttempt *time.Time
	// DigestID links a delivery to a digest (see Digest). On a digest's
	// own delivery it is its ID; its NotificationID is its ID too, since
	// it delivers several. On a notification's delivery held for a
	// digest it is the digest's delivery id: the delivery stays pending,
	// with no NextAttempt, until the digest's outcome is applied to it.
	// "" for every other delivery.
	DigestID string
	Created  time.Time
	Updated  time.Time
}

// IsDigest reports whether d is a digest's own delivery, which delivers
// several notifications in one PostProcessDigest call.
func (d Delivery) IsDigest() bool { return d.DigestID != "" && d.DigestID == d.ID }

// MaxDeliveryErrorLength bounds Delivery.LastError, in bytes.
const MaxDeliveryErrorLength = 1024

// DeliveryFilter selects deliveries. The zero DeliveryFilter selects the
// newest DefaultDeliveryLimit of every delivery.
type DeliveryFilter struct {
	// NotificationID keeps the deliveries of one notification, when set.
	NotificationID string
	// Processor keeps one processor's deliveries, when set.
	Processor string
	// Status keeps one status, when set.
	Status DeliveryStatus
	// Origin keeps the deliveries of one origin's sends, when set. The
	// REST API sets it to the calling service's origin.
	Origin string
	// Limit caps the result. Defaults to DefaultDeliveryLimit; at most
	// MaxDeliveryLimit.
	Limit int
}

// Bounds of DeliveryFilter.Limit.
const (
	DefaultDeliveryLimit = 100
	MaxDeliveryLimit     = 1000
)

// RetryPolicy says how often and how soon a failed delivery is tried
// again: exponential backoff with full jitter, the n-th retry waiting a
// random duration up to min(MaxBackoff, MinBackoff·2ⁿ⁻¹), never less than
// MinBackoff. The zero RetryPolicy means the defaults: 8 attempts, 10
// seconds to 10 minutes apart, about half an hour in all.
type RetryPolicy struct {
	// MaxAttempts is how many attempts a delivery gets before it fails.
	// Defaults to 8; 1 means no retry.
	MaxAttempts int
	// MinBackoff is the shortest wait before a retry. Defaults to 10s.
	MinBackoff time.Duration
	// MaxBackoff caps the wait before a retry. Defaults to 10m.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = 10 * time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 10 * time.Minute
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	return p
}

// backoff returns the wait after the attempt-th failed attempt (1-based),
// drawn with full jitter between MinBackoff and the exponential cap.
func (p RetryPolicy) backoff(attempt int, rnd func(n int64) int64) time.Duration {
	ceiling := p.MaxBackoff
	if attempt < 63 {
		if d := p.MinBackoff << (attempt - 1); d > 0 && d < ceiling {
			ceiling = d
		}
	}
	if ceiling <= p.MinBackoff {
		return p.MinBackoff
	}
	if rnd == nil {
		rnd = rand.Int64N
	}
	return p.MinBackoff + time.Duration(rnd(int64(ceiling-p.MinBackoff)+1))
}

// Permanent marks a post-processor's error as one that retrying cannot
// fix (a rejected address, a 4xx from a webhook): the delivery fails at
// once. errors.Is and errors.As see through it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// RetryLater marks a post-processor's error as one to retry no sooner than
// after (a 429 or 503 with Retry-After): the next attempt waits the longer
// of after and the policy's backoff, and still counts against
// MaxAttempts. errors.Is and errors.As see through it. RetryLater(nil, d)
// is nil.
func RetryLater(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryLaterError{err: err, after: after}
}

type retryLaterError struct {
	err   error
	after time.Duration
}

func (e *retryLaterError) Error() string {
	return fmt.Sprintf("%s (retry after %s)", e.err.Error(), e.after)
}
func (e *retryLaterError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfter returns the wait a RetryLater in err's chain asks for.
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryLaterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

type deliveryKey struct{}

// DeliveryFromContext returns, inside PostProcess, the delivery the
// attempt belongs to: its id is the same on every attempt (a key for
// downstream de-duplication), and Attempts counts this one. Inside
// PostProcessDigest it is the digest's own delivery.
func DeliveryFromContext(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

// ContextWithDelivery returns ctx carrying d for DeliveryFromContext. The
// Service sets it for every attempt; a host calls it to test a
// post-processor on its own.
func ContextWithDelivery(ctx context.Context, d Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// ErrLeaseLost is wrapped by the Store's delivery calls when the lease
// token presented no longer holds the delivery: its lease ran out and
// another worker claimed it. The outcome of such an attempt is dropped.
var ErrLeaseLost = errors.New("notifications: delivery lease lost")

// SendRecord is the durable record of one send, written with its
// deliveries, so that a post-processor that runs after a restart gets the
// same SendOptions as it would have in-process.
type SendRecord struct {
	ID     string
	Origin string
	// Options is the send as the post-processors see it: validated,
	// canonical, after the options phase.
	Options SendOptions
	// TraceParent is the W3C traceparent of the send's span, "" when none:
	// delivery attempts link to it.
	TraceParent string
	// IdempotencyKey is the send's key, "" when none. A send with a key
	// writes its record first in its transaction, even with no
	// deliveries, so that a concurrent send with the same key waits for
	// it (or, on commit, finds the key used: ErrIdempotencyKeyUsed); the
	// store keeps the notifications it returns as the send's result.
	IdempotencyKey string
	// RequestHash identifies the request the key stands for; "" without
	// a key.
	RequestHash string
	// KeyExpiredBefore, when not zero, is the key's expiry cutoff: a send
	// of the same origin holding the key and created before it has
	// expired, and the store takes the key from it first.
	KeyExpiredBefore time.Time
	// Schedule, when set, is the lease of the scheduled send this send
	// runs: the store marks it sent in the same transaction, or writes
	// nothing and returns ErrLeaseLost when the lease no longer holds.
	Schedule *ScheduleLease
	Created  time.Time
}

// DeliveryWrite is what a send writes besides its notifications: the send
// record and one delivery per (notification, post-processor).
type DeliveryWrite struct {
	Send       SendRecord
	Deliveries []NewDelivery
}

// NewDelivery is a delivery to write with a send. It starts pending, due
// at the send's Created time.
type NewDelivery struct {
	// ID is the delivery id, a UUID, stable across attempts.
	ID        string
	Processor string
	// Index is the position, among the notifications saved with it, of
	// the notification it delivers.
	Index int
	// Snapshot, when set, is the notification to deliver, which is not
	// stored in the inbox (its user turned the in-app channel off); Index
	// is then ignored.
	Snapshot *Notification
	// Digest, when set, holds the delivery for a digest of its processor
	// and user instead of making it due: it joins the user's open digest
	// of the processor, or opens one due Digest.Window after the send's
	// Created, delivering at most Digest.MaxItems at once. Only a user's
	// notification can be held (a broadcast's delivery is refused with
	// ErrInvalid). Window and MaxItems must be positive.
	Digest *DigestConfig
}

// ClaimOptions is what Store.ClaimDeliveries claims.
type ClaimOptions struct {
	// Now is the claimer's clock: deliveries due at or before it are due.
	Now time.Time
	// Lease is how long the claim holds before another may take over.
	Lease time.Duration
	// Limit caps how many deliveries one call claims.
	Limit int
}

// DeliveryClaim is one leased delivery with what its attempt needs.
type DeliveryClaim struct {
	// Delivery is the delivery as leased: Attempts counts this attempt.
	Delivery Delivery
	// Token is the lease token; FinishDelivery and RenewDeliveryLease
	// must present it.
	Token string
	// Options and TraceParent come from the delivery's send record.
	Options     SendOptions
	TraceParent string
	// Notification is the notification as stored now (for a broadcast,
	// the broadcast row), or the snapshot written with the delivery; nil
	// when it no longer exists, and for a digest.
	Notification *Notification
	// Digest is, for a digest's delivery (Delivery.IsDigest), what it
	// delivers, oldest first: the members frozen at its first claim (at
	// most its MaxItems; the newest extras moved to new digests due at
	// once), less those whose notification is gone. Empty, not nil, for
	// a digest with nothing left; nil for every other delivery.
	Digest []DigestMember
}

// DigestMember is one notification a claimed digest delivers.
type DigestMember struct {
	// DeliveryID is the member's own delivery, which takes the digest's
	// outcome.
	DeliveryID string
	// Notification is as stored now, or the member's snapshot; nil when
	// it no longer exists.
	Notification *Notification
}

// DeliveryOutcome is the result of one attempt, for Store.FinishDelivery.
type DeliveryOutcome struct {
	ID    string
	Token string
	// Status is DeliverySent, DeliveryRetrying, DeliveryFailed or
	// DeliveryCancelled.
	Status    DeliveryStatus
	LastError string
	// NextAttempt is when a retrying delivery is due; nil otherwise.
	NextAttempt *time.Time
	Now         time.Time
	// Skipped lists, for a digest, the member deliveries the attempt left
	// out (the user turned the channel off for their origin or topic,
	// their notification is gone): they are cancelled whatever Status is.
	// The other members take Status once it is final (sent, failed,
	// cancelled), and stay held while the digest retries.
	Skipped []string
}
