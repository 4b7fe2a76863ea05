package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DigestProcessor is a post-processor that can also deliver several of a
// user's notifications at once: one email listing them, say. Wrap it
// with Digest to have the Service hold a user's deliveries and hand them
// over together.
//
// PostProcessDigest is one attempt at a digest's delivery: the rules of
// PostProcess apply (return nil, Permanent, RetryLater or another error;
// do not retry inside it). DeliveryFromContext gives the digest's own
// delivery, whose id is the same on every attempt, and a retry gets the
// same notifications: the set is frozen when the digest is first claimed.
// ns is in the order the notifications were sent, oldest first, never
// empty, and every one is user's.
type DigestProcessor interface {
	Processor
	PostProcessor
	PostProcessDigest(ctx context.Context, user string, ns []Notification) error
}

// DigestConfig says how long a digest gathers and how much it delivers
// at once. Its zero value means the defaults.
type DigestConfig struct {
	// Window is how long a user's deliveries are held, from the first
	// one of a digest, before the digest is due. Defaults to
	// DefaultDigestWindow; a negative value means the default too.
	Window time.Duration
	// MaxItems is the most notifications one PostProcessDigest call
	// gets: the newest beyond it go in the next digest, due at once.
	// Defaults to DefaultDigestMaxItems; a negative value means the
	// default too, and a value above MaxDigestItems means MaxDigestItems.
	MaxItems int
}

// The digest defaults and bounds.
const (
	DefaultDigestWindow   = time.Hour
	DefaultDigestMaxItems = 50
	MaxDigestItems        = 1000
)

func (c DigestConfig) withDefaults() DigestConfig {
	if c.Window <= 0 {
		c.Window = DefaultDigestWindow
	}
	if c.MaxItems <= 0 {
		c.MaxItems = DefaultDigestMaxItems
	}
	c.MaxItems = min(c.MaxItems, MaxDigestItems)
	return c
}

// Digest returns p as a post-processor whose deliveries are held for a
// digest: instead of one PostProcess per notification, a user's
// deliveries of p are stored held, durably (a restart keeps them), for
// c.Window from the first one, then handed over in one
// PostProcessDigest call with at most c.MaxItems of them, oldest first;
// the rest go in the next call, at once.
//
// The returned processor has p's name (the settings channel, the
// deliveries' processor) and, when p is a FilteredProcessor, p's filter;
// it has no other phase of p. The user's channel settings and the filter
// decide, at send time as for any post-processor, which notifications are
// held; a user who turns the channel off while they are held gets none of
// them. A critical notification is not held: it goes at once, through
// p.PostProcess. Neither are broadcasts, which have no one user to
// gather for: they go through p.PostProcess too.
//
// A digest is a delivery of its own (Delivery.IsDigest), listed,
// retried, requeued and retained like any other; each held
// notification's delivery points at it (Delivery.DigestID) and takes its
// outcome. A notification deleted while held drops out of the digest,
// and a digest left with nothing is cancelled.
func Digest(p DigestProcessor, c DigestConfig) Processor {
	d := &digestProcessor{p: p, cfg: c.withDefaults()}
	if fp, ok := p.(FilteredProcessor); ok {
		return &filteredDigestProcessor{digestProcessor: d, filter: fp}
	}
	return d
}

// digestProcessor is Digest's processor: a post-processor whose
// deliveries the Service holds. One type with a filter and one without,
// so that detecting FilteredProcessor tells the truth.
type digestProcessor struct {
	p   DigestProcessor
	cfg DigestConfig
}

var (
	_ PostProcessor     = (*digestProcessor)(nil)
	_ FilteredProcessor = (*filteredDigestProcessor)(nil)
)

// Name returns the wrapped processor's name.
func (d *digestProcessor) Name() string { return d.p.Name() }

// PostProcess calls the wrapped processor's PostProcess: for a critical
// notification, a broadcast, or a delivery made before the processor was
// a digest.
func (d *digestProcessor) PostProcess(ctx context.Context, n Notification, o SendOptions) error {
	return d.p.PostProcess(ctx, n, o)
}

func (d *digestProcessor) digest() *digestProcessor { return d }

type filteredDigestProcessor struct {
	*digestProcessor
	filter FilteredProcessor
}

// Filter returns the wrapped processor's filter.
func (d *filteredDigestProcessor) Filter() ProcessorFilter { return d.filter.Filter() }

// digester is implemented by Digest's processors.
type digester interface{ digest() *digestProcessor }

// digestOf returns p's digest processor, nil when p is not one.
func digestOf(p Processor) *digestProcessor {
	if d, ok := p.(digester); ok {
		return d.digest()
	}
	return nil
}

// holds returns the digest a delivery of n is held for, nil when n goes
// at once: the processor is no digest, n is a broadcast, or critical.
func (d *digestProcessor) holds(n Notification) *DigestConfig {
	if d == nil || n.User == "" || n.Payload.Severity == SeverityCritical {
		return nil
	}
	return &d.cfg
}

// runDigest runs a digest's delivery: its members whose notification is
// still there and whose channel the user still has on, in one
// PostProcessDigest call. It returns the members it left out with the
// outcome.
func (s *Service) runDigest(ctx context.Context, c DeliveryClaim, p namedPostProcessor, settings claimedSettings) (DeliveryStatus, []string, error) {
	d := c.Delivery
	dp := digestOf(p.proc)
	if dp == nil {
		// A Service where the processor is not wrapped with Digest
		// cannot deliver one: like a missing processor, the digest fails
		// after its retries, with the reason.
		return "", nil, fmt.Errorf("notifications: the post-processor %q is not a digest in this Service", d.Processor)
	}
	if settings.err != nil {
		return "", nil, settings.err
	}
	var skipped []string
	ns := make([]Notification, 0, len(c.Digest))
	for _, m := range c.Digest {
		if m.Notification == nil ||
			!s.defaults.enabled(settings.rows[d.User], p.name(), m.Notification.Origin, m.Notification.Payload.Topic) {
			skipped = append(skipped, m.DeliveryID)
			continue
		}
		ns = append(ns, *m.Notification)
	}
	if len(ns) == 0 {
		return DeliveryCancelled, skipped, errors.New("cancelled: nothing left in the digest (notifications gone, or the channel turned off)")
	}
	_, err := callPhase(func() (struct{}, error) { return struct{}{}, dp.p.PostProcessDigest(ctx, d.User, ns) })
	if err != nil {
		return "", skipped, err
	}
	return DeliverySent, skipped, nil
}
