package notifications

import (
	"context"
	"sync"
)

// postJob is one committed send waiting for post-processing.
type postJob struct {
	ctx           context.Context
	opts          SendOptions
	notifications []Notification
	settings      map[string][]SettingRow
}

func (s *Service) enqueuePost(ctx context.Context, job postJob) {
	if !s.hasPost || len(job.notifications) == 0 {
		return
	}
	job.ctx = context.WithoutCancel(ctx)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.log.ErrorContext(ctx, "notifications: post-processing skipped: the service is closed", "notifications", len(job.notifications))
		return
	}
	s.enqueuers.Add(1)
	s.mu.RUnlock()
	defer s.enqueuers.Done()
	select {
	case s.jobs <- job:
	case <-s.closing:
		s.log.ErrorContext(ctx, "notifications: post-processing skipped: the service closed while the send waited for the queue",
			"notifications", len(job.notifications))
	case <-ctx.Done():
		s.log.ErrorContext(ctx, "notifications: post-processing skipped: the sender gave up waiting for the queue",
			"notifications", len(job.notifications), "error", ctx.Err())
	}
}

func (s *Service) postProcessLoop() {
	for job := range s.jobs {
		s.postProcess(job)
	}
}

// postProcess runs each post-processor over the job's notifications, each
// processor in its own goroutine so a slow one never holds up the others.
func (s *Service) postProcess(job postJob) {
	var wg sync.WaitGroup
	for _, p := range s.processors {
		pp, ok := p.(PostProcessor)
		if !ok {
			continue
		}
		wg.Go(func() {
			for _, n := range job.notifications {
				if !s.processorAllowed(p, n, job.settings[n.User]) {
					continue
				}
				_, err := callPhase(func() (struct{}, error) {
					return struct{}{}, pp.PostProcess(job.ctx, n, job.opts)
				})
				if err != nil {
					s.logProcessorFailure(job.ctx, p, phasePost, n.ID, err)
				}
			}
		})
	}
	wg.Wait()
}
