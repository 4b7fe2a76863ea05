package notifications_test

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

func TestCanonicalEntityRef(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string
	}{
		{"user:jane", "user:default/jane"},
		{"User:Default/Jane", "user:default/Jane"},
		{"group:Team-A/platform", "group:team-a/platform"},
		{"component:default/my.service_1", "component:default/my.service_1"},
		{"user:café", "user:default/café"},
		{"jane", ""},
		{"default/jane", ""},
		{"user:", ""},
		{":jane", ""},
		{"user:a/b/c", ""},
		{"user:jane doe", ""},
		{"user:jane\x00", ""},
		{"user:\xff", ""},
		{"", ""},
	} {
		got, err := notifications.CanonicalEntityRef(tt.in)
		if tt.want == "" {
			var verr *notifications.ValidationError
			if !errors.Is(err, notifications.ErrInvalid) || !errors.As(err, &verr) || verr.Fields[0].Field != "entityRef" {
				t.Errorf("CanonicalEntityRef(%q) = %q, %v; want a *ValidationError naming entityRef", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CanonicalEntityRef(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if again, err := notifications.CanonicalEntityRef(got); err != nil || again != got {
			t.Errorf("CanonicalEntityRef(%q) = %q, %v; a canonical ref must map to itself", got, again, err)
		}
	}
}
