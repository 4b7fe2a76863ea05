// Package signals carries live events from a Herald service to the browsers
// of the users they concern: the Go counterpart of Backstage's signals-node
// (the SignalsService) and the fan-out half of signals-backend.
//
// A Signal names its recipients, a channel and a JSON message. Publishers hand
// signals to a Publisher; the in-process Hub is one, and delivers each signal
// to the subscribers (WebSocket connections, SSE streams, tests) that are
// subscribed to its channel and own one of its recipient refs. Across
// instances, a Bus is the Publisher: it sends each signal through a
// Transport (packages pgbus, natsbus) and feeds the Hub of every instance.
//
// This package imports nothing else of Herald's, so a plugin can depend on
// it alone.
package signals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// RecipientType says who a signal is for.
type RecipientType string

const (
	// RecipientUser addresses the connections that own one of the entity refs
	// (a user's own ref, or a group the user belongs to).
	RecipientUser RecipientType = "user"
	// RecipientBroadcast addresses every connection.
	RecipientBroadcast RecipientType = "broadcast"
)

// Recipients is the audience of a signal. Its JSON form is Backstage's:
// {"type":"user","entityRef":["user:default/jane"]} or {"type":"broadcast"};
// "entityRef" may be a single string when decoding.
type Recipients struct {
	Type       RecipientType
	EntityRefs []string
}

// Entity addresses a signal to the connections that own any of refs.
func Entity(refs ...string) Recipients {
	return Recipients{Type: RecipientUser, EntityRefs: refs}
}

// Broadcast addresses a signal to every connection.
func Broadcast() Recipients { return Recipients{Type: RecipientBroadcast} }

// IsBroadcast reports whether the signal goes to every connection.
func (r Recipients) IsBroadcast() bool { return r.Type == RecipientBroadcast }

type wireRecipients struct {
	Type      RecipientType   `json:"type"`
	EntityRef json.RawMessage `json:"entityRef,omitempty"`
}

// MarshalJSON encodes the Backstage wire form; entity refs are always an array.
func (r Recipients) MarshalJSON() ([]byte, error) {
	w := wireRecipients{Type: r.Type}
	if r.Type != RecipientBroadcast {
		refs := r.EntityRefs
		if refs == nil {
			refs = []string{}
		}
		b, err := json.Marshal(refs)
		if err != nil {
			return nil, err
		}
		w.EntityRef = b
	}
	return json.Marshal(w)
}

// UnmarshalJSON accepts "entityRef" as a string or an array of strings.
func (r *Recipients) UnmarshalJSON(data []byte) error {
	var w wireRecipients
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	r.Type = w.Type
	r.EntityRefs = nil
	if len(w.EntityRef) == 0 || string(w.EntityRef) == "null" {
		return nil
	}
	var one string
	if err := json.Unmarshal(w.EntityRef, &one); err == nil {
		r.EntityRefs = []string{one}
		return nil
	}
	if err := json.Unmarshal(w.EntityRef, &r.EntityRefs); err != nil {
		return errors.New("signals: entityRef must be a string or an array of strings")
	}
	return nil
}

// Signal is one live event. Message must encode to a JSON object; it is sent
// to clients as is, inside the frame {"channel": ..., "message": ...}.
type Signal struct {
	Recipients Recipients `json:"recipients"`
	Channel    string     `json:"channel"`
	Message    any        `json:"message"`
}

// ErrInvalidSignal is returned (wrapped) by Validate and by publishers for a
// signal without a channel or a message, or with an unknown recipient type.
var ErrInvalidSignal = errors.New("signals: invalid signal")

// Validate reports whether s can be delivered: Backstage ignores events
// without a channel or a message, and Herald refuses them at the door.
func (s Signal) Validate() error {
	switch {
	case s.Channel == "":
		return fmt.Errorf("%w: channel is required", ErrInvalidSignal)
	case s.Message == nil:
		return fmt.Errorf("%w: message is required", ErrInvalidSignal)
	case s.Recipients.Type != RecipientUser && s.Recipients.Type != RecipientBroadcast:
		return fmt.Errorf("%w: recipients type %q is neither %q nor %q",
			ErrInvalidSignal, s.Recipients.Type, RecipientUser, RecipientBroadcast)
	}
	return nil
}

// Publisher accepts signals for delivery: Backstage's SignalsService. Publish
// must not block on slow receivers; implementations are safe for concurrent
// use. An error means the signal was not accepted (for example an invalid
// signal, or a transport that is down); callers log it and carry on.
type Publisher interface {
	Publish(ctx context.Context, s Signal) error
}

// PublisherFunc adapts a function to a Publisher.
type PublisherFunc func(ctx context.Context, s Signal) error

// Publish calls f(ctx, s).
func (f PublisherFunc) Publish(ctx context.Context, s Signal) error { return f(ctx, s) }
