package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Retention: DeleteOlderThan.

func testDeleteOlderThan(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	day := 24 * time.Hour
	old, recent := e.now.Add(-2*day), e.now.Add(-time.Hour)
	mk := func(i int, created time.Time, updated *time.Time) notifications.Notification {
		return notifications.Notification{ID: id(i), User: user, Origin: "o", Created: created, Updated: updated,
			Payload: notifications.Payload{Title: "t"}}
	}
	e.save(mk(1, old, nil), mk(2, old, &recent), mk(3, old, timePtr(old.Add(time.Hour))), mk(4, recent, nil))
	e.broadcast(mk(5, old, nil))
	e.broadcast(mk(6, old, &recent))
	e.broadcast(mk(7, old, timePtr(old.Add(time.Hour))))
	e.setRead(user, &e.now, id(5), id(6))

	n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-day), 100)
	if err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	if n != 4 {
		t.Errorf("DeleteOlderThan deleted %d, want 4", n)
	}
	expectSameIDs(t, "kept", e.listIDs(notifications.Query{}), id(2), id(4), id(6))
	if st, _ := s.Status(e.ctx, user); st != (notifications.Status{Read: 1, Unread: 2, Unseen: 2}) {
		t.Errorf("Status after retention = %+v, want read 1 (id6) unread 2", st)
	}
	// Inclusive cutoff.
	if n, err := s.DeleteOlderThan(e.ctx, recent, 100); err != nil || n != 3 {
		t.Errorf("DeleteOlderThan(at the cutoff) = %d, %v; want 3", n, err)
	}
}

func testDeleteInBatches(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	old := e.now.Add(-48 * time.Hour)
	var ns []notifications.Notification
	for i := range 30 {
		created := old
		if i >= 25 {
			created = e.now
		}
		ns = append(ns, notifications.Notification{ID: id(100 + i), User: user, Origin: "o", Created: created,
			Payload: notifications.Payload{Title: "t"}})
	}
	e.save(ns...)
	var bids []string
	for i := range 7 {
		b := e.broadcast(notifications.Notification{ID: id(200 + i), Origin: "o", Created: old, Payload: notifications.Payload{Title: "b"}})
		bids = append(bids, b.ID)
	}
	e.setRead(user, &e.now, bids...)
	n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 4)
	if err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	if n != 32 {
		t.Errorf("DeleteOlderThan = %d, want 32", n)
	}
	if c := e.count(user, notifications.Filter{}); c != 5 {
		t.Errorf("%d left, want 5", c)
	}
	if st, _ := s.Status(e.ctx, user); st != (notifications.Status{Unread: 5, Unseen: 5}) {
		t.Errorf("Status = %+v, want 5 unread and no read broadcasts left", st)
	}
	if n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 4); err != nil || n != 0 {
		t.Errorf("second DeleteOlderThan = %d, %v; want 0", n, err)
	}
}

func testConcurrentMarkAllReadAndRetention(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	old := e.now.Add(-48 * time.Hour)
	var ns []notifications.Notification
	for i := range 200 {
		created := e.now
		if i%2 == 0 {
			created = old
		}
		ns = append(ns, notifications.Notification{ID: id(1000 + i), User: user, Origin: "o", Created: created,
			Payload: notifications.Payload{Title: "t"}})
	}
	e.save(ns...)
	for i := range 40 {
		created := e.now
		if i%2 == 0 {
			created = old
		}
		e.broadcast(notifications.Notification{ID: id(2000 + i), Origin: "o", Created: created, Payload: notifications.Payload{Title: "b"}})
	}
	parallel(t, 12, func(i int) error {
		switch i % 3 {
		case 0:
			_, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 7)
			return err
		case 1:
			_, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, e.now)
			return err
		default:
			_, err := s.SaveNotifications(e.ctx, []notifications.Notification{{ID: id(3000 + i), User: user, Origin: "o",
				Created: e.now, Payload: notifications.Payload{Title: "new"}}}, nil)
			return err
		}
	})
	if _, err := s.MarkAllRead(e.ctx, user, notifications.Filter{}, e.now); err != nil {
		t.Fatalf("MarkAllRead: %v", err)
	}
	if _, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 7); err != nil {
		t.Fatalf("DeleteOlderThan: %v", err)
	}
	st, err := s.Status(e.ctx, user)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if want := (notifications.Status{Read: 100 + 20 + 4}); st != want {
		t.Errorf("Status = %+v, want %+v", st, want)
	}
}

// testDeleteCutoffOutOfRange checks that a cutoff outside the years 1 to
// 9999 is clamped: before year 1 deletes nothing, after 9999 everything.
func testDeleteCutoffOutOfRange(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1, -2, 3)
	for _, tm := range farPast {
		if n, err := s.DeleteOlderThan(e.ctx, tm, 0); err != nil || n != 0 {
			t.Errorf("DeleteOlderThan(%s) = %d, %v; want 0", tm, n, err)
		}
	}
	if n, err := s.DeleteOlderThan(e.ctx, time.Time{}, 0); err != nil || n != 0 {
		t.Errorf("DeleteOlderThan(zero time) = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteOlderThan(e.ctx, farFuture[0], 0); err != nil || n != 3 {
		t.Errorf("DeleteOlderThan(%s) = %d, %v; want 3", farFuture[0], n, err)
	}
	if n, err := s.DeleteOlderThan(e.ctx, farFuture[1], 0); err != nil || n != 0 {
		t.Errorf("DeleteOlderThan(%s) again = %d, %v; want 0", farFuture[1], n, err)
	}
}
