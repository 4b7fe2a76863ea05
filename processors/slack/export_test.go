package slack

import (
	"context"
	"time"
)

// SetSleep replaces the wait between the options phase's attempts, so
// tests record the waits instead of waiting.
func SetSleep(p *Processor, sleep func(ctx context.Context, d time.Duration) error) {
	p.sleep = sleep
}
