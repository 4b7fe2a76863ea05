package notifications_test

import (
	"errors"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Paris, whatever the machine has

	"github.com/heraldhq/herald/notifications"
)

// TestQuietHoursHoldDeliveries runs a night window in Paris across
// midnight and the night Paris springs forward, with a fake clock: a
// delivery claimed inside it is put back until 07:00 Paris time, with no
// attempt counted and no OnDelivery; critical notifications and
// broadcasts go at once, and the inbox gets everything at once.
func TestQuietHoursHoldDeliveries(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		sc := &script{name: "audit"}
		f := deliverySetup(t, st, nil, sc.processor())
		// 22:30 in Paris on 28 March 2026; at 02:00 the clocks go to 03:00.
		f.clock.Advance(time.Date(2026, 3, 28, 21, 30, 0, 0, time.UTC).Sub(start))
		normal := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "normal"})[0]
		critical := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "critical", Severity: notifications.SeverityCritical})[0]
		broadcast := f.send(t, notifications.Broadcast(), notifications.Payload{Title: "broadcast"})[0]
		if n := f.count(t, mockUser); n != 3 {
			t.Fatalf("inbox holds %d, want all 3 at once", n)
		}

		// Saved after the sends, before the claim: the claim sees it.
		night := notifications.QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Paris"}
		got, err := f.svc.SaveSettings(f.ctx, mockUser, notifications.Settings{QuietHours: &night})
		if err != nil {
			t.Fatalf("SaveSettings: %v", err)
		}
		if got.QuietHours == nil || *got.QuietHours != night {
			t.Fatalf("SaveSettings answered quiet hours %v, want %v", got.QuietHours, night)
		}

		if n := f.deliver(t); n != 2 {
			t.Fatalf("%d attempts, want 2 (critical and broadcast)", n)
		}
		var titles []string
		for _, c := range sc.recorded() {
			titles = append(titles, c.notification.Payload.Title)
		}
		slices.Sort(titles)
		if !slices.Equal(titles, []string{"broadcast", "critical"}) {
			t.Errorf("delivered %v, want broadcast and critical", titles)
		}
		if got := f.outcomes.statuses(); len(got) != 2 {
			t.Errorf("OnDelivery calls %v, want 2: a hold is no outcome", got)
		}
		wantEnd := time.Date(2026, 3, 29, 5, 0, 0, 0, time.UTC) // 07:00 CEST
		held := f.only(t, normal.ID)
		if held.Status != notifications.DeliveryPending || held.Attempts != 0 || held.NextAttempt == nil || !held.NextAttempt.Equal(wantEnd) {
			t.Fatalf("held delivery %+v, want pending, 0 attempts, due at %s", held, wantEnd)
		}
		for _, id := range []string{critical.ID, broadcast.ID} {
			if d := f.only(t, id); d.Status != notifications.DeliverySent {
				t.Errorf("delivery of %s: %s, want sent", id, d.Status)
			}
		}

		f.clock.Advance(wantEnd.Sub(f.clock.Now()) - time.Millisecond)
		if n := f.deliver(t); n != 0 {
			t.Fatalf("%d attempts before 07:00, want none", n)
		}
		f.clock.Advance(time.Millisecond)
		if n := f.deliver(t); n != 1 {
			t.Fatalf("%d attempts at 07:00, want 1", n)
		}
		if d := f.only(t, normal.ID); d.Status != notifications.DeliverySent || d.Attempts != 1 {
			t.Errorf("after the window: %+v, want sent after 1 attempt", d)
		}
		if got := f.outcomes.statuses(); len(got) != 3 {
			t.Errorf("OnDelivery calls %v, want 3", got)
		}
	})
}

// TestQuietHoursSettings: Settings shows the quiet hours saved; a save
// without them keeps them, the zero QuietHours removes them, and bad ones
// are a *ValidationError naming the field, saving nothing.
func TestQuietHoursSettings(t *testing.T) {
	t.Parallel()
	backend := memoryStore(t)
	f := setup(t, func(c *notifications.Config) { c.Store = backend })
	night := notifications.QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Paris"}
	saveSettings(t, f, mockUser, notifications.Settings{QuietHours: &night})
	saveSettings(t, f, mockUser, webOrigin(origin, false))
	if st := mustSettings(t, f); st.QuietHours == nil || *st.QuietHours != night {
		t.Fatalf("quiet hours after a save without them: %v, want %v kept", st.QuietHours, night)
	}
	for _, tc := range []struct {
		q     notifications.QuietHours
		field string
	}{
		{notifications.QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Pariss"}, "quietHours.timeZone"},
		{notifications.QuietHours{Start: "10pm", End: "07:00", TimeZone: "Europe/Paris"}, "quietHours.start"},
		{notifications.QuietHours{Start: "22:00", TimeZone: "Europe/Paris"}, "quietHours.end"},
	} {
		in := webOrigin(origin, true)
		in.QuietHours = &tc.q
		_, err := f.svc.SaveSettings(f.ctx, mockUser, in)
		var verr *notifications.ValidationError
		if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != tc.field {
			t.Errorf("SaveSettings(%+v) = %v, want a *ValidationError naming %s", tc.q, err, tc.field)
		}
	}
	st := mustSettings(t, f)
	if st.QuietHours == nil || *st.QuietHours != night {
		t.Errorf("quiet hours after refusals: %v, want %v", st.QuietHours, night)
	}
	if rows := settingRows(t, f, backend); len(rows) != 1 || rows[0].Enabled {
		t.Errorf("rows after refusals %+v, want %s still off", rows, origin)
	}
	saveSettings(t, f, mockUser, notifications.Settings{QuietHours: &notifications.QuietHours{}})
	if st := mustSettings(t, f); st.QuietHours != nil {
		t.Errorf("quiet hours after removing them: %v, want nil", st.QuietHours)
	}
}

// TestQuietHoursHoldDigest: a digest that comes due inside its user's
// quiet hours waits for their end with its members, then goes as one.
func TestQuietHoursHoldDigest(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		p := &digester{}
		f := digestSetup(t, st, p, 0)
		// start is 12:00 UTC; quiet from 12:05 to 14:00 UTC.
		saveSettings(t, f.fixture, mockUser, notifications.Settings{QuietHours: &notifications.QuietHours{Start: "12:05", End: "14:00", TimeZone: "UTC"}})
		one := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "one"})[0]
		f.clock.Advance(time.Minute)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "two"})
		f.clock.Set(start.Add(window))
		if n := f.deliver(t); n != 0 {
			t.Fatalf("%d attempts when the digest came due inside the quiet hours, want none", n)
		}
		end := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
		digest := f.only(t, one.ID).DigestID
		d, err := f.svc.Delivery(f.ctx, digest)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != notifications.DeliveryPending || d.Attempts != 0 || d.NextAttempt == nil || !d.NextAttempt.Equal(end) {
			t.Fatalf("held digest %+v, want pending, 0 attempts, due at %s", d, end)
		}
		f.clock.Set(end)
		if n := f.deliver(t); n != 1 {
			t.Fatalf("%d attempts when the quiet hours ended, want one digest", n)
		}
		if digests, _ := p.calls(); len(digests) != 1 || !slices.Equal(digests[0].titles, []string{"one", "two"}) {
			t.Fatalf("digests %v, want one of one, two", titlesOf(digests))
		}
	})
}
