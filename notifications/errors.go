package notifications

import (
	"errors"
	"strings"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrInvalid marks bad input: a send or settings request that breaks a
	// rule. Nothing was written. The error is usually a *ValidationError.
	ErrInvalid = errors.New("notifications: invalid request")
	// ErrNotFound means the notification does not exist or the caller
	// cannot see it; the two are indistinguishable on purpose.
	ErrNotFound = errors.New("notifications: not found")
	// ErrClosed is returned by Send after Close.
	ErrClosed = errors.New("notifications: service closed")
	// ErrUnavailable means the store could not be reached (a lost
	// connection, a database restarting, SQLite's write lock held past
	// its busy timeout) after the store's own retries. Nothing was
	// committed, except when the connection was lost at COMMIT itself:
	// then the call may have taken effect. Over HTTP it is a 503 with
	// Retry-After. Stores wrap their transient failures with it.
	ErrUnavailable = errors.New("notifications: store unavailable")
	// ErrIdempotencyConflict means the send's or schedule's
	// IdempotencyKey was already used by the same origin, within
	// Config.IdempotencyTTL, for a different request. Nothing was written.
	// Over HTTP it is a 422.
	ErrIdempotencyConflict = errors.New("notifications: idempotency key already used for a different request")
	// ErrIdempotencyKeyUsed is what a Store returns (wrapped) from
	// SaveNotifications or SaveBroadcast when the send record's
	// (origin, idempotency key) is already held by a committed send:
	// nothing of the call was written. The Service then returns that
	// send's result; callers of the Service never see it.
	ErrIdempotencyKeyUsed = errors.New("notifications: idempotency key already used")
)

// FieldError is one broken rule.
type FieldError struct {
	// Field is the JSON path of the bad value, like "payload.title" or
	// "recipients.entityRef[1]".
	Field string
	// Message says what is wrong, for a person.
	Message string
}

func (f FieldError) String() string { return f.Field + ": " + f.Message }

// ValidationError lists every bad field of a request, so a caller can fix
// them all at once. errors.Is(err, ErrInvalid) holds for it.
type ValidationError struct {
	Fields []FieldError
}

// Error joins the field messages: "invalid request: payload.title: is
// required; payload.link: ...".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("notifications: invalid request")
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func (e *ValidationError) add(field, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: message})
}

// errOrNil returns e when it holds a field, nil otherwise.
func (e *ValidationError) errOrNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// ResolveError reports that the recipients of a send could not be
// resolved: an unresolvable ref (which also matches ErrInvalid) or a
// catalog or resolver failure.
type ResolveError struct {
	Err     error
	invalid bool
}

func (e *ResolveError) Error() string {
	return "notifications: failed to send user notifications: " + e.Err.Error()
}

// Unwrap returns the cause, and ErrInvalid when the cause is bad input.
func (e *ResolveError) Unwrap() []error {
	if e.invalid {
		return []error{e.Err, ErrInvalid}
	}
	return []error{e.Err}
}
