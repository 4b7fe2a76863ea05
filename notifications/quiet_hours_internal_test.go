package notifications

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has
)

func TestQuietHoursCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q      QuietHours
		fields []string // the fields refused, in order
	}{
		{QuietHours{"22:00", "07:00", "Europe/Paris"}, nil},
		{QuietHours{"00:00", "23:59", "UTC"}, nil},
		{QuietHours{"07:00", "07:00", "America/New_York"}, nil},
		{QuietHours{"24:00", "07:00", "UTC"}, []string{"quietHours.start"}},
		{QuietHours{"7:00", "07:60", "UTC"}, []string{"quietHours.start", "quietHours.end"}},
		{QuietHours{"22:00", "07:00:00", "UTC"}, []string{"quietHours.end"}},
		{QuietHours{"-1:00", "+7:00", "UTC"}, []string{"quietHours.start", "quietHours.end"}},
		{QuietHours{"22:00", "07:00", "Mars/Olympus_Mons"}, []string{"quietHours.timeZone"}},
		{QuietHours{"22:00", "07:00", "Local"}, []string{"quietHours.timeZone"}},
		{QuietHours{"22:00", "07:00", "../../etc/passwd"}, []string{"quietHours.timeZone"}},
		{QuietHours{"22:00", "07:00", "UTC\x00"}, []string{"quietHours.timeZone"}},
		{QuietHours{"", "", ""}, []string{"quietHours.start", "quietHours.end", "quietHours.timeZone"}},
		{QuietHours{"22:00", "", "UTC"}, []string{"quietHours.end"}},
	}
	for _, tt := range tests {
		var verr ValidationError
		_, ok := tt.q.check(&verr, nil)
		var got []string
		for _, f := range verr.Fields {
			got = append(got, f.Field)
		}
		if ok != (len(tt.fields) == 0) || len(got) != len(tt.fields) {
			t.Errorf("check(%+v) = ok %v, fields %v; want fields %v", tt.q, ok, verr.Fields, tt.fields)
			continue
		}
		for i := range got {
			if got[i] != tt.fields[i] {
				t.Errorf("check(%+v): fields %v, want %v", tt.q, got, tt.fields)
				break
			}
		}
	}
}

func TestQuietWindowUntil(t *testing.T) {
	t.Parallel()
	paris, _ := time.LoadLocation("Europe/Paris")
	ny, _ := time.LoadLocation("America/New_York")
	at := func(loc *time.Location, y int, mo time.Month, d, h, m int) time.Time {
		return time.Date(y, mo, d, h, m, 0, 0, loc)
	}
	utc := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		q     QuietHours
		now   time.Time
		until time.Time // zero: not held
	}{
		{"before a night window", QuietHours{"22:00", "07:00", "Europe/Paris"}, at(paris, 2026, 6, 1, 21, 59), time.Time{}},
		{"at its start", QuietHours{"22:00", "07:00", "Europe/Paris"}, at(paris, 2026, 6, 1, 22, 0), at(paris, 2026, 6, 2, 7, 0)},
		{"across midnight, evening", QuietHours{"22:00", "07:00", "Europe/Paris"}, at(paris, 2026, 6, 1, 23, 30), at(paris, 2026, 6, 2, 7, 0)},
		{"across midnight, morning", QuietHours{"22:00", "07:00", "Europe/Paris"}, at(paris, 2026, 6, 2, 6, 59), at(paris, 2026, 6, 2, 7, 0)},
		{"across midnight, end of a month", QuietHours{"22:00", "07:00", "Europe/Paris"}, at(paris, 2026, 6, 30, 22, 5), at(paris, 2026, 7, 1, 7, 0)},
		{"at its end", QuietHours{"22:00", "07:00", "Europe/Paris"}, at(paris, 2026, 6, 2, 7, 0), time.Time{}},
		{"a day window", QuietHours{"12:00", "13:30", "UTC"}, utc(2026, 6, 1, 12, 59), utc(2026, 6, 1, 13, 30)},
		{"outside a day window", QuietHours{"12:00", "13:30", "UTC"}, utc(2026, 6, 1, 13, 30), time.Time{}},
		{"the zone, not the clock's", QuietHours{"22:00", "07:00", "America/New_York"}, utc(2026, 6, 2, 3, 0), at(ny, 2026, 6, 2, 7, 0)},
		{"equal start and end hold nothing", QuietHours{"07:00", "07:00", "UTC"}, utc(2026, 6, 1, 7, 0), time.Time{}},
		// Paris springs forward on 29 March 2026 at 02:00 (to 03:00).
		{"spring forward: the end an hour sooner in real time", QuietHours{"22:00", "07:00", "Europe/Paris"},
			at(paris, 2026, 3, 28, 23, 0), utc(2026, 3, 29, 5, 0)},
		{"spring forward: an end the change skips ends at the change", QuietHours{"01:00", "02:30", "Europe/Paris"},
			at(paris, 2026, 3, 29, 1, 15), utc(2026, 3, 29, 1, 0)},
		{"spring forward: a start the change skips", QuietHours{"02:30", "06:00", "Europe/Paris"},
			utc(2026, 3, 29, 1, 0), at(paris, 2026, 3, 29, 6, 0)},
		// New York falls back on 1 November 2026 at 02:00 (to 01:00).
		{"fall back: the end an hour later in real time", QuietHours{"22:00", "07:00", "America/New_York"},
			at(ny, 2026, 10, 31, 23, 0), utc(2026, 11, 1, 12, 0)},
		{"fall back: the first time the clock reads the end", QuietHours{"00:30", "01:30", "America/New_York"},
			utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 5, 30)}, // 01:00 EDT, ends 01:30 EDT
		{"fall back: the repeated part is quiet again", QuietHours{"00:30", "01:30", "America/New_York"},
			utc(2026, 11, 1, 6, 10), utc(2026, 11, 1, 6, 30)}, // 01:10 EST, ends 01:30 EST
		{"fall back: after the second end", QuietHours{"00:30", "01:30", "America/New_York"},
			utc(2026, 11, 1, 6, 30), time.Time{}},
	}
	for _, tt := range tests {
		var verr ValidationError
		w, ok := tt.q.check(&verr, nil)
		if !ok {
			t.Fatalf("%s: %v", tt.name, verr.Error())
		}
		until, held := w.until(tt.now)
		if held != !tt.until.IsZero() || held && !until.Equal(tt.until) {
			t.Errorf("%s: until(%s) = %s, %v; want %s", tt.name, tt.now.UTC(), until.UTC(), held, tt.until.UTC())
		}
	}
}
