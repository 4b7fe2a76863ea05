package notifications

import (
	"context"
	"time"
)

// poller is one of the Service's background loops (the scheduler, the
// snooze waker): it runs its tick every poll interval
// (Config.DeliveryPollInterval), and at once when poked, until Close.
type poller struct {
	wake chan struct{} // something is due now: tick at once (capacity 1)
	done chan struct{} // closed when the loop has returned
}

// startPoller starts a loop running tick, unless the Service runs no
// workers (Config.DeliveryWorkers negative): then its work waits for
// another Service or for the method that runs it by hand. what names the
// work (the "work" attribute) in the two log lines a failing tick writes:
// once when it starts failing, once when it works again, however many
// polls fail between.
func (s *Service) startPoller(what string, tick func(context.Context) error) poller {
	p := poller{wake: make(chan struct{}, 1), done: make(chan struct{})}
	if s.workers < 0 {
		close(p.done)
		return p
	}
	go s.runPoller(p, what, tick)
	return p
}

// poke tells the loop its work may be due now. It never blocks.
func (p poller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (s *Service) runPoller(p poller, what string, tick func(context.Context) error) {
	defer close(p.done)
	// Close cancels a tick in flight.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-stop:
		}
	}()
	timer := time.NewTimer(s.poll)
	defer timer.Stop()
	failing := false
	for {
		err := tick(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			s.log.Error("notifications: background work failed; retrying at every poll", "work", what, "error", err)
		case err == nil && failing:
			failing = false
			s.log.Info("notifications: background work works again", "work", what)
		}
		select {
		case <-s.stop:
			return
		case <-p.wake:
		case <-timer.C:
		}
		timer.Reset(s.poll)
	}
}
