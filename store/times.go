package store

import (
	"fmt"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// The store keeps times from the start of year 1 to the end of year 9999,
// to the millisecond, on both databases. Each could hold more, but not the
// same more (SQLite any int64 of milliseconds, PostgreSQL 4713 BC to
// 294276 AD), and an out-of-range literal is a PostgreSQL error: so a
// time to be stored outside the range is refused, and a time bound of a
// read is clamped to it before any SQL is written.
var (
	minTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999_000_000, time.UTC)
)

// ms truncates t to the millisecond, in UTC: what the store keeps. t must
// be within a few hundred million years of now (int64 milliseconds).
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// ceilMS rounds t up to the millisecond: stored times are whole
// milliseconds, so created >= t holds exactly when created >= ceilMS(t).
func ceilMS(t time.Time) time.Time {
	m := ms(t)
	if m.Before(t) {
		m = m.Add(time.Millisecond)
	}
	return m
}

// inRange reports whether t can be stored.
func inRange(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// checkTime refuses a time the store cannot keep; what names it.
func checkTime(what string, t time.Time) error {
	if !inRange(t) {
		return fmt.Errorf("%w: %s %s is outside the years 1 to 9999", notifications.ErrInvalid, what, t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func checkOptTime(what string, t *time.Time) error {
	if t == nil {
		return nil
	}
	return checkTime(what, *t)
}

// bound is a time bound of a read, clamped to the kept range.
type bound int

const (
	boundAt   bound = iota // compare with the clamped time
	boundAll               // every kept time passes: no condition needed
	boundNone              // no kept time passes: the read selects nothing
)

// atOrAfter clamps the bound "at or after t": a t before year 1 selects
// from the beginning, one after year 9999 selects nothing.
func atOrAfter(t time.Time) (time.Time, bound) {
	if t.Before(minTime) {
		return time.Time{}, boundAll
	}
	if t.After(maxTime) {
		return time.Time{}, boundNone
	}
	if c := ceilMS(t); !c.After(maxTime) {
		return c, boundAt
	}
	return time.Time{}, boundNone // within the last millisecond of the range
}

// atOrBefore clamps the bound "at or before t": a t after year 9999
// selects to the end, one before year 1 selects nothing.
func atOrBefore(t time.Time) (time.Time, bound) {
	if t.After(maxTime) {
		return time.Time{}, boundAll
	}
	if t.Before(minTime) {
		return time.Time{}, boundNone
	}
	return ms(t), boundAt
}

// cleanupWindow reads the cutoff and batch size of a cleanup of finished
// rows: batchSize <= 0 means defaultDeleteBatch; a cutoff before year 1
// deletes nothing (ok false), one after 9999 every finished row.
func cleanupWindow(cutoff time.Time, batchSize int) (_ time.Time, _ int, ok bool) {
	if batchSize <= 0 {
		batchSize = defaultDeleteBatch
	}
	cutoff, bnd := atOrBefore(cutoff)
	switch bnd {
	case boundNone:
		return cutoff, batchSize, false
	case boundAll:
		cutoff = maxTime
	}
	return cutoff, batchSize, true
}
