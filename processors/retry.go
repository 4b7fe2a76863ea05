package processors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrGaveUp is wrapped by the error Retry.Do returns when it stopped
// retrying an error marked retryable: attempts ran out, or the server asked
// for a longer wait than Retry.MaxDelay. The last attempt's error is
// wrapped too.
var ErrGaveUp = errors.New("processors: gave up retrying")

// Retry configures retries with exponential backoff and full jitter: after
// failed attempt n, Do waits a random duration between 0 and
// min(MaxDelay, BaseDelay·2^(n-1)), unless the error carries the server's
// Retry-After, which is then waited exactly. The zero Retry means the
// defaults.
type Retry struct {
	// MaxAttempts bounds the attempts, the first included; 1 turns retries
	// off. At most 100. Defaults to 5.
	MaxAttempts int
	// BaseDelay is the backoff before jitter after the first failure.
	// Defaults to 500ms.
	BaseDelay time.Duration
	// MaxDelay caps the backoff, and is the longest Retry-After honoured:
	// a server asking for more is given up on rather than hammered.
	// Defaults to 1 minute.
	MaxDelay time.Duration
	// SleepFunc waits between attempts; tests replace it to record the
	// delays without waiting. It returns ctx's error when ctx ends first.
	// Defaults to a timer that honours ctx.
	SleepFunc func(ctx context.Context, d time.Duration) error
	// JitterFunc maps a backoff to the delay actually waited; it is not
	// applied to a Retry-After. Defaults to a uniformly random duration in
	// [0, d] (full jitter).
	JitterFunc func(d time.Duration) time.Duration
}

// Validate reports fields out of range.
func (r Retry) Validate() error {
	switch {
	case r.MaxAttempts < 0 || r.MaxAttempts > 100:
		return fmt.Errorf("retry: MaxAttempts %d is not between 1 and 100", r.MaxAttempts)
	case r.BaseDelay < 0:
		return fmt.Errorf("retry: BaseDelay %s is negative", r.BaseDelay)
	case r.MaxDelay < 0:
		return fmt.Errorf("retry: MaxDelay %s is negative", r.MaxDelay)
	}
	return nil
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 5
	}
	if r.BaseDelay == 0 {
		r.BaseDelay = 500 * time.Millisecond
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = time.Minute
	}
	if r.SleepFunc == nil {
		r.SleepFunc = sleep
	}
	if r.JitterFunc == nil {
		r.JitterFunc = fullJitter
	}
	return r
}

func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// Do calls op until it succeeds, returns an error not marked with
// Retryable or RetryAfter, or MaxAttempts attempts have been made. attempt
// counts from 1, so op can count retries (attempt > 1) and log them.
//
// A permanent error is returned as op returned it. When retrying stops on
// a retryable error, the result wraps ErrGaveUp and that error (unmarked).
// When ctx ends while waiting, the result wraps ctx's error and the last
// error. Do never retries after ctx is done.
func (r Retry) Do(ctx context.Context, op func(ctx context.Context, attempt int) error) error {
	r = r.withDefaults()
	for attempt := 1; ; attempt++ {
		err := op(ctx, attempt)
		if err == nil {
			return nil
		}
		var re *RetryableError
		if !errors.As(err, &re) {
			return err
		}
		last := re.Err
		if attempt >= r.MaxAttempts {
			return fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempt, last)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
		}
		delay := re.After
		if delay > r.MaxDelay {
			return fmt.Errorf("%w: asked to wait %s, more than %s: %w", ErrGaveUp, delay, r.MaxDelay, last)
		}
		if delay <= 0 {
			backoff := r.BaseDelay
			for i := 1; i < attempt && backoff < r.MaxDelay; i++ {
				backoff *= 2
			}
			delay = r.JitterFunc(min(backoff, r.MaxDelay))
		}
		if err := r.SleepFunc(ctx, delay); err != nil {
			return fmt.Errorf("%w (last error: %w)", err, last)
		}
	}
}

// RetryableError marks an error worth another attempt. Build it with
// Retryable or RetryAfter.
type RetryableError struct {
	// Err is the failure.
	Err error
	// After, when positive, is how long the server asked to wait
	// (Retry-After); zero means the backoff decides.
	After time.Duration
}

// Error returns Err's message.
func (e *RetryableError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable marks err as worth retrying after the backoff. A nil err stays
// nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err}
}

// RetryAfter marks err as worth retrying after d, the server's
// Retry-After; d <= 0 leaves the wait to the backoff. A nil err stays nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err, After: max(d, 0)}
}

// MaxRetryAfter caps the wait a server's Retry-After can impose on a
// delivery: ParseRetryAfter never returns more, and the built-in
// processors pass at most this to notifications.RetryLater. A server that
// asks for hours (or for a date next year) is tried again after an hour
// instead; if it still refuses, that attempt counts against the
// Service's RetryPolicy.MaxAttempts like any other.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads an HTTP Retry-After header value: delay seconds
// ("120") or an HTTP date, which is measured from now. It reports false
// for an empty or malformed value; a date in the past gives 0, true. The
// result is at most MaxRetryAfter.
//
// A post-processor passes it to notifications.RetryLater for a 429 or 503
// answer, so that the Service waits as long as the server asked:
//
//	if d, ok := processors.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
//		return notifications.RetryLater(err, d)
//	}
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}
