package notificationstest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/entityref"
)

// AssertCount fails t unless r recorded exactly n sends.
func AssertCount(t testing.TB, r *Recorder, n int) {
	t.Helper()
	if got := len(r.Sent()); got != n {
		t.Errorf("notificationstest: %d sends recorded, want %d:\n%s", got, n, describe(r.Sent()))
	}
}

// AssertSentTo fails t unless some recorded send named ref (compared
// canonically, so "user:jane" matches "user:default/jane") among its
// entity refs, and returns the first such send.
func AssertSentTo(t testing.TB, r *Recorder, ref string) Sent {
	t.Helper()
	want := canonical(ref)
	for _, s := range r.Sent() {
		if slices.ContainsFunc(s.Recipients.EntityRefs, func(got string) bool { return canonical(got) == want }) {
			return s
		}
	}
	t.Errorf("notificationstest: nothing sent to %s; recorded:\n%s", ref, describe(r.Sent()))
	return Sent{}
}

// AssertBroadcast fails t unless some recorded send was a broadcast, and
// returns the first.
func AssertBroadcast(t testing.TB, r *Recorder) Sent {
	t.Helper()
	return AssertMatch(t, r, "a broadcast", func(s Sent) bool { return s.Recipients.IsBroadcast() })
}

// AssertTitle fails t unless some recorded send had this title, and
// returns the first.
func AssertTitle(t testing.TB, r *Recorder, title string) Sent {
	t.Helper()
	return AssertMatch(t, r, "title "+title, func(s Sent) bool { return s.Payload.Title == title })
}

// AssertMatch fails t unless some recorded send satisfies match, and
// returns the first; what describes the expectation in the failure.
func AssertMatch(t testing.TB, r *Recorder, what string, match func(Sent) bool) Sent {
	t.Helper()
	for _, s := range r.Sent() {
		if match(s) {
			return s
		}
	}
	t.Errorf("notificationstest: no send matches %s; recorded:\n%s", what, describe(r.Sent()))
	return Sent{}
}

// AssertNothingSent fails t if r recorded any send.
func AssertNothingSent(t testing.TB, r *Recorder) {
	t.Helper()
	AssertCount(t, r, 0)
}

func canonical(ref string) string {
	if c, err := entityref.Canonical(ref); err == nil {
		return c
	}
	return ref
}

func describe(sent []Sent) string {
	if len(sent) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for i, s := range sent {
		who := "broadcast"
		if !s.Recipients.IsBroadcast() {
			who = "to " + strings.Join(s.Recipients.EntityRefs, ", ")
		}
		fmt.Fprintf(&b, "  %d. %s: %q\n", i+1, who, s.Payload.Title)
	}
	return b.String()
}
