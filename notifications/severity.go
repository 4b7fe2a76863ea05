package notifications

import (
	"fmt"
	"slices"
)

// Severity ranks how urgent a notification is. The zero value means
// SeverityNormal wherever a severity is read.
type Severity string

// The four severities, most severe first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityNormal   Severity = "normal"
	SeverityLow      Severity = "low"
)

// severities is every severity, most severe first. It is never handed
// out: callers get copies, so no caller can change another's view.
var severities = [...]Severity{SeverityCritical, SeverityHigh, SeverityNormal, SeverityLow}

// Severities returns every severity, most severe first, in a new slice
// the caller may keep and change.
func Severities() []Severity { return slices.Clone(severities[:]) }

// ParseSeverity returns the severity named s exactly (lower case, as on the
// wire); anything else is an error wrapping ErrInvalid.
func ParseSeverity(s string) (Severity, error) {
	if sev := Severity(s); sev.Valid() {
		return sev, nil
	}
	return "", fmt.Errorf("%w: severity %q is not one of critical, high, normal, low", ErrInvalid, s)
}

// Valid reports whether s is one of the four severities. The empty severity
// is not valid here; use OrDefault first where empty means normal.
func (s Severity) Valid() bool {
	switch s {
	case SeverityCritical, SeverityHigh, SeverityNormal, SeverityLow:
		return true
	}
	return false
}

// OrDefault returns s, or SeverityNormal when s is empty.
func (s Severity) OrDefault() Severity {
	if s == "" {
		return SeverityNormal
	}
	return s
}

// Rank orders severities: 0 for critical up to 3 for low, as Backstage
// indexes them. The empty severity ranks as normal; an unknown one ranks
// after low.
func (s Severity) Rank() int {
	switch s.OrDefault() {
	case SeverityCritical:
		return 0
	case SeverityHigh:
		return 1
	case SeverityNormal:
		return 2
	case SeverityLow:
		return 3
	}
	return len(severities)
}

// AtLeast reports whether s is as severe as minimum or more.
func (s Severity) AtLeast(minimum Severity) bool { return s.Rank() <= minimum.Rank() }

// AtMost reports whether s is as severe as maximum or less.
func (s Severity) AtMost(maximum Severity) bool { return s.Rank() >= maximum.Rank() }

// AndAbove returns s and every more severe severity, most severe first: the
// set a minimumSeverity filter selects. An unknown severity returns nil.
// The slice is new on every call; the caller may keep and change it.
func (s Severity) AndAbove() []Severity {
	r := s.Rank()
	if r >= len(severities) {
		return nil
	}
	return slices.Clone(severities[:r+1])
}
