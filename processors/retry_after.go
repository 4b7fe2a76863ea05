package processors

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

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
