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
		{"3601", time.Hour, true},
		{"99999999999", time.Hour, true},
		{"Thu, 01 Jan 2026 10:00:00 GMT", processors.MaxRetryAfter, true},
	}
	for _, tt := range tests {
		got, ok := processors.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
