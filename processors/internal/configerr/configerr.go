// Package configerr collects the faults of a built-in processor's Config,
// so that its New reports every one of them at once, each wrapping the
// processor's ErrConfig sentinel for callers to branch on.
package configerr

import (
	"errors"
	"fmt"
)

// List is the faults found so far. Make one with New; it is not safe for
// concurrent use.
type List struct {
	sentinel error
	errs     []error
}

// New returns an empty List whose faults wrap sentinel.
func New(sentinel error) *List { return &List{sentinel: sentinel} }

// Addf records the fault that format and args describe (fmt.Errorf
// verbs).
func (l *List) Addf(format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%w: "+format, append([]any{l.sentinel}, args...)...))
}

// Add records err as a fault.
func (l *List) Add(err error) {
	l.errs = append(l.errs, fmt.Errorf("%w: %w", l.sentinel, err))
}

// Err returns the faults joined in the order they were recorded
// (errors.Join), or nil if there are none.
func (l *List) Err() error { return errors.Join(l.errs...) }
