package notifications

import (
	"testing"
	"time"
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
