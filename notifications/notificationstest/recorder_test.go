package notificationstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// fakeT records failures instead of failing the test, so the assertions'
// own failures can be checked.
type fakeT struct {
	testing.TB
	failures []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.failures = append(f.failures, fmt.Sprintf(format, args...))
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := NewRecorder("plugin:test")
	ns, err := rec.Send(ctx, notifications.Entity("user:jane", "group:default/team", "user:default/bob").Excluding("user:default/bob"),
		notifications.Payload{Title: "Deployed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].User != "user:default/jane" || ns[0].Origin != "plugin:test" || ns[0].Payload.Severity != notifications.SeverityNormal {
		t.Fatalf("Send returned %+v", ns)
	}
	if _, err := rec.Send(ctx, notifications.Broadcast(), notifications.Payload{Title: "Maintenance"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Send(ctx, notifications.Broadcast(), notifications.Payload{}); !errors.Is(err, notifications.ErrInvalid) {
		t.Fatalf("invalid send: %v", err)
	}
	if ns, err := rec.Send(ctx, notifications.Entity("user:jane").Excluding("User:default/jane"), notifications.Payload{Title: "x"}); err != nil || len(ns) != 0 {
		t.Fatalf("exclusions are compared canonically: %v, %v", ns, err)
	}
	if _, err := rec.Send(ctx, notifications.Entity("jane"), notifications.Payload{Title: "x"}); !errors.Is(err, notifications.ErrInvalid) {
		t.Fatalf("a ref without a kind: %v, want ErrInvalid as the default resolver answers", err)
	}
	AssertCount(t, rec, 3)
	if s := AssertSentTo(t, rec, "user:default/jane"); s.Payload.Title != "Deployed" {
		t.Errorf("AssertSentTo returned %+v", s)
	}
	AssertBroadcast(t, rec)
	AssertTitle(t, rec, "Maintenance")

	boom := errors.New("down")
	rec.FailWith(boom)
	if _, err := rec.Send(ctx, notifications.Broadcast(), notifications.Payload{Title: "x"}); !errors.Is(err, boom) {
		t.Fatalf("FailWith: %v", err)
	}
	rec.Reset()
	AssertNothingSent(t, rec)
}

func TestAssertionsFail(t *testing.T) {
	t.Parallel()
	rec := NewRecorder("plugin:test")
	if _, err := rec.Send(context.Background(), notifications.Entity("user:default/jane"), notifications.Payload{Title: "Hello"}); err != nil {
		t.Fatal(err)
	}
	ft := &fakeT{TB: t}
	AssertSentTo(ft, rec, "user:default/bob")
	AssertBroadcast(ft, rec)
	AssertTitle(ft, rec, "Goodbye")
	AssertCount(ft, rec, 3)
	AssertNothingSent(ft, rec)
	if len(ft.failures) != 5 {
		t.Fatalf("got %d failures, want 5: %q", len(ft.failures), ft.failures)
	}
	if want := `  1. to user:default/jane: "Hello"`; !strings.Contains(ft.failures[0], want) {
		t.Errorf("failure message %q does not list the recorded send %q", ft.failures[0], want)
	}
}
