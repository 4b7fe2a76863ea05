package processors_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/processors"
)

func TestAbsoluteLink(t *testing.T) {
	t.Parallel()
	tests := []struct{ base, link, want string }{
		{"http://localhost", "/catalog", "http://localhost/catalog"},
		{"http://localhost/", "/catalog", "http://localhost/catalog"},
		{"http://localhost", "", "http://localhost/notifications"},
		{"http://localhost/", "", "http://localhost/notifications"},
		{"https://b.example/portal", "/catalog/x?y=1#z", "https://b.example/portal/catalog/x?y=1#z"},
		{"https://b.example/portal/", "//evil.example/x", "https://b.example/portal/evil.example/x"},
		{"https://b.example/portal", "docs/a", "https://b.example/portal/docs/a"},
		{"http://localhost", "https://other.example/a", "https://other.example/a"},
		{"http://localhost", "  /padded ", "http://localhost/padded"},
	}
	for _, tt := range tests {
		if got := processors.AbsoluteLink(tt.base, tt.link); got != tt.want {
			t.Errorf("AbsoluteLink(%q, %q) = %q, want %q", tt.base, tt.link, got, tt.want)
		}
	}
}

func TestIsAbsoluteURL(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"https://a.example/x": true, "http://a": true, "/x": false, "mailto:a@b": false, "javascript:alert(1)": false, "": false,
	} {
		if got := processors.IsAbsoluteURL(s); got != want {
			t.Errorf("IsAbsoluteURL(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	var nilMetrics *processors.Metrics
	nilMetrics.Add("x", processors.EventSent) // must not panic
	if got := nilMetrics.Snapshot(); got != (processors.MetricsSnapshot{}) {
		t.Fatalf("nil snapshot = %+v", got)
	}

	var mu sync.Mutex
	seen := map[string]int{}
	m := &processors.Metrics{OnEvent: func(p string, e processors.Event) {
		mu.Lock()
		seen[p+"/"+string(e)]++
		mu.Unlock()
	}}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			m.Add("Email", processors.EventSent)
			m.Add("Email", processors.EventRetried)
			m.Add("Slack", processors.EventFailed)
		})
	}
	wg.Wait()
	if got, want := m.Snapshot(), (processors.MetricsSnapshot{Sent: 50, Failed: 50, Retried: 50}); got != want {
		t.Fatalf("snapshot = %+v, want %+v", got, want)
	}
	if seen["Email/sent"] != 50 || seen["Slack/failed"] != 50 || seen["Email/retried"] != 50 {
		t.Fatalf("OnEvent saw %v", seen)
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		th := processors.NewThrottle(2, 100*time.Millisecond)
		start := time.Now()
		var mu sync.Mutex
		var offsets []time.Duration
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if err := th.Wait(t.Context()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				offsets = append(offsets, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		count := map[time.Duration]int{}
		for _, o := range offsets {
			count[o]++
		}
		want := map[time.Duration]int{0: 2, 100 * time.Millisecond: 2, 200 * time.Millisecond: 1}
		if len(count) != len(want) || count[0] != 2 || count[100*time.Millisecond] != 2 || count[200*time.Millisecond] != 1 {
			t.Fatalf("start offsets = %v, want %v", count, want)
		}

		// After a quiet interval the budget is whole again.
		time.Sleep(time.Second)
		before := time.Now()
		for range 2 {
			if err := th.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if time.Since(before) != 0 {
			t.Fatalf("waited %s after a quiet interval", time.Since(before))
		}
	})
}

func TestThrottleContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		th := processors.NewThrottle(1, time.Hour)
		if err := th.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := th.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want deadline exceeded", err)
		}
		if err := processors.NewThrottle(0, time.Hour).Wait(t.Context()); err != nil {
			t.Fatalf("unthrottled Wait = %v", err)
		}
		var nilThrottle *processors.Throttle
		if err := nilThrottle.Wait(t.Context()); err != nil {
			t.Fatalf("nil Wait = %v", err)
		}
	})
}

// recordSleep returns a SleepFunc that records delays without waiting.
func recordSleep(delays *[]time.Duration) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		*delays = append(*delays, d)
		return ctx.Err()
	}
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	var delays []time.Duration
	r := processors.Retry{
		MaxAttempts: 6, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second,
		SleepFunc: recordSleep(&delays), JitterFunc: func(d time.Duration) time.Duration { return d },
	}
	boom := errors.New("boom")
	attempts := 0
	err := r.Do(t.Context(), func(_ context.Context, attempt int) error {
		attempts++
		if attempt != attempts {
			t.Errorf("attempt = %d, want %d", attempt, attempts)
		}
		return processors.Retryable(boom)
	})
	if !errors.Is(err, processors.ErrGaveUp) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want ErrGaveUp wrapping boom", err)
	}
	var re *processors.RetryableError
	if errors.As(err, &re) {
		t.Fatalf("the final error should not be marked retryable: %v", err)
	}
	if attempts != 6 {
		t.Fatalf("attempts = %d, want 6", attempts)
	}
	want := []time.Duration{100, 200, 400, 800, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if len(delays) != len(want) {
		t.Fatalf("delays = %v, want %v", delays, want)
	}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays = %v, want %v", delays, want)
		}
	}
}

func TestRetryFullJitterBounds(t *testing.T) {
	t.Parallel()
	var delays []time.Duration
	r := processors.Retry{MaxAttempts: 50, BaseDelay: 10 * time.Millisecond, MaxDelay: 80 * time.Millisecond, SleepFunc: recordSleep(&delays)}
	_ = r.Do(t.Context(), func(context.Context, int) error { return processors.Retryable(errors.New("x")) })
	if len(delays) != 49 {
		t.Fatalf("%d delays, want 49", len(delays))
	}
	distinct := map[time.Duration]bool{}
	for i, d := range delays {
		ceiling := min(10*time.Millisecond<<min(i, 10), 80*time.Millisecond)
		if d < 0 || d > ceiling {
			t.Fatalf("delay %d = %s, outside [0, %s]", i, d, ceiling)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct delays: no jitter?", len(distinct))
	}
}

func TestRetryPermanentAndSuccess(t *testing.T) {
	t.Parallel()
	var delays []time.Duration
	r := processors.Retry{SleepFunc: recordSleep(&delays)}
	bad := errors.New("400 bad request")
	calls := 0
	err := r.Do(t.Context(), func(context.Context, int) error { calls++; return bad })
	if !errors.Is(err, bad) || calls != 1 || len(delays) != 0 {
		t.Fatalf("permanent: err=%v calls=%d delays=%v", err, calls, delays)
	}

	calls = 0
	err = r.Do(t.Context(), func(_ context.Context, attempt int) error {
		calls++
		if attempt < 3 {
			return processors.Retryable(errors.New("503"))
		}
		return nil
	})
	if err != nil || calls != 3 || len(delays) != 2 {
		t.Fatalf("eventual success: err=%v calls=%d delays=%v", err, calls, delays)
	}
	if err := (processors.Retry{MaxAttempts: 1, SleepFunc: recordSleep(&delays)}).Do(t.Context(), func(context.Context, int) error {
		return processors.Retryable(errors.New("x"))
	}); !errors.Is(err, processors.ErrGaveUp) || len(delays) != 2 {
		t.Fatalf("MaxAttempts 1: err=%v delays=%v", err, delays)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	var delays []time.Duration
	r := processors.Retry{MaxDelay: 10 * time.Second, SleepFunc: recordSleep(&delays)}
	err := r.Do(t.Context(), func(_ context.Context, attempt int) error {
		if attempt == 1 {
			return processors.RetryAfter(errors.New("429"), 3*time.Second)
		}
		return nil
	})
	if err != nil || len(delays) != 1 || delays[0] != 3*time.Second {
		t.Fatalf("err=%v delays=%v, want one 3s wait", err, delays)
	}

	// A Retry-After beyond MaxDelay is given up on, not waited.
	delays = nil
	calls := 0
	err = r.Do(t.Context(), func(context.Context, int) error {
		calls++
		return processors.RetryAfter(errors.New("429"), time.Hour)
	})
	if !errors.Is(err, processors.ErrGaveUp) || calls != 1 || len(delays) != 0 {
		t.Fatalf("err=%v calls=%d delays=%v", err, calls, delays)
	}
}

func TestRetryContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		r := processors.Retry{MaxAttempts: 100, BaseDelay: time.Second, MaxDelay: time.Second, JitterFunc: func(d time.Duration) time.Duration { return d }}
		calls := 0
		err := r.Do(ctx, func(context.Context, int) error { calls++; return processors.Retryable(errors.New("down")) })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if calls != 2 {
			t.Fatalf("calls = %d, want 2 (at 0s and 1s)", calls)
		}
	})
}

func TestRetryValidate(t *testing.T) {
	t.Parallel()
	for _, r := range []processors.Retry{{MaxAttempts: -1}, {MaxAttempts: 101}, {BaseDelay: -1}, {MaxDelay: -1}} {
		if r.Validate() == nil {
			t.Errorf("%+v: Validate() = nil", r)
		}
	}
	if err := (processors.Retry{}).Validate(); err != nil {
		t.Errorf("zero Retry: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"Wed, 01 Jan 2025 10:00:30 GMT", 30 * time.Second, true},
		{"Wed, 01 Jan 2025 09:00:00 GMT", 0, true},
		{"99999999999", 24 * time.Hour, true},
	}
	for _, tt := range tests {
		got, ok := processors.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
