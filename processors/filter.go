package processors

import (
	"strings"

	"github.com/heraldhq/herald/notifications"
)

// FilterConfig is the filter block of a processor's configuration, as
// Backstage reads it from filter.minSeverity, filter.maxSeverity,
// filter.includedTopics and filter.excludedTopics. Its JSON (and YAML, with
// a decoder that honours json tags) field names are Backstage's. The zero
// FilterConfig allows everything.
type FilterConfig struct {
	// MinSeverity skips notifications less severe than it. Defaults to no
	// lower bound.
	MinSeverity string `json:"minSeverity,omitempty"`
	// MaxSeverity skips notifications more severe than it. Defaults to no
	// upper bound.
	MaxSeverity string `json:"maxSeverity,omitempty"`
	// IncludedTopics, when set, skips notifications without a topic or
	// with a topic not listed. Defaults to every topic.
	IncludedTopics []string `json:"includedTopics,omitempty"`
	// ExcludedTopics skips notifications with a listed topic. Defaults to
	// none.
	ExcludedTopics []string `json:"excludedTopics,omitempty"`
}

// Filters converts c into notifications.Filters. Severities are trimmed
// and lower-cased first; one that is still not a severity is an error
// whose message includes Backstage's "Invalid minSeverity: X" (or
// maxSeverity), and errors.Is(err, notifications.ErrInvalid) holds for it.
// Topic lists are copied, so c may be reused.
func (c FilterConfig) Filters() (notifications.ProcessorFilter, error) {
	f := notifications.ProcessorFilter{
		MinSeverity:    severity(c.MinSeverity),
		MaxSeverity:    severity(c.MaxSeverity),
		IncludedTopics: clone(c.IncludedTopics),
		ExcludedTopics: clone(c.ExcludedTopics),
	}
	if err := f.Validate(); err != nil {
		// Report the value as configured, not as normalised.
		g := notifications.ProcessorFilter{MinSeverity: rawIfBad(c.MinSeverity), MaxSeverity: rawIfBad(c.MaxSeverity)}
		if gerr := g.Validate(); gerr != nil {
			err = gerr
		}
		return notifications.ProcessorFilter{}, err
	}
	return f, nil
}

func severity(s string) notifications.Severity {
	return notifications.Severity(strings.ToLower(strings.TrimSpace(s)))
}

// rawIfBad keeps a bad severity as written, so the error names it, and
// blanks a good one.
func rawIfBad(s string) notifications.Severity {
	if s == "" || severity(s).Valid() {
		return ""
	}
	return notifications.Severity(s)
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
