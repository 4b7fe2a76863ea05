// Package attempt holds what the built-in processors share about one
// delivery attempt: the stable id of the message it sends, joining the
// failures of its targets (addresses, endpoints, channels) into one
// error the Service classifies, and remembering which targets earlier
// attempts of a delivery reached, so that a retry in the same process
// sends only what failed.
package attempt

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/internal/ttlcache"
)

// MessageID returns the id of the message n's delivery sends, the same on
// every attempt: the delivery id from ctx, followed for a re-sent
// notification (n.Updated set) by "_" and the update's time in Unix
// nanoseconds. A scoped re-send that replaces a pending delivery keeps its
// delivery id but changes its content; the suffix keeps a receiver that
// de-duplicates by id from taking the new content for a retry of the old.
// ok is false when ctx carries no delivery (PostProcess called directly).
func MessageID(ctx context.Context, n notifications.Notification) (string, bool) {
	d, ok := notifications.DeliveryFromContext(ctx)
	if !ok || d.ID == "" {
		return "", false
	}
	if n.Updated == nil {
		return d.ID, true
	}
	return d.ID + "_" + strconv.FormatInt(n.Updated.UnixNano(), 10), true
}

// IsRetry reports whether ctx's delivery attempt repeats an earlier one.
func IsRetry(ctx context.Context) bool {
	d, ok := notifications.DeliveryFromContext(ctx)
	return ok && d.Attempts > 1
}

// Outcome collects the failures of one attempt's targets. The zero
// Outcome is ready; it is safe for concurrent use.
type Outcome struct {
	mu        sync.Mutex
	errs      []error
	transient bool
	after     time.Duration
}

// Add records one target's failure: permanent when retrying cannot fix
// it; otherwise after is the wait the target asked for (0: the Service's
// backoff decides). err must not carry a notifications marker itself:
// Err marks the whole.
func (o *Outcome) Add(err error, permanent bool, after time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errs = append(o.errs, err)
	if !permanent {
		o.transient = true
		o.after = max(o.after, after)
	}
}

// Err returns nil when nothing failed. Otherwise it returns the failures
// joined, marked with notifications.Permanent when every one was permanent
// (a retry would only repeat them), else with notifications.RetryLater and
// the longest wait a target asked for, else unmarked: one transient
// failure makes the whole attempt worth retrying.
func (o *Outcome) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) == 0 {
		return nil
	}
	err := errors.Join(o.errs...)
	switch {
	case !o.transient:
		return notifications.Permanent(err)
	case o.after > 0:
		return notifications.RetryLater(err, o.after)
	}
	return err
}

// ReachedTTL is how long Reached remembers a delivery's reached targets
// after its last failed attempt: longer than the Service's default retries
// take, so only a retry much later (a RetryDelivery the next day, say)
// sends to every target again.
const ReachedTTL = 24 * time.Hour

// Reached remembers which targets the failed attempts of a delivery have
// reached, in memory: a retry run by the same process sends only to the
// others. After a restart, or when another instance runs the retry, every
// target is sent to again, with the same message ids. A delivery that
// succeeds is forgotten at once, so memory holds only deliveries that
// partly failed. It is safe for concurrent use.
type Reached struct {
	c *ttlcache.Cache[string, map[string]bool]
}

// NewReached returns an empty Reached.
func NewReached() *Reached {
	return &Reached{c: ttlcache.New[string, map[string]bool](ReachedTTL, nil)}
}

// Load returns the targets earlier attempts of the message id reached;
// nil for "" (no delivery) or a message none reached. The map is the
// caller's to read, not to change.
func (r *Reached) Load(id string) map[string]bool {
	if id == "" {
		return nil
	}
	done, _ := r.c.Get(id)
	return done
}

// Finish records the end of an attempt at the message id: when it failed,
// the targets reached before (done, from Load) and now (reached) are kept
// for the next attempt; when it succeeded, id is forgotten. Nothing is
// kept for "".
func (r *Reached) Finish(id string, done map[string]bool, reached []string, failed bool) {
	if id == "" {
		return
	}
	if !failed {
		r.c.Delete(id)
		return
	}
	if len(done)+len(reached) == 0 {
		return
	}
	all := make(map[string]bool, len(done)+len(reached))
	for t := range done {
		all[t] = true
	}
	for _, t := range reached {
		all[t] = true
	}
	r.c.Set(id, all)
}

// RedactURL drops the user info, query and fragment from a URL, for error
// texts and logs: webhook receivers and proxies often put a key there.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// RedactError redacts the URL a *url.Error in err's chain carries (net/http
// wraps every failed call in one, naming the whole URL), and returns err.
func RedactError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		ue.URL = RedactURL(ue.URL)
	}
	return err
}
