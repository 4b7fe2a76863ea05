package notifications

import (
	"testing"

	"github.com/heraldhq/herald/internal/entityref"
)

func TestCanonicalString(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{
		"user:default/jane", "user:jane", "User:Default/jane", "user:team-a/jane", "group:default/a",
		"user:default/Jane", "default/jane", "jane", "user:defaulx/jane", "user:default/jane2",
	} {
		p, err := entityref.Parse(ref)
		if err != nil {
			t.Fatal(err)
		}
		got, want := canonicalString(p, ref), p.String()
		if got != want {
			t.Errorf("canonicalString(%q) = %q, want %q", ref, got, want)
		}
	}
}
