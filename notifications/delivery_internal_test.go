package notifications

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{}.withDefaults()
	tests := []struct {
		attempt  int
		rnd      int64 // what the random source returns: 0 (lowest) or -1 (highest)
		min, max time.Duration
	}{
		{attempt: 1, min: 10 * time.Second, max: 10 * time.Second},
		{attempt: 2, min: 10 * time.Second, max: 20 * time.Second},
		{attempt: 3, min: 10 * time.Second, max: 40 * time.Second},
		{attempt: 7, min: 10 * time.Second, max: 10 * time.Minute},
		{attempt: 70, min: 10 * time.Second, max: 10 * time.Minute},
	}
	for _, tt := range tests {
		low := p.backoff(tt.attempt, func(int64) int64 { return 0 })
		high := p.backoff(tt.attempt, func(n int64) int64 { return n - 1 })
		if low != tt.min || high != tt.max {
			t.Errorf("attempt %d: backoff in [%v, %v], want [%v, %v]", tt.attempt, low, high, tt.min, tt.max)
		}
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	t.Parallel()
	got := RetryPolicy{MinBackoff: time.Minute, MaxBackoff: time.Second}.withDefaults()
	if got.MaxAttempts != 8 || got.MinBackoff != time.Minute || got.MaxBackoff != time.Minute {
		t.Fatalf("withDefaults = %+v", got)
	}
}

func TestDeliveryErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", "connection refused", "connection refused"},
		{"url.Error", `Post "https://hooks.slack.com/services/T0/B0/secret": dial tcp: i/o timeout`,
			`Post "https://hooks.slack.com": dial tcp: i/o timeout`},
		{"user info and query", "GET https://user:pw@example.com:8443/x?token=s3cret#frag failed",
			"GET https://example.com:8443 failed"},
		{"two urls", "http://a.example/k1 then http://b.example/k2", "http://a.example then http://b.example"},
		{"no host", "file:///etc/secret missing", "file://(redacted) missing"},
		{"in angle brackets", "<https://x.example/path>", "<https://x.example>"},
		{"followed by a colon", "to http://127.0.0.1:8080/hook?k=1: answered 503", "to http://127.0.0.1:8080: answered 503"},
		{"ending a sentence", "see https://x.example/a/b.", "see https://x.example."},
		{"unparsable", "to http://[::1/secret failed", "to http://(redacted) failed"},
	}
	for _, tt := range tests {
		if got := deliveryErrorText(errors.New(tt.in)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	long := deliveryErrorText(errors.New(strings.Repeat("é", MaxDeliveryErrorLength)))
	if len(long) > MaxDeliveryErrorLength || !utf8.ValidString(long) || !strings.HasSuffix(long, "…") {
		t.Errorf("a long error is kept as %d bytes, valid UTF-8 %v", len(long), utf8.ValidString(long))
	}
	if exact := strings.Repeat("x", MaxDeliveryErrorLength); deliveryErrorText(errors.New(exact)) != exact {
		t.Error("an error of exactly the limit was cut")
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &Service{clock: func() time.Time { return now }, retry: RetryPolicy{MaxAttempts: 3}.withDefaults(), jitter: func(int64) int64 { return 0 }}
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	boom := errors.New("boom")
	tests := []struct {
		name     string
		attempts int
		status   DeliveryStatus
		err      error
		want     DeliveryStatus
		next     *time.Time
	}{
		{"sent", 1, DeliverySent, nil, DeliverySent, nil},
		{"cancelled keeps the reason", 1, DeliveryCancelled, errors.New("cancelled: gone"), DeliveryCancelled, nil},
		{"plain error retries at the backoff", 1, "", boom, DeliveryRetrying, at(10 * time.Second)},
		{"permanent fails at once", 1, "", Permanent(boom), DeliveryFailed, nil},
		{"retry later waits longer than the backoff", 2, "", RetryLater(boom, time.Hour), DeliveryRetrying, at(time.Hour)},
		{"retry later never sooner than the backoff", 1, "", RetryLater(boom, time.Second), DeliveryRetrying, at(10 * time.Second)},
		{"retry later is capped", 1, "", RetryLater(boom, 1000*time.Hour), DeliveryRetrying, at(maxRetryAfter)},
		{"the last attempt fails", 3, "", boom, DeliveryFailed, nil},
		{"the last attempt fails even asked to wait", 3, "", RetryLater(boom, time.Minute), DeliveryFailed, nil},
		{"a panic is an error like another", 1, "", &panicError{value: "x"}, DeliveryRetrying, at(10 * time.Second)},
	}
	for _, tt := range tests {
		out := s.outcome(Delivery{ID: "d", Attempts: tt.attempts}, "tok", tt.status, tt.err)
		if out.Status != tt.want || out.ID != "d" || out.Token != "tok" || !out.Now.Equal(now) ||
			(out.NextAttempt == nil) != (tt.next == nil) || tt.next != nil && !out.NextAttempt.Equal(*tt.next) {
			t.Errorf("%s: %+v, want %s next %v", tt.name, out, tt.want, tt.next)
		}
		if (tt.err != nil) != (out.LastError != "") {
			t.Errorf("%s: LastError %q for error %v", tt.name, out.LastError, tt.err)
		}
	}
}
