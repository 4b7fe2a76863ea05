package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// QuietHours are a user's daily quiet time: deliveries to channels other
// than WebChannel that come due inside it wait until it ends (see
// Settings.QuietHours). Start and End are wall-clock times, "HH:MM" on a
// 24-hour clock ("22:00", "07:00"), in TimeZone, an IANA zone name like
// "Europe/Paris" (or "UTC").
//
// The window runs from Start up to, not including, End; an End before
// Start runs across midnight. Start equal to End is an empty window:
// nothing is held. Times are wall-clock times, as the user's clock shows
// them: on a day a DST change skips End, the window ends when the clock
// jumps past it; on a day a DST change repeats part of the window, that
// part is quiet twice.
//
// The zone names are the host's time zone database's (time.LoadLocation):
// a host running where there is none (a scratch container) imports
// time/tzdata.
type QuietHours struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	TimeZone string `json:"timeZone"`
}

// IsZero reports whether q is the zero QuietHours, which SaveSettings
// takes for "no quiet hours".
func (q QuietHours) IsZero() bool { return q == QuietHours{} }

// quietWindow is a validated QuietHours: minutes since midnight, and the
// zone.
type quietWindow struct {
	start, end int
	loc        *time.Location
}

// check validates q, adding what is wrong to verr under the fields of
// quietHours, and returns its window when it is valid. zones, when not
// nil, caches the zones loaded.
func (q QuietHours) check(verr *ValidationError, zones map[string]*time.Location) (quietWindow, bool) {
	const field = "quietHours"
	var w quietWindow
	ok := true
	clock := func(name, v string) int {
		if v == "" {
			verr.add(field+"."+name, "is required")
			ok = false
			return 0
		}
		m, valid := parseClock(v)
		if !valid {
			verr.add(field+"."+name, fmt.Sprintf("%q is not a time of day: want HH:MM on a 24-hour clock, like 07:30", clip(v)))
			ok = false
		}
		return m
	}
	w.start = clock("start", q.Start)
	w.end = clock("end", q.End)
	loc, cached := zones[q.TimeZone]
	var err error
	if !cached {
		loc, err = loadZone(q.TimeZone)
	}
	switch {
	case q.TimeZone == "":
		verr.add(field+".timeZone", "is required")
		ok = false
	case err != nil:
		verr.add(field+".timeZone", fmt.Sprintf("%q is not a known IANA time zone, like Europe/Paris", clip(q.TimeZone)))
		ok = false
	default:
		w.loc = loc
		if zones != nil {
			zones[q.TimeZone] = loc
		}
	}
	return w, ok
}

// clip shortens a rejected value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// loadZone loads an IANA zone by name. "Local" (the host's zone, not the
// user's) and text that cannot be a zone name are refused.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > MaxFieldLength || textProblem(name) != "" {
		return nil, errors.New("not a zone name")
	}
	return time.LoadLocation(name)
}

// parseClock parses "HH:MM", 00:00 to 23:59, into minutes since midnight.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	digit := func(c byte) (int, bool) { return int(c - '0'), c >= '0' && c <= '9' }
	h1, ok1 := digit(s[0])
	h2, ok2 := digit(s[1])
	m1, ok3 := digit(s[3])
	m2, ok4 := digit(s[4])
	h, m := h1*10+h2, m1*10+m2
	if !ok1 || !ok2 || !ok3 || !ok4 || h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// until reports whether now falls in the window and, if so, when the
// window ends: the first instant after now at which the user's clock
// reads End.
func (w quietWindow) until(now time.Time) (time.Time, bool) {
	if w.start == w.end {
		return time.Time{}, false
	}
	local := now.In(w.loc)
	m := local.Hour()*60 + local.Minute()
	in, endsToday := m >= w.start && m < w.end, true
	if w.start > w.end {
		in, endsToday = m >= w.start || m < w.end, m < w.end
	}
	if !in {
		return time.Time{}, false
	}
	y, mo, d := local.Date()
	if !endsToday {
		d++
	}
	return w.endOn(y, mo, d, now), true
}

// endOn returns the first instant after now at which the clock reads End
// on the day y-mo-d in the window's zone. Around a DST change End may come
// twice (the earlier after now wins, whichever time.Date picks) or not at
// all (then the window ends at the change).
func (w quietWindow) endOn(y int, mo time.Month, d int, now time.Time) time.Time {
	h, m := w.end/60, w.end%60
	picked := time.Date(y, mo, d, h, m, 0, 0, w.loc)
	// The zone's offsets on either side of that day's End: no zone
	// changes its offset twice within six hours.
	_, before := picked.Add(-3 * time.Hour).Zone()
	_, after := picked.Add(3 * time.Hour).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		c := time.Date(y, mo, d, h, m, 0, 0, time.FixedZone("", off))
		if ch, cm, _ := c.In(w.loc).Clock(); ch == h && cm == m && c.After(now) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if best.IsZero() {
		// The change skips End: the clock jumps past it when the later
		// offset starts. End at the smaller offset falls just after.
		c := time.Date(y, mo, d, h, m, 0, 0, time.FixedZone("", min(before, after)))
		best, _ = c.In(w.loc).ZoneBounds()
	}
	return best.In(w.loc)
}

// DeliveryHold puts a claimed delivery back without an attempt, for
// Store.HoldDelivery: its user's quiet hours hold it until Until.
type DeliveryHold struct {
	ID    string
	Token string
	// Until is when the delivery is due again.
	Until time.Time
	// Now is the holder's clock.
	Now time.Time
}

// quietHold returns when the claimed delivery c should run instead of now,
// and whether its user's quiet hours hold it: a user's delivery (a
// broadcast's never waits), on a channel other than WebChannel, of a
// notification that is not critical (a digest holds none), while the
// user's quiet hours, as stored now, hold now.
func (s *Service) quietHold(c DeliveryClaim, settings claimedSettings, now time.Time) (time.Time, bool) {
	d := c.Delivery
	if d.User == "" || d.Processor == WebChannel || settings.err != nil {
		return time.Time{}, false
	}
	if !d.IsDigest() && (c.Notification == nil || c.Notification.Payload.Severity == SeverityCritical) {
		return time.Time{}, false
	}
	w, ok := settings.quiet[d.User]
	if !ok {
		return time.Time{}, false
	}
	return w.until(now)
}

// hold puts c back until, logging what it could not do. The hold is no
// attempt: no OnDelivery, no attempt counted.
func (s *Service) hold(ctx context.Context, c DeliveryClaim, until time.Time) {
	d := c.Delivery
	rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), s.lease)
	defer stop()
	_, err := s.store.HoldDelivery(rctx, DeliveryHold{ID: d.ID, Token: c.Token, Until: until, Now: s.now()})
	switch {
	case errors.Is(err, ErrLeaseLost):
		s.log.Warn("notifications: holding a delivery for quiet hours: its lease was lost, another worker has it",
			"delivery_id", d.ID, "processor", d.Processor)
	case err != nil:
		s.log.Error("notifications: holding a delivery for quiet hours failed; it is claimed again after its lease",
			"delivery_id", d.ID, "processor", d.Processor, "error", err)
	default:
		s.log.Debug("notifications: delivery held for the user's quiet hours",
			"delivery_id", d.ID, "processor", d.Processor, "until", until)
	}
}

// quietWindows turns stored quiet hours into windows. Hours that no
// longer validate (a zone the host's database lacks) hold nothing, and
// are logged.
func (s *Service) quietWindows(stored map[string]QuietHours) map[string]quietWindow {
	if len(stored) == 0 {
		return nil
	}
	out := make(map[string]quietWindow, len(stored))
	zones := map[string]*time.Location{}
	for user, q := range stored {
		var verr ValidationError
		w, ok := q.check(&verr, zones)
		if !ok {
			s.log.Warn("notifications: stored quiet hours are not valid here; they hold nothing", "user", user, "error", verr.Error())
			continue
		}
		out[user] = w
	}
	return out
}
