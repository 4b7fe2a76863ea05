package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

func (e *env) quietHours(users ...string) map[string]notifications.QuietHours {
	e.t.Helper()
	got, err := e.s.QuietHours(e.ctx, users)
	if err != nil {
		e.t.Fatalf("QuietHours: %v", err)
	}
	return got
}

func (e *env) updateSettings(u string, up notifications.SettingsUpdate) {
	e.t.Helper()
	if err := e.s.UpdateSettings(e.ctx, u, up); err != nil {
		e.t.Fatalf("UpdateSettings(%s): %v", u, err)
	}
}

// testQuietHoursRoundTrip: UpdateSettings writes quiet hours with the
// rows, keeps them when QuietHours is nil, removes them for the zero
// QuietHours, and writes nothing at all when it refuses; QuietHours
// answers per user, users without absent; ReplaceSettings leaves them.
func testQuietHoursRoundTrip(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	if got := e.quietHours(user, other); len(got) != 0 {
		t.Fatalf("QuietHours of nobody's = %v, want empty", got)
	}
	night := notifications.QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Paris"}
	rows := []notifications.SettingRow{{Channel: "Web", Origin: "plugin:ci", Enabled: false}}
	e.updateSettings(user, notifications.SettingsUpdate{Rows: rows, QuietHours: &night})
	e.updateSettings(other, notifications.SettingsUpdate{QuietHours: &notifications.QuietHours{Start: "12:00", End: "13:30", TimeZone: "UTC"}})
	want := map[string]notifications.QuietHours{user: night, other: {Start: "12:00", End: "13:30", TimeZone: "UTC"}}
	if got := e.quietHours(user, other, user, "user:default/nobody"); !reflect.DeepEqual(got, want) {
		t.Errorf("QuietHours = %v, want %v", got, want)
	}
	settingRows := func() []notifications.SettingRow {
		got, err := s.SettingRows(e.ctx, []string{user})
		if err != nil {
			t.Fatal(err)
		}
		return got[user]
	}
	if got := settingRows(); !slices.Equal(got, rows) {
		t.Errorf("rows written with the quiet hours = %+v, want %+v", got, rows)
	}

	// Nil keeps them, and the rows are still replaced.
	e.updateSettings(user, notifications.SettingsUpdate{})
	if got := e.quietHours(user); got[user] != night {
		t.Errorf("after an update without quiet hours: %v, want %v kept", got, night)
	}
	if got := settingRows(); len(got) != 0 {
		t.Errorf("rows after an update with none = %+v, want none", got)
	}
	if err := s.ReplaceSettings(e.ctx, user, rows); err != nil {
		t.Fatal(err)
	}
	if got := e.quietHours(user); got[user] != night {
		t.Errorf("after ReplaceSettings: %v, want %v kept", got, night)
	}

	// Refusals write neither the rows nor the quiet hours.
	late := notifications.QuietHours{Start: "23:00", End: "06:00", TimeZone: "UTC"}
	dup := append(slices.Clone(rows), rows[0])
	for name, up := range map[string]notifications.SettingsUpdate{
		"duplicate rows":         {Rows: dup, QuietHours: &late},
		"quiet hours half empty": {QuietHours: &notifications.QuietHours{Start: "23:00", TimeZone: "UTC"}},
		"NUL in the time zone":   {QuietHours: &notifications.QuietHours{Start: "23:00", End: "06:00", TimeZone: "UTC\x00"}},
	} {
		if err := s.UpdateSettings(e.ctx, user, up); !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("UpdateSettings with %s = %v, want ErrInvalid", name, err)
		}
		if got := e.quietHours(user); got[user] != night {
			t.Errorf("after UpdateSettings with %s: %v, want %v unchanged", name, got, night)
		}
		if got := settingRows(); !slices.Equal(got, rows) {
			t.Errorf("after UpdateSettings with %s: rows %+v, want %+v unchanged", name, got, rows)
		}
	}

	// Replaced, then removed; the other user's stay.
	e.updateSettings(user, notifications.SettingsUpdate{QuietHours: &late})
	if got := e.quietHours(user); got[user] != late {
		t.Errorf("after replacing: %v, want %v", got, late)
	}
	e.updateSettings(user, notifications.SettingsUpdate{QuietHours: &notifications.QuietHours{}})
	if got := e.quietHours(user, other); len(got) != 1 || got[other] != want[other] {
		t.Errorf("after removing %s's: %v, want only %s's", user, got, other)
	}
}

// testHoldDelivery: a held delivery is put back unclaimed, due at the
// hold's end, its attempt uncounted and its status kept; it is not
// claimed before then, and is claimed at it; a stale token cannot hold;
// a re-send since the claim makes it due at once instead.
func testHoldDelivery(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	e.saveWith(userNotes(1, 1, t0, "t"), deliveryWrite(1, t0, options("o", "t"), 1, 1, "email"))
	d := deliveryID(1)

	// A first attempt fails, so the hold of the retry keeps "retrying"
	// and one attempt.
	c := e.claimOne(t0, d)
	e.finish(notifications.DeliveryOutcome{ID: d, Token: c.Token, Status: notifications.DeliveryRetrying, LastError: "boom", NextAttempt: &t0, Now: t0})
	c = e.claimOne(t0, d)
	if c.Delivery.Attempts != 2 {
		t.Fatalf("second claim: %s, want 2 attempts", fmtDelivery(c.Delivery))
	}
	until := t0.Add(8 * time.Hour)
	got, err := s.HoldDelivery(e.ctx, notifications.DeliveryHold{ID: d, Token: c.Token, Until: until, Now: t0.Add(time.Second)})
	if err != nil {
		t.Fatalf("HoldDelivery: %v", err)
	}
	expectDelivery(t, "held", got, notifications.Delivery{ID: d, NotificationID: id(1), User: "user:default/u0000", Origin: "o",
		Processor: "email", Status: notifications.DeliveryRetrying, Attempts: 1, LastError: "boom", NextAttempt: &until,
		Created: t0, Updated: t0.Add(time.Second)})
	expectDelivery(t, "held, read back", e.delivery(d), got)
	if _, err := s.HoldDelivery(e.ctx, notifications.DeliveryHold{ID: d, Token: c.Token, Until: until, Now: t0}); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("HoldDelivery with the released token = %v, want ErrLeaseLost", err)
	}
	if _, err := s.FinishDelivery(e.ctx, notifications.DeliveryOutcome{ID: d, Token: c.Token, Status: notifications.DeliverySent, Now: t0}); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("FinishDelivery with the held claim's token = %v, want ErrLeaseLost", err)
	}
	// The lease the claim took is gone with it: not claimed when it
	// would have run out, only at the hold's end.
	e.claimNone(t0.Add(lease), "held past its lease")
	e.claimNone(until.Add(-time.Millisecond), "held")
	c = e.claimOne(until, d)
	if c.Delivery.Attempts != 2 {
		t.Errorf("claim after the hold: %s, want attempt 2 (the hold was none)", fmtDelivery(c.Delivery))
	}
	for _, bad := range []notifications.DeliveryHold{
		{ID: d, Token: "not-a-token", Until: until, Now: until},
		{ID: "not-an-id", Token: c.Token, Until: until, Now: until},
	} {
		if _, err := s.HoldDelivery(e.ctx, bad); !errors.Is(err, notifications.ErrLeaseLost) {
			t.Errorf("HoldDelivery(%+v) = %v, want ErrLeaseLost", bad, err)
		}
	}

	// A scoped re-send while claimed: the hold makes it due now, with
	// the new content, attempts reset.
	n := notifications.Notification{ID: id(2), User: user, Origin: "plugin:ci", Created: t0,
		Payload: notifications.Payload{Title: "first", Scope: "s"}}
	e.saveWith([]notifications.Notification{n}, deliveryWrite(2, t0, options("plugin:ci", "first"), 1, 2, "email"))
	claimed := e.claimOne(t0, deliveryID(2))
	again := n
	again.ID, again.Payload.Title = id(3), "second"
	e.saveWith([]notifications.Notification{again}, deliveryWrite(3, t0.Add(time.Second), options("plugin:ci", "second"), 1, 3, "email"))
	t1 := t0.Add(2 * time.Second)
	got, err = s.HoldDelivery(e.ctx, notifications.DeliveryHold{ID: deliveryID(2), Token: claimed.Token, Until: until, Now: t1})
	if err != nil {
		t.Fatalf("HoldDelivery after a re-send: %v", err)
	}
	if got.Status != notifications.DeliveryPending || got.Attempts != 0 || !sameTime(got.NextAttempt, &t1) {
		t.Errorf("hold after a re-send: %s; want pending, 0 attempts, due at %s", fmtDelivery(got), t1)
	}
}
