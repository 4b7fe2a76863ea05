// Package notificationstest helps host programs test code that sends
// notifications: a Recorder that stands in for a notifications.Sender and
// checks every request against Herald's rules, assertions over what it
// recorded, and, for tests of a real Service, a fake Clock with
// DeliverAll and AdvanceUntilDelivered, which run the deliveries (the
// post-processors' work) before they return, retries included, without
// waiting for real time.
//
// Code under test should depend on notifications.Sender, so that
//
//	rec := notificationstest.NewRecorder("plugin:my-plugin")
//	myPlugin := NewPlugin(rec)
//	myPlugin.DoSomething(ctx)
//	notificationstest.AssertSentTo(t, rec, "user:default/jane")
//
// tests what it sends without a database. To test the pipeline itself
// (resolution, settings, processors) use a real Service on an in-memory
// SQLite store instead: store.OpenSQLite(ctx, ":memory:"), with
//
//	clock := notificationstest.NewClock(time.Now())
//	svc, err := notifications.New(notifications.Config{Store: st, Processors: ps, Now: clock.Now, DeliveryWorkers: -1})
//	...
//	notificationstest.AdvanceUntilDelivered(t, svc, clock) // every delivery sent, failed or cancelled
package notificationstest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/entityref"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Sent is one recorded send request.
type Sent struct {
	Origin     string
	Recipients notifications.Recipients
	Payload    notifications.Payload
}

// Recorder is a notifications.Sender that records requests instead of
// delivering them. It refuses, without recording them, the requests a
// Service with the default resolver refuses: what SendOptions.Validate
// refuses, with the same *notifications.ValidationError, and entity refs
// without a kind, which the default resolver cannot resolve (also an
// error wrapping notifications.ErrInvalid). It is safe for concurrent use.
type Recorder struct {
	origin string
	mu     sync.Mutex
	sent   []Sent
	err    error
}

var _ notifications.Sender = (*Recorder)(nil)

// NewRecorder returns a Recorder whose requests come from origin.
func NewRecorder(origin string) *Recorder { return &Recorder{origin: origin} }

// FailWith makes every later Send return err (nil restores success), to
// test how the code under test handles a failing send.
func (r *Recorder) FailWith(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Send validates and records the request. It returns one notification per
// user ref among the recipients that is not excluded (refs compared
// canonically; groups and other kinds are not resolved), or one broadcast,
// with fresh ids.
func (r *Recorder) Send(ctx context.Context, rcp notifications.Recipients, p notifications.Payload) ([]notifications.Notification, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := notifications.SendOptions{Origin: r.origin, Recipients: rcp, Payload: p}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var verr notifications.ValidationError
	for i, ref := range rcp.EntityRefs {
		if parsed, err := entityref.Parse(ref); err == nil && parsed.Kind == "" {
			verr.Fields = append(verr.Fields, notifications.FieldError{
				Field:   fmt.Sprintf("recipients.entityRef[%d]", i),
				Message: fmt.Sprintf("%q names no kind, so the default resolver cannot resolve it", ref),
			})
		}
	}
	if len(verr.Fields) > 0 {
		return nil, &verr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	r.sent = append(r.sent, Sent{Origin: r.origin, Recipients: rcp, Payload: p})
	p.Severity = p.Severity.OrDefault()
	base := notifications.Notification{Origin: r.origin, Created: time.Now().UTC().Truncate(time.Millisecond), Payload: p}
	if rcp.IsBroadcast() {
		base.ID = uuid.New()
		return []notifications.Notification{base}, nil
	}
	excluded := make(map[string]bool, len(rcp.ExcludeEntityRefs))
	for _, ref := range rcp.ExcludeEntityRefs {
		excluded[canonical(ref)] = true
	}
	var out []notifications.Notification
	for _, ref := range rcp.EntityRefs {
		if parsed, err := entityref.Parse(ref); err == nil && parsed.IsUser() && !excluded[parsed.String()] {
			n := base
			n.ID, n.User = uuid.New(), parsed.String()
			out = append(out, n)
		}
	}
	return out, nil
}

// Sent returns a copy of the recorded requests, oldest first.
func (r *Recorder) Sent() []Sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// Reset forgets the recorded requests.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = nil
}
