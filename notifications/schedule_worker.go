package notifications

import (
	"context"
	"fmt"
)

// scheduleBatch is how many due schedules one claim takes. They run one
// after the other on the scheduler's goroutine: each is a whole send, and
// a lease outlives a batch's worth of ordinary sends.
const scheduleBatch = 16

// startScheduler starts the scheduler: it claims and runs due schedules
// every poll interval, and at once when Schedule stores one already due
// (wakeScheduler), until Close.
func (s *Service) startScheduler() {
	s.scheduler = s.startPoller("claiming scheduled sends", s.scheduleTick)
}

// wakeScheduler tells the scheduler a schedule is due now. It never
// blocks.
func (s *Service) wakeScheduler() { s.scheduler.poke() }

// scheduleTick runs the due schedules, reading the clock only when a
// schedule is waiting at all (a host's fake clock that moves on every
// read is then left alone by a Service that schedules nothing).
func (s *Service) scheduleTick(ctx context.Context) error {
	next, ok, err := s.store.NextScheduleDue(ctx)
	if err != nil {
		return fmt.Errorf("notifications: look for scheduled sends: %w", err)
	}
	if !ok || next.After(s.now()) {
		return nil
	}
	_, err = s.runDueSchedules(ctx)
	return err
}

// RunDueSchedules runs, before it returns, every scheduled send due at the
// Service's clock (Config.Now): it claims them and runs their sends, until
// nothing is due. It returns how many sends it committed. A run that
// failed and is retried is due later: RunDueSchedules returns before it.
// It is meant for tests with a fake clock (package notificationstest
// wraps it) and for hosts that run no workers (Config.DeliveryWorkers
// negative).
func (s *Service) RunDueSchedules(ctx context.Context) (int, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	return s.runDueSchedules(ctx)
}

func (s *Service) runDueSchedules(ctx context.Context) (int, error) {
	sent := 0
	for {
		claims, err := s.store.ClaimSchedules(ctx, ClaimOptions{Now: s.now(), Lease: s.lease, Limit: scheduleBatch})
		if err != nil {
			return sent, fmt.Errorf("notifications: claim scheduled sends: %w", err)
		}
		for _, c := range claims {
			if s.runSchedule(ctx, c) {
				sent++
			}
		}
		if len(claims) < scheduleBatch || ctx.Err() != nil {
			return sent, ctx.Err()
		}
	}
}
