package attempt

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

func TestMessageID(t *testing.T) {
	t.Parallel()
	n := notifications.Notification{ID: "n"}
	if id, ok := MessageID(t.Context(), n); ok || id != "" {
		t.Fatalf("without a delivery: %q, %v", id, ok)
	}
	ctx := notifications.ContextWithDelivery(t.Context(), notifications.Delivery{ID: "d-1", Attempts: 1})
	if id, ok := MessageID(ctx, n); !ok || id != "d-1" {
		t.Fatalf("first send: %q, %v; want the delivery id", id, ok)
	}
	at := time.Unix(1700000000, 123)
	n.Updated = &at
	if id, _ := MessageID(ctx, n); id != "d-1_1700000000000000123" {
		t.Fatalf("re-send: %q, want the delivery id and the update's time", id)
	}
	if IsRetry(ctx) || IsRetry(t.Context()) {
		t.Fatal("a first attempt, or none, is not a retry")
	}
	if !IsRetry(notifications.ContextWithDelivery(t.Context(), notifications.Delivery{ID: "d-1", Attempts: 2})) {
		t.Fatal("attempt 2 is a retry")
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	a, b := errors.New("a"), errors.New("b")
	var none Outcome
	if err := none.Err(); err != nil {
		t.Fatalf("no failure: %v", err)
	}

	var perm Outcome
	perm.Add(a, true, 0)
	perm.Add(b, true, 0)
	if err := perm.Err(); !notifications.IsPermanent(err) || !errors.Is(err, a) || !errors.Is(err, b) {
		t.Fatalf("all permanent: %v", err)
	}

	// One transient failure makes the whole retryable; the longest wait wins.
	var mixed Outcome
	mixed.Add(a, true, 0)
	mixed.Add(b, false, 3*time.Second)
	mixed.Add(errors.New("c"), false, 7*time.Second)
	err := mixed.Err()
	if d, ok := notifications.RetryAfter(err); notifications.IsPermanent(err) || !ok || d != 7*time.Second || !errors.Is(err, a) {
		t.Fatalf("mixed: %v (after %s, %v)", err, d, ok)
	}

	var plain Outcome
	plain.Add(a, false, 0)
	if err := plain.Err(); notifications.IsPermanent(err) || !errors.Is(err, a) {
		t.Fatalf("transient: %v", err)
	} else if _, ok := notifications.RetryAfter(err); ok {
		t.Fatalf("transient without a wait asked: %v", err)
	}
}

func TestReached(t *testing.T) {
	t.Parallel()
	r := NewReached()
	if r.Load("") != nil || r.Load("m") != nil {
		t.Fatal("empty Reached loaded something")
	}
	r.Finish("", nil, []string{"x"}, true)
	if r.Load("") != nil {
		t.Fatal(`"" remembered`)
	}
	r.Finish("m", nil, []string{"a"}, true)
	r.Finish("m", r.Load("m"), []string{"b"}, true)
	if got := r.Load("m"); len(got) != 2 || !got["a"] || !got["b"] {
		t.Fatalf("after two failed attempts: %v", got)
	}
	r.Finish("m", r.Load("m"), []string{"c"}, false)
	if got := r.Load("m"); got != nil {
		t.Fatalf("after a successful attempt: %v, want forgotten", got)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	if got := RedactURL("https://u:p@h.example/hook?key=s3cret#f"); got != "https://h.example/hook" {
		t.Fatalf("RedactURL = %q", got)
	}
	err := RedactError(&url.Error{Op: "Post", URL: "https://h.example/hook?key=s3cret", Err: context.DeadlineExceeded})
	if strings.Contains(err.Error(), "s3cret") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RedactError = %v", err)
	}
}
