package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// testCountsUnderConcurrency runs sends (to the user, fan-outs to the
// user, the other user and more, and broadcasts), read, saved, seen,
// archived and snoozed changes, mark-all, the snooze waker and retention
// at the same time, counting the common views all along (a count must
// never fail), then checks every common view's Count, Counts and the
// Status of both users against List once the writers are done: counts
// by subtraction, off indexes or maintained by the writes must not drift
// from what is stored.
func testCountsUnderConcurrency(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	ctx := e.ctx
	const rounds = 40
	old := e.now.Add(-48 * time.Hour) // what retention deletes
	views := []notifications.Filter{{}, {Read: new(false)}, {Read: new(true)}, {Saved: new(true)}, {Saved: new(false), Read: new(false)},
		{Seen: new(false)}, {Archived: new(true)}}
	errs := make(chan error, 4*rounds+8)
	var writers, wg sync.WaitGroup
	// Sends: a notification for the user and a broadcast each round,
	// every other one created long ago.
	ids := make(chan string, 4*rounds)
	writers.Go(func() {
		for i := range rounds {
			created := e.now.Add(time.Duration(i) * time.Millisecond)
			if i%2 == 0 {
				created = old.Add(time.Duration(i) * time.Millisecond)
			}
			n := notifications.Notification{ID: fmt.Sprintf("00000000-0000-4000-a000-%012d", i), User: user, Origin: "svc",
				Created: created, Payload: notifications.Payload{Title: "n"}}
			if _, err := s.SaveNotifications(ctx, []notifications.Notification{n}, nil); err != nil {
				errs <- err
				break
			}
			b := n
			b.ID, b.User = fmt.Sprintf("00000000-0000-4000-b000-%012d", i), ""
			if _, err := s.SaveBroadcast(ctx, b, nil); err != nil {
				errs <- err
				break
			}
			ids <- n.ID
			ids <- b.ID
		}
		close(ids)
	})
	// Fan-outs to both users and others, every other one long ago, and
	// the other user's mark-alls and the waker in between.
	writers.Go(func() {
		for i := range rounds / 2 {
			created := e.now.Add(time.Duration(i) * time.Millisecond)
			if i%2 == 0 {
				created = old.Add(time.Duration(i) * time.Millisecond)
			}
			ns := make([]notifications.Notification, 0, 22)
			for j, u := range append([]string{other, user}, userNotesUsers(20)...) {
				ns = append(ns, notifications.Notification{ID: fmt.Sprintf("00000000-0000-4000-c%03d-%012d", i, j), User: u,
					Origin: "fan", Created: created, Payload: notifications.Payload{Title: "f"}})
			}
			if _, err := s.SaveNotifications(ctx, ns, nil); err != nil {
				errs <- err
				return
			}
			var err error
			switch i % 3 {
			case 0:
				_, err = s.MarkAllRead(ctx, other, notifications.Filter{}, e.now)
			case 1:
				_, err = s.MarkAllSeen(ctx, other, notifications.Filter{}, e.now)
			case 2:
				_, err = s.WakeSnoozed(ctx, e.now.Add(2*time.Hour), 0)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	// Reads and saves of what was sent, as it arrives.
	writers.Go(func() {
		k := 0
		for id := range ids {
			at := e.now
			var err error
			until := at.Add(time.Hour)
			switch k % 6 {
			case 0:
				err = s.SetRead(ctx, user, []string{id}, &at, at)
			case 1:
				err = s.SetSaved(ctx, user, []string{id}, &at, at)
			case 2:
				err = s.SetArchived(ctx, user, []string{id}, &at, at)
			case 3:
				err = s.SetSnoozed(ctx, user, []string{id}, &until, at)
			case 4:
				err = s.SetSeen(ctx, user, []string{id}, &at, at)
			}
			if err != nil {
				errs <- err
				continue
			}
			k++
		}
	})
	// Retention, and counts, over and over until the writers are done.
	done := make(chan struct{})
	repeat := func(step func() error) {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := step(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	repeat(func() error {
		_, err := s.DeleteOlderThan(ctx, e.now.Add(-24*time.Hour), 3)
		return err
	})
	repeat(func() error {
		for _, f := range views {
			if n, err := s.Count(ctx, user, f); err != nil || n < 0 {
				return fmt.Errorf("Count(%s) = %d, %v while writing", describe(f), n, err)
			}
		}
		return nil
	})
	// The sender and the reader end on their own; then retention and
	// the counts stop.
	writers.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A last retention pass, then every view's count is exact.
	if _, err := s.DeleteOlderThan(ctx, e.now.Add(-24*time.Hour), 1000); err != nil {
		t.Fatal(err)
	}
	for _, f := range views {
		want := len(e.list(notifications.Query{Filter: f}))
		n, err := s.Count(ctx, user, f)
		if err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; List has %d", describe(f), n, err, want)
		}
	}
	for _, u := range []string{user, other, userNotesUsers(1)[0]} {
		e.expectRecount("the concurrent writes", u)
	}
	// Archived and snoozed ones included (any change time, Archived nil):
	// the recent half of the sends, broadcasts and fan-outs.
	if all := len(e.list(notifications.Query{Filter: notifications.Filter{ChangedSince: &time.Time{}}})); all != rounds+rounds/4 {
		t.Errorf("after retention the user has %d, want the %d recent ones", all, rounds+rounds/4)
	}
}

// userNotesUsers returns the first n users of userNotes.
func userNotesUsers(n int) []string {
	us := make([]string, n)
	for i, nt := range userNotes(n, 0, time.Time{}, "") {
		us[i] = nt.User
	}
	return us
}
