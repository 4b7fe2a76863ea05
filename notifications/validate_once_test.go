package notifications_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// Send validates a request once, then again only when the options phase
// or canonicalisation may have changed it. A ref that is valid as given
// but too long once its default namespace is added must still be refused.
func TestSendRevalidatesCanonicalRefs(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ref := "user:" + strings.Repeat("a", 250) // 255 bytes; canonical, 263
	for _, r := range []notifications.Recipients{
		notifications.Entity(ref),
		notifications.Entity(mockUser).Excluding(ref),
	} {
		_, err := f.svc.Send(f.ctx, notifications.SendOptions{Origin: origin, Recipients: r, Payload: notifications.Payload{Title: "t"}})
		if !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("Send(%v) error = %v, want ErrInvalid", r, err)
		}
	}
}
