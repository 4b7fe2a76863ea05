package notifications

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// namedPostProcessor is a configured post-processor with its phase found
// once, at New.
type namedPostProcessor struct {
	proc Processor
	post PostProcessor
}

func (p namedPostProcessor) name() string { return p.proc.Name() }

// holds returns the digest a delivery of n by p is held for; nil when it
// goes at once.
func (p namedPostProcessor) holds(n Notification) *DigestConfig { return digestOf(p.proc).holds(n) }

// maxRetryAfter caps the wait a RetryLater asks for, so that a
// misbehaving endpoint's Retry-After cannot park a delivery for years.
const maxRetryAfter = 24 * time.Hour

// startDeliveries sets up the delivery machinery and, unless the Service
// runs no workers, starts the dispatcher.
func (s *Service) startDeliveries() {
	s.wake = make(chan struct{}, 1)
	s.freed = make(chan struct{}, 1)
	s.stop = make(chan struct{})
	s.dispatched = make(chan struct{})
	if s.workers < 0 || len(s.post) == 0 {
		// Without post-processors nothing here can run a delivery: another
		// Service (a newer version of this host, say) will.
		close(s.dispatched)
		return
	}
	go s.dispatch()
}

// wakeDeliveries tells the dispatcher that work may be due now. It never
// blocks: one pending wake-up is as good as many.
func (s *Service) wakeDeliveries() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch is the dispatcher: one goroutine that claims due deliveries up
// to the free worker slots and starts one goroutine per attempt. It claims
// when woken by a local send, when an attempt ends after a claim that
// filled every slot (more may be due), and every poll interval.
func (s *Service) dispatch() {
	defer close(s.dispatched)
	// A claim under way when Close is called is cut short: Close waits
	// for the dispatcher to return.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	timer := time.NewTimer(s.poll)
	defer timer.Stop()
	failing := false
	for {
		full, err := s.claimAndStart(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			// Logged once per outage, not at every poll.
			failing = true
			s.log.Error("notifications: claiming deliveries failed; retrying at every poll", "error", err)
		case err == nil && failing:
			failing = false
			s.log.Info("notifications: claiming deliveries works again")
		}
		var freed <-chan struct{}
		if full {
			freed = s.freed
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-freed:
		case <-timer.C:
		}
		timer.Reset(s.poll)
	}
}

// claimAndStart claims up to the free slots and starts their attempts. It
// reports whether every slot is now taken.
func (s *Service) claimAndStart(ctx context.Context) (bool, error) {
	free := s.workers - s.running.count()
	if free <= 0 {
		return true, nil
	}
	claims, err := s.store.ClaimDeliveries(ctx, ClaimOptions{Now: s.now(), Lease: s.lease, Limit: free})
	if err != nil {
		return false, fmt.Errorf("notifications: claim deliveries: %w", err)
	}
	settings := s.claimSettings(ctx, claims)
	for _, c := range claims {
		// Each attempt's context keeps no caller's cancellation; only
		// Close giving up cancels it.
		base, cancel := context.WithCancel(context.Background())
		done := s.running.add(cancel)
		go func() {
			defer func() {
				cancel()
				done()
				select {
				case s.freed <- struct{}{}:
				default:
				}
			}()
			s.attempt(base, c, settings)
		}()
	}
	return len(claims) == free, nil
}

// claimedSettings are the settings rows of the users of one batch of
// claims, read once for the batch: a user may have turned a channel off
// since the send.
type claimedSettings struct {
	rows  map[string][]SettingRow
	quiet map[string]quietWindow // the users' quiet hours, as stored now
	err   error                  // a read failed: each attempt of the batch fails with it
}

func (s *Service) claimSettings(ctx context.Context, claims []DeliveryClaim) claimedSettings {
	users := make([]string, 0, len(claims))
	seen := make(map[string]bool, len(claims))
	for _, c := range claims {
		if u := c.Delivery.User; u != "" && !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return claimedSettings{}
	}
	rows, err := s.store.SettingRows(ctx, users)
	if err != nil {
		return claimedSettings{err: fmt.Errorf("notifications: load settings: %w", err)}
	}
	quiet, err := s.store.QuietHours(ctx, users)
	if err != nil {
		return claimedSettings{err: fmt.Errorf("notifications: load quiet hours: %w", err)}
	}
	return claimedSettings{rows: rows, quiet: s.quietWindows(quiet)}
}

// RunDueDeliveries runs, before it returns, every delivery due at the
// Service's clock (Config.Now): it claims them, runs their attempts and
// records the outcomes, and repeats until nothing is due, waiting first
// for the attempts this Service's workers are running. It returns how
// many attempts it ran (a delivery its user's quiet hours hold is put
// back, due when they end, and is no attempt). A failed attempt is retried at its backoff, which
// is in the future: RunDueDeliveries returns before it, and runs it when
// called again after the clock has passed it.
//
// It is meant for tests with a fake clock (package notificationstest
// wraps it) and for hosts that run no delivery workers
// (Config.DeliveryWorkers negative) and deliver on their own schedule. When
// ctx ends, the attempts running get a cancelled context and their
// deliveries are left claimed until the lease runs out.
func (s *Service) RunDueDeliveries(ctx context.Context) (int, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	// The attempts end with ctx, or when Close gives up on them.
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	batch := max(s.workers, DefaultDeliveryWorkers)
	ran := 0
	for {
		if err := s.running.wait(ctx); err != nil {
			return ran, err
		}
		claims, err := s.store.ClaimDeliveries(ctx, ClaimOptions{Now: s.now(), Lease: s.lease, Limit: batch})
		if err != nil {
			return ran, fmt.Errorf("notifications: claim deliveries: %w", err)
		}
		if len(claims) == 0 {
			if s.running.count() == 0 {
				return ran, ctx.Err()
			}
			continue // a worker claimed meanwhile: wait for it
		}
		settings := s.claimSettings(ctx, claims)
		var wg sync.WaitGroup
		var attempts atomic.Int64
		for _, c := range claims {
			done := s.running.add(cancel)
			wg.Go(func() {
				defer done()
				if s.attempt(base, c, settings) {
					attempts.Add(1)
				}
			})
		}
		wg.Wait()
		ran += int(attempts.Load())
		if err := ctx.Err(); err != nil {
			return ran, err
		}
	}
}

// attempt runs one claimed delivery and records its outcome, and reports
// whether it was an attempt: a delivery its user's quiet hours hold is
// put back instead (see Settings.QuietHours). base is what the attempt's
// context derives from: when it ends (Close gave up, or
// RunDueDeliveries' caller went away) an unfinished attempt is not
// recorded, and its claim lapses with the lease.
func (s *Service) attempt(base context.Context, c DeliveryClaim, settings claimedSettings) bool {
	if until, held := s.quietHold(c, settings, s.now()); held {
		s.hold(base, c, until)
		return false
	}
	s.runAttempt(base, c, settings)
	return true
}

// runAttempt is attempt's attempt.
func (s *Service) runAttempt(base context.Context, c DeliveryClaim, settings claimedSettings) {
	d := c.Delivery
	base, dt := s.tel.startDeliver(base, c)
	recorded, attemptErr := outcomeAbandoned, error(nil)
	defer func() { dt.end(base, recorded, attemptErr) }()
	ctx, cancel := context.WithCancelCause(ContextWithDelivery(base, d))
	defer cancel(nil)
	renewed := s.keepLease(ctx, cancel, d.ID, c.Token)
	status, skipped, runErr := s.run(ctx, c, settings)
	dt.processed(ctx, status, runErr)
	attemptErr = runErr
	cancel(nil)
	<-renewed // no renewal may land after the outcome
	if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) && status != DeliverySent {
		s.log.Warn("notifications: delivery attempt cut short: its lease was lost, another worker has it",
			"delivery_id", d.ID, "processor", d.Processor, "attempt", d.Attempts)
		return
	}
	if base.Err() != nil && status != DeliverySent {
		return // abandoned: the lease lapses and the delivery runs again
	}
	out := s.outcome(d, c.Token, status, runErr)
	out.Skipped = skipped
	if status != DeliverySent && status != DeliveryCancelled {
		s.logAttemptFailure(ctx, d, out.Status, runErr)
	}
	// The outcome is recorded even when base has just ended: an attempt
	// that succeeded should not run again for want of a write.
	rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), s.lease)
	defer stop()
	stored, err := s.store.FinishDelivery(rctx, out)
	switch {
	case errors.Is(err, ErrLeaseLost):
		s.log.Warn("notifications: delivery outcome dropped: its lease was lost, another worker has it",
			"delivery_id", d.ID, "processor", d.Processor, "attempt", d.Attempts, "outcome", string(out.Status))
		return
	case err != nil:
		s.log.Error("notifications: recording a delivery outcome failed; the delivery runs again after its lease",
			"delivery_id", d.ID, "processor", d.Processor, "attempt", d.Attempts, "outcome", string(out.Status), "error", err)
		recorded = outcomeUnrecorded
		return
	}
	recorded = string(stored.Status)
	s.notifyDelivery(context.WithoutCancel(ctx), stored)
	if d.IsDigest() {
		// Its claim may have moved members beyond MaxItems to a digest
		// due now.
		s.wakeDeliveries()
	}
}

// run decides whether the claimed delivery is still wanted and, if so,
// calls its post-processor. It returns DeliverySent, DeliveryCancelled
// with the reason, or "" with the attempt's error; for a digest, also the
// members it left out.
func (s *Service) run(ctx context.Context, c DeliveryClaim, settings claimedSettings) (DeliveryStatus, []string, error) {
	d := c.Delivery
	p, ok := s.postProcessor(d.Processor)
	if !ok {
		// Deliveries of a processor this Service lacks (removed, or not
		// yet deployed here) fail after their retries, with the reason.
		return "", nil, fmt.Errorf("notifications: no post-processor named %q in this Service", d.Processor)
	}
	if d.IsDigest() {
		return s.runDigest(ctx, c, p, settings)
	}
	status, err := s.runOne(ctx, c, p, settings)
	return status, nil, err
}

// runOne runs a delivery of one notification.
func (s *Service) runOne(ctx context.Context, c DeliveryClaim, p namedPostProcessor, settings claimedSettings) (DeliveryStatus, error) {
	d := c.Delivery
	if c.Notification == nil {
		return DeliveryCancelled, errors.New("cancelled: the notification no longer exists")
	}
	n := *c.Notification
	if d.User != "" {
		if settings.err != nil {
			return "", settings.err
		}
		if !s.defaults.enabled(settings.rows[d.User], p.name(), n.Origin, n.Payload.Topic) {
			return DeliveryCancelled, fmt.Errorf("cancelled: the user turned the %s channel off for this origin or topic", p.name())
		}
	}
	_, err := callPhase(func() (struct{}, error) { return struct{}{}, p.post.PostProcess(ctx, n, c.Options) })
	if err != nil {
		return "", err
	}
	return DeliverySent, nil
}

func (s *Service) postProcessor(name string) (namedPostProcessor, bool) {
	for _, p := range s.post {
		if p.name() == name {
			return p, true
		}
	}
	return namedPostProcessor{}, false
}

// outcome turns an attempt's result into what the store records: sent;
// cancelled; failed for a Permanent error or the last attempt; otherwise
// retrying after the policy's backoff, or later if the error asked.
func (s *Service) outcome(d Delivery, token string, status DeliveryStatus, err error) DeliveryOutcome {
	now := s.now()
	out := DeliveryOutcome{ID: d.ID, Token: token, Status: status, Now: now}
	if err != nil {
		out.LastError = deliveryErrorText(err)
	}
	if status != "" {
		return out
	}
	if IsPermanent(err) || d.Attempts >= s.retry.MaxAttempts {
		out.Status = DeliveryFailed
		return out
	}
	wait := s.retry.backoff(d.Attempts, s.jitter)
	if after, ok := RetryAfter(err); ok && after > wait {
		wait = min(after, maxRetryAfter)
	}
	// Rounded up to the millisecond, the precision of the Service's clock
	// (and of every time it stores): never sooner than the wait.
	next := now.Add(wait + time.Millisecond - 1).Truncate(time.Millisecond)
	out.Status, out.NextAttempt = DeliveryRetrying, &next
	return out
}

// keepLease renews the attempt's lease every third of the lease until ctx
// ends, and cancels ctx with ErrLeaseLost when the lease no longer holds.
// The returned channel is closed when it has stopped.
func (s *Service) keepLease(ctx context.Context, cancel context.CancelCauseFunc, id, token string) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(max(s.lease/3, time.Millisecond))
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			err := s.store.RenewDeliveryLease(ctx, id, token, s.now().Add(s.lease))
			switch {
			case errors.Is(err, ErrLeaseLost):
				cancel(ErrLeaseLost)
				return
			case err != nil && ctx.Err() == nil:
				// The next tick tries again; the lease still holds a while.
				s.log.Warn("notifications: renewing a delivery lease failed", "delivery_id", id, "error", err)
			}
		}
	}()
	return stopped
}

// logAttemptFailure logs a failed attempt once, with what an operator
// needs to find it: processor, phase, notification, delivery, attempt and
// what happens next.
func (s *Service) logAttemptFailure(ctx context.Context, d Delivery, next DeliveryStatus, err error) {
	attrs := []any{"processor", d.Processor, "phase", phasePost, "notification_id", d.NotificationID,
		"delivery_id", d.ID, "attempt", d.Attempts, "outcome", string(next), "error", err}
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.stack))
	}
	s.log.ErrorContext(ctx, "notifications: processor failed", attrs...)
}

// notifyDelivery calls Config.OnDelivery, containing its panics.
func (s *Service) notifyDelivery(ctx context.Context, d Delivery) {
	if s.onDelivery == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(ctx, "notifications: OnDelivery panicked", "delivery_id", d.ID, "error", fmt.Sprint(r))
		}
	}()
	s.onDelivery(ctx, d)
}

// urlPattern finds URLs in error texts: a scheme, "://", then everything
// up to a space or a quote, as net/url and net/http print them.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// deliveryErrorText is the error text a delivery keeps: every URL reduced
// to its scheme and host (a webhook or Slack URL carries its secret in the
// path, query or user info), at most MaxDeliveryErrorLength bytes, cut at
// a character boundary.
func deliveryErrorText(err error) string {
	text := urlPattern.ReplaceAllStringFunc(err.Error(), func(raw string) string {
		// Punctuation that ends a sentence or a "to <url>: cause" is
		// not part of the URL.
		trimmed := strings.TrimRight(raw, ".,:;!?)]}")
		tail := raw[len(trimmed):]
		u, perr := url.Parse(trimmed)
		if perr != nil || u.Host == "" {
			scheme, _, _ := strings.Cut(trimmed, "://")
			return scheme + "://(redacted)" + tail
		}
		return u.Scheme + "://" + u.Host + tail
	})
	if len(text) <= MaxDeliveryErrorLength {
		return text
	}
	const ellipsis = "…"
	cut := MaxDeliveryErrorLength - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + ellipsis
}

// attemptCount tracks the attempts running in this Service, for the free
// worker slots, RunDueDeliveries and Close, with what cancels each.
type attemptCount struct {
	mu        sync.Mutex
	n         int
	idle      chan struct{} // closed when n drops to 0; nil while n is 0
	cancels   map[int]context.CancelFunc
	nextKey   int
	abandoned bool
}

// add counts one attempt, which cancel ends when Close gives up (at once
// if it already has), and returns what to call when it has returned.
func (a *attemptCount) add(cancel context.CancelFunc) (done func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.abandoned {
		cancel()
	}
	if a.n == 0 {
		a.idle = make(chan struct{})
	}
	a.n++
	if a.cancels == nil {
		a.cancels = map[int]context.CancelFunc{}
	}
	key := a.nextKey
	a.nextKey++
	a.cancels[key] = cancel
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.cancels, key)
		a.n--
		if a.n == 0 {
			close(a.idle)
			a.idle = nil
		}
	}
}

// abandon cancels every running attempt, and every one started later.
func (a *attemptCount) abandon() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.abandoned = true
	for _, cancel := range a.cancels {
		cancel()
	}
}

func (a *attemptCount) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// wait returns when no attempt runs, or with ctx's error.
func (a *attemptCount) wait(ctx context.Context) error {
	for {
		a.mu.Lock()
		idle := a.idle
		a.mu.Unlock()
		if idle == nil {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
