package notifications

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/signals"
)

// snoozeBatch is how many due snoozes one store call ends per table.
const snoozeBatch = 500

// startSnoozer starts the snooze waker: every poll interval, and when
// this Service sets a snooze (wakeSnoozer), it ends the snoozes due by
// the Service's clock, until Close. Each instance runs one; the store's
// conditional update hands each due row to exactly one of them, which
// signals it.
func (s *Service) startSnoozer() {
	s.snoozer = s.startPoller("ending snoozes", s.snoozeTick)
}

// wakeSnoozer tells the waker a snooze was set. It never blocks.
func (s *Service) wakeSnoozer() { s.snoozer.poke() }

// snoozeTick ends the due snoozes, reading the clock only when something
// is snoozed at all.
func (s *Service) snoozeTick(ctx context.Context) error {
	next, ok, err := s.store.NextSnoozeDue(ctx)
	if err != nil {
		return fmt.Errorf("notifications: look for snoozes: %w", err)
	}
	if !ok || next.After(s.now()) {
		return nil
	}
	_, err = s.wakeSnoozed(ctx)
	return err
}

// WakeSnoozed ends, before it returns, every snooze due at the Service's
// clock (Config.Now): each notification comes back unread and unseen,
// and its user gets a new_notification signal for it, once, whichever
// instance ends it. It returns how many came back (an archived one whose
// snooze ends stays hidden, unsignalled, and is not counted). The
// Service's own waker does this every poll interval; WakeSnoozed is meant
// for tests with a fake clock and for hosts that run no workers
// (Config.DeliveryWorkers negative).
func (s *Service) WakeSnoozed(ctx context.Context) (int, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	return s.wakeSnoozed(ctx)
}

func (s *Service) wakeSnoozed(ctx context.Context) (int, error) {
	woken := 0
	for {
		ws, err := s.store.WakeSnoozed(ctx, s.now(), snoozeBatch)
		if err != nil {
			return woken, fmt.Errorf("notifications: end snoozes: %w", err)
		}
		for _, w := range ws {
			s.signalWoken(ctx, w)
		}
		woken += len(ws)
		// A batch short of the limit on both tables ended every due
		// snooze; a full one may have left some.
		if len(ws) < snoozeBatch || ctx.Err() != nil {
			return woken, ctx.Err()
		}
	}
}

// signalWoken publishes new_notification for a notification back from
// its snooze, with the notification as its user sees it now. A failure
// to read it is logged: the snooze has ended either way.
func (s *Service) signalWoken(ctx context.Context, w Woken) {
	n, err := s.store.Get(ctx, w.User, w.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "notifications: reading a notification back from its snooze failed",
			"user", w.User, "id", w.ID, "error", err)
		return
	}
	s.publish(ctx, signals.Signal{
		Recipients: signals.Entity(w.User), Channel: SignalChannel,
		Message: NotificationMessage{Action: ActionNewNotification, NotificationID: n.ID, Notification: &n},
	})
}
