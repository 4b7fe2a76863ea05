package processors

import (
	"context"
	"sync"
	"time"
)

// Throttle lets at most a number of operations start in any window of an
// interval, like Backstage's p-throttle: NewThrottle(2, 100*time.Millisecond)
// lets two emails start at once, the next two 100 ms later, and so on.
// Callers are served in the order they call Wait. A Throttle is safe for
// concurrent use; it holds its lock only to reserve a start time, never
// while waiting.
type Throttle struct {
	limit    int
	interval time.Duration

	mu     sync.Mutex
	starts []time.Time // the last limit reserved start times, a ring
	next   int
}

// NewThrottle returns a Throttle allowing limit starts per interval. A
// limit or interval of zero or less means no throttling.
func NewThrottle(limit int, interval time.Duration) *Throttle {
	t := &Throttle{limit: limit, interval: interval}
	if limit > 0 && interval > 0 {
		t.starts = make([]time.Time, limit)
	}
	return t
}

// Wait blocks until the caller may start, or ctx is done (it then returns
// ctx's error, and the reserved slot stays used). A nil Throttle never
// waits.
func (t *Throttle) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t == nil || t.starts == nil {
		return nil
	}
	t.mu.Lock()
	now := time.Now()
	at := t.starts[t.next].Add(t.interval)
	if at.Before(now) {
		at = now
	}
	t.starts[t.next] = at
	t.next = (t.next + 1) % t.limit
	t.mu.Unlock()

	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	return sleep(ctx, d)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
