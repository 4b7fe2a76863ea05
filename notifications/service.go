package notifications

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/entityref"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/signals"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Service. Only Store is required.
type Config struct {
	// Store persists notifications and settings. Required.
	Store Store
	// Signals receives a signal after every committed send and every
	// read/unread change, for live updates in browsers. Defaults to none.
	Signals signals.Publisher
	// Processors extend the send pipeline, in this order; each name must be
	// unique. A post-processor's name is stored with each of its
	// deliveries: every Service sharing a store should have the same
	// post-processors, since any of them may claim a delivery, and one
	// that lacks its processor counts a failed attempt. Defaults to none.
	Processors []Processor
	// Catalog expands groups and owners into users for the default
	// resolver. Defaults to none: only user refs can then be sent to.
	Catalog Catalog
	// Resolver replaces the default catalog-based recipient resolution.
	// Defaults to the catalog walk.
	Resolver RecipientResolver
	// DefaultSettings are the administrator's defaults per channel, origin
	// and topic; a channel with Enabled false is opt-in, and an entry with
	// Locked set is one users cannot change (see ChannelSettings.Locked).
	// Defaults to everything enabled, nothing locked.
	DefaultSettings Settings
	// Retry says how often and how soon a failed delivery is attempted
	// again. Defaults to the zero RetryPolicy's defaults: 8 attempts, 10
	// seconds to 10 minutes apart, about half an hour in all.
	Retry RetryPolicy
	// DeliveryWorkers bounds how many delivery attempts this Service runs
	// at once. A negative value runs no delivery workers at all: the
	// deliveries of its sends wait in the store for another Service on it,
	// or for RunDueDeliveries (a host's tests, a process that only
	// writes). Defaults to 4.
	DeliveryWorkers int
	// DeliveryLease is how long a claimed delivery stays this Service's
	// before another may take it over; it is renewed every third of it
	// while an attempt runs, so only a dead or stalled Service loses it.
	// The clocks of the Services sharing a store must agree to well
	// within it. Defaults to 30s.
	DeliveryLease time.Duration
	// DeliveryPollInterval is how often the workers look for deliveries
	// due in the store: other instances' sends, retries, a restart's
	// backlog. A local send or RetryDelivery wakes them at once. Defaults
	// to 1s.
	DeliveryPollInterval time.Duration
	// DeliveryRetention is how long RunCleaner (and
	// DeleteFinishedDeliveries) keep a sent, failed or cancelled delivery
	// after its last change. Defaults to 30 days.
	DeliveryRetention time.Duration
	// OnDelivery, when set, is called after each attempt's outcome is
	// stored (sent, retrying, failed or cancelled) with the delivery as
	// stored, on the worker's goroutine: a host meters or alerts here, and
	// returns quickly. A panic in it is logged and contained. Defaults to
	// none.
	OnDelivery func(ctx context.Context, d Delivery)
	// IdempotencyTTL is how long an idempotency key holds: a send with
	// SendOptions.IdempotencyKey, and a scheduled send's key after it has
	// run. An expired key is free for a new send, and RunCleaner forgets
	// it. Defaults to DefaultIdempotencyTTL (24h).
	IdempotencyTTL time.Duration
	// Logger receives processor, signal and retention logs. Defaults to
	// slog.Default(), so a host that configured nothing still sees a
	// failing processor.
	Logger *slog.Logger
	// TracerProvider traces sends (herald.send) and delivery attempts
	// (herald.deliver); see the package documentation. Defaults to
	// otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider meters sends, processors and deliveries (herald.*
	// instruments; see the package documentation). Defaults to
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// NewIDFunc generates notification, send and delivery ids, which must
	// be UUIDs. Defaults to random version 4 UUIDs.
	NewIDFunc func() string
}

// Service is Herald's notification service: the send pipeline, every
// user's inbox, and the delivery workers that run the post-processors off
// the deliveries stored with each send. It is safe for concurrent use.
// Close it to stop the workers.
type Service struct {
	store      Store
	publisher  signals.Publisher
	processors []Processor
	resolver   RecipientResolver
	defaults   defaultSettings
	channels   []string // settings channel ids: Web, each processor, then channels only the defaults name
	log        *slog.Logger
	clock      func() time.Time
	newID      func() string
	tel        *telemetry

	// post holds the post-processors by name, in Config.Processors order.
	post       []namedPostProcessor
	retry      RetryPolicy
	workers    int // < 0: no background workers
	lease      time.Duration
	poll       time.Duration
	retention  time.Duration
	onDelivery func(ctx context.Context, d Delivery)
	jitter     func(n int64) int64 // nil: math/rand/v2

	idempotencyTTL time.Duration
	scheduler      poller // claims and runs due schedules (schedule_worker.go)
	snoozer        poller // ends due snoozes (snooze.go)

	mu         sync.Mutex // guards closed
	closed     bool
	closeOnce  sync.Once
	wake       chan struct{} // a local send or retry: claim now (capacity 1, never blocks)
	freed      chan struct{} // an attempt ended: a full dispatcher may claim again (capacity 1)
	stop       chan struct{} // closed by Close: claim nothing more
	dispatched chan struct{} // closed when the dispatcher has returned
	running    attemptCount
}

// The delivery defaults.
const (
	DefaultDeliveryWorkers      = 4
	DefaultDeliveryLease        = 30 * time.Second
	DefaultDeliveryPollInterval = time.Second
	DefaultDeliveryRetention    = 30 * 24 * time.Hour
)

// New validates cfg and returns a running Service: unless
// cfg.DeliveryWorkers is negative, its delivery workers start at once and
// pick up whatever is due in the store, a previous process's unfinished
// deliveries included.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("notifications: Config.Store is required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DeliveryLease", cfg.DeliveryLease}, {"DeliveryPollInterval", cfg.DeliveryPollInterval}, {"DeliveryRetention", cfg.DeliveryRetention}, {"IdempotencyTTL", cfg.IdempotencyTTL},
		{"Retry.MinBackoff", cfg.Retry.MinBackoff}, {"Retry.MaxBackoff", cfg.Retry.MaxBackoff}} {
		if d.v < 0 {
			return nil, fmt.Errorf("notifications: Config.%s is negative", d.name)
		}
	}
	if cfg.Retry.MaxAttempts < 0 {
		return nil, errors.New("notifications: Config.Retry.MaxAttempts is negative")
	}
	s := &Service{
		store:      cfg.Store,
		publisher:  cfg.Signals,
		processors: cfg.Processors,
		resolver:   cfg.Resolver,
		log:        cfg.Logger,
		clock:      cfg.Now,
		newID:      cfg.NewIDFunc,
		retry:      cfg.Retry.withDefaults(),
		workers:    cfg.DeliveryWorkers,
		lease:      cmp.Or(cfg.DeliveryLease, DefaultDeliveryLease),
		poll:       cmp.Or(cfg.DeliveryPollInterval, DefaultDeliveryPollInterval),
		retention:  cmp.Or(cfg.DeliveryRetention, DefaultDeliveryRetention),
		onDelivery: cfg.OnDelivery,

		idempotencyTTL: cmp.Or(cfg.IdempotencyTTL, DefaultIdempotencyTTL),
	}
	if s.workers == 0 {
		s.workers = DefaultDeliveryWorkers
	}
	if s.resolver == nil {
		s.resolver = catalogResolver{catalog: cfg.Catalog}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.newID == nil {
		s.newID = uuid.New
	}
	names := map[string]bool{WebChannel: true}
	s.channels = []string{WebChannel}
	for i, p := range cfg.Processors {
		if p == nil || p.Name() == "" {
			return nil, fmt.Errorf("notifications: Config.Processors[%d] has no name", i)
		}
		if p.Name() == WebChannel {
			return nil, fmt.Errorf("notifications: Config.Processors[%d]: the name %q is reserved for the in-app channel", i, WebChannel)
		}
		if names[p.Name()] {
			return nil, fmt.Errorf("notifications: Config.Processors[%d]: processor name %q is used twice", i, p.Name())
		}
		names[p.Name()] = true
		s.channels = append(s.channels, p.Name())
		if fp, ok := p.(FilteredProcessor); ok {
			if err := fp.Filter().Validate(); err != nil {
				return nil, fmt.Errorf("notifications: processor %q: %w", p.Name(), err)
			}
		}
		if pp, ok := p.(PostProcessor); ok {
			s.post = append(s.post, namedPostProcessor{proc: p, post: pp})
		}
	}
	if err := validateDefaultSettings(cfg.DefaultSettings); err != nil {
		return nil, err
	}
	s.defaults = newDefaultSettings(cfg.DefaultSettings)
	tel, err := newTelemetry(cfg.TracerProvider, cfg.MeterProvider, cfg.Processors)
	if err == nil {
		err = tel.registerBacklog(cfg.MeterProvider, cfg.Store)
	}
	if err != nil {
		return nil, fmt.Errorf("notifications: telemetry: %w", err)
	}
	s.tel = tel
	for _, c := range cfg.DefaultSettings.Channels {
		if !containsFold(s.channels, c.ID) {
			s.channels = append(s.channels, c.ID)
		}
	}
	s.startDeliveries()
	s.startScheduler()
	s.startSnoozer()
	return s, nil
}

// Close stops the Service: Send, Schedule, RunDueDeliveries and
// RunDueSchedules return ErrClosed from then on, the delivery workers and
// the scheduler claim nothing more (a scheduled send the scheduler is
// running is cut short and runs again once its lease has run out), and
// Close waits for the attempts in flight to finish and be recorded, until
// ctx is done. Then it cancels the attempts still running (their contexts end)
// and returns ctx's error at once, without waiting for them: their
// deliveries stay claimed until the lease runs out (or, on a SQLite file,
// until the store is closed) and run again on the next Service. Every
// delivery not yet attempted stays pending in the store for the next
// Service; Close does not run them. Close may be called again, to wait
// longer.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		s.tel.close()
	})
	select {
	case <-s.scheduler.done:
	case <-ctx.Done():
		s.running.abandon()
		return fmt.Errorf("notifications: close: scheduler still running: %w", ctx.Err())
	}
	select {
	case <-s.snoozer.done:
	case <-ctx.Done():
		return fmt.Errorf("notifications: close: snooze waker still running: %w", ctx.Err())
	}
	select {
	case <-s.dispatched:
	case <-ctx.Done():
		s.running.abandon()
		return fmt.Errorf("notifications: close: delivery workers still running: %w", ctx.Err())
	}
	if err := s.running.wait(ctx); err != nil {
		s.running.abandon()
		return fmt.Errorf("notifications: close: delivery attempts still running: %w", err)
	}
	return nil
}

func (s *Service) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// now is the send time: UTC and truncated to milliseconds, the precision
// of the wire format, so what Send returns equals what a later read does.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Millisecond) }

// Sender is what a plugin or service depends on to send notifications.
type Sender interface {
	// Send validates the request, resolves recipients, runs processors,
	// stores one notification per recipient (or one broadcast) in one
	// transaction and signals them. It returns what was stored for each
	// delivered recipient, in resolution order: recipients who turned the
	// in-app channel off for this origin or topic are left out. Bad input
	// is an error wrapping ErrInvalid (usually a *ValidationError), and
	// nothing is written. Signal and post-processing failures are logged,
	// never returned: once Send returns the notifications, they are stored.
	Send(ctx context.Context, r Recipients, p Payload) ([]Notification, error)
}

// Sender returns a Sender whose notifications come from origin, like
// "plugin:catalog" or the subject of an external service's token. It
// implements SendOptionsSender, for SendWith.
func (s *Service) Sender(origin string) Sender { return originSender{s: s, origin: origin} }

var _ SendOptionsSender = originSender{}

type originSender struct {
	s      *Service
	origin string
}

func (o originSender) Send(ctx context.Context, r Recipients, p Payload) ([]Notification, error) {
	return o.s.Send(ctx, SendOptions{Origin: o.origin, Recipients: r, Payload: p})
}

func (o originSender) SendOptions(ctx context.Context, opts SendOptions) ([]Notification, error) {
	opts.Origin = o.origin
	return o.s.Send(ctx, opts)
}

// Send is Sender.Send with the origin given in o. With
// o.IdempotencyKey set, a repeated send returns the first one's result
// (see SendOptions.IdempotencyKey).
func (s *Service) Send(ctx context.Context, o SendOptions) ([]Notification, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.IdempotencyKey != "" {
		return s.sendIdempotent(ctx, o)
	}
	return s.send(ctx, o, sendRun{})
}

// send runs the pipeline for o, validated, from the options phase on.
func (s *Service) send(ctx context.Context, o SendOptions, run sendRun) ([]Notification, error) {
	ctx, run.trace = s.tel.startSend(ctx, o.Origin)
	stored, err := s.runPipeline(ctx, o, run)
	run.trace.end(ctx, len(stored), err)
	return stored, err
}

// runPipeline is send's pipeline, within its span.
func (s *Service) runPipeline(ctx context.Context, o SendOptions, run sendRun) ([]Notification, error) {
	o.IdempotencyKey = ""
	o, ran := s.processOptions(ctx, o, run.trace)
	o.Payload.Severity = o.Payload.Severity.OrDefault()
	var broken bool
	o.Recipients, broken = canonicalRecipients(o.Recipients)
	// The request was valid before the options phase. Only an options
	// processor, or a ref whose canonical form breaks the ref rules (grown
	// past the length limit by its namespace), can have made it invalid;
	// then it is refused rather than stored against the rules.
	if ran || broken {
		if err := o.Validate(); err != nil {
			return nil, err
		}
	}
	base := Notification{Origin: o.Origin, Created: s.now(), Payload: o.Payload}
	if o.Recipients.IsBroadcast() {
		return s.sendBroadcast(ctx, o, base, run)
	}
	return s.sendToUsers(ctx, o, base, run)
}

// processOptions runs the options phase and reports whether any processor
// ran, and so may have changed the request.
func (s *Service) processOptions(ctx context.Context, o SendOptions, st sendTrace) (SendOptions, bool) {
	ran := false
	for _, p := range s.processors {
		op, ok := p.(OptionsProcessor)
		if !ok || !passesFilters(p, o.Payload) {
			continue
		}
		start := st.phaseStart(ctx)
		next, err := callPhase(func() (SendOptions, error) { return op.ProcessOptions(ctx, o) })
		st.phaseEnd(ctx, p, phaseOptions, start, err)
		if err != nil {
			s.logProcessorFailure(ctx, p, phaseOptions, "", err)
			continue
		}
		o, ran = next, true
	}
	return o, ran
}

// canonicalRecipients canonicalises r's refs. It reports whether a
// canonical ref no longer parses, which only a ref near the length limit
// can do.
func canonicalRecipients(r Recipients) (Recipients, bool) {
	broken := false
	canon := func(refs []string) []string {
		out := make([]string, len(refs))
		for i, ref := range refs {
			out[i] = ref
			if p, err := entityref.Parse(ref); err == nil && p.Kind != "" {
				out[i] = canonicalString(p, ref)
				if out[i] != ref {
					if _, err := entityref.Parse(out[i]); err != nil {
						broken = true
					}
				}
			}
		}
		return out
	}
	r.EntityRefs = canon(r.EntityRefs)
	r.ExcludeEntityRefs = canon(r.ExcludeEntityRefs)
	return r, broken
}

func (s *Service) sendBroadcast(ctx context.Context, o SendOptions, n Notification, run sendRun) ([]Notification, error) {
	n.ID = s.newID()
	n = s.preProcess(ctx, n, o, nil, run.trace)
	run.trace.resolved(ctx, 0, true)
	var w *DeliveryWrite
	if run.needsRecord() {
		w = s.newWrite(o, n.Created, run)
	}
	delivers := false
	for _, p := range s.post {
		if passesFilters(p.proc, n.Payload) {
			w = s.addDelivery(w, o, n.Created, run, NewDelivery{Processor: p.name()})
			delivers = true
		}
	}
	wctx, span := run.trace.child(ctx, "herald.store.write")
	stored, err := s.store.SaveBroadcast(wctx, n, w)
	endSpan(span, err)
	if err != nil {
		return nil, fmt.Errorf("notifications: save broadcast: %w", err)
	}
	s.publish(ctx, signals.Signal{
		Recipients: signals.Broadcast(), Channel: SignalChannel,
		Message: NotificationMessage{Action: ActionNewNotification, NotificationID: stored.ID, Notification: &stored},
	})
	if delivers {
		s.wakeDeliveries()
	}
	return []Notification{stored}, nil
}

func (s *Service) sendToUsers(ctx context.Context, o SendOptions, base Notification, run sendRun) ([]Notification, error) {
	rctx, span := run.trace.child(ctx, "herald.resolve")
	users, err := s.resolveUsers(rctx, o.Recipients)
	endSpan(span, err)
	if err != nil {
		return nil, err
	}
	run.trace.resolved(ctx, len(users), false)
	var w *DeliveryWrite
	if run.needsRecord() {
		// Written even when nothing else is: the key's result, or the
		// schedule marked sent, is then the empty send.
		w = s.newWrite(o, base.Created, run)
	}
	if len(users) == 0 && w == nil {
		return []Notification{}, nil
	}
	if stored, ok, err := s.sendUnlessSettings(ctx, o, base, users, w); err != nil || ok {
		return stored, err
	}
	var settings map[string][]SettingRow
	if len(users) > 0 {
		if settings, err = s.store.SettingRows(ctx, users); err != nil {
			return nil, fmt.Errorf("notifications: load settings: %w", err)
		}
	}
	topic := o.Payload.Topic
	deliver := make([]Notification, 0, len(users))
	delivers := false
	for _, user := range users {
		n := base
		n.ID, n.User = s.newID(), user
		n = s.preProcess(ctx, n, o, settings[user], run.trace)
		// The in-app check uses the request's origin and topic, not what a
		// pre-processor made of them, as Backstage does.
		web := s.defaults.enabled(settings[user], WebChannel, o.Origin, topic)
		// A user who turned Web off still gets the other channels: the
		// notification, not stored in the inbox, travels with its
		// deliveries as a snapshot.
		var snapshot *Notification
		for _, p := range s.post {
			if !s.processorAllowed(p.proc, n, settings[user]) {
				continue
			}
			nd := NewDelivery{Processor: p.name(), Index: len(deliver), Digest: p.holds(n)}
			if !web {
				if snapshot == nil {
					snapshot = &n
				}
				nd.Index, nd.Snapshot = 0, snapshot
			}
			w = s.addDelivery(w, o, base.Created, run, nd)
			delivers = true
		}
		if web {
			deliver = append(deliver, n)
		}
	}
	stored := []Notification{}
	if len(deliver) > 0 || w != nil {
		wctx, span := run.trace.child(ctx, "herald.store.write")
		stored, err = s.store.SaveNotifications(wctx, deliver, w)
		endSpan(span, err)
		if err != nil {
			return nil, fmt.Errorf("notifications: save notifications: %w", err)
		}
	}
	for i := range stored {
		s.publish(ctx, signals.Signal{
			Recipients: signals.Entity(stored[i].User), Channel: SignalChannel,
			Message: NotificationMessage{Action: ActionNewNotification, NotificationID: stored[i].ID, Notification: &stored[i]},
		})
	}
	if delivers {
		s.wakeDeliveries()
	}
	return stored, nil
}

// settingsFreeSaver is a Store that can store one user's notification in
// one statement unless the user has saved settings rows (the settings
// read and the INSERT in one round trip); store.Store is one.
type settingsFreeSaver interface {
	SaveUnlessSettings(ctx context.Context, n Notification) (Notification, bool, error)
}

// sendUnlessSettings is sendToUsers for the common send: one user, no
// record to write, no processors, no scope, and the in-app channel on for
// a user without settings. Only the user's own settings could then change
// what is stored, so the store writes the notification unless the user
// has some, in one statement; ok is false when it did not (the user has
// settings, or the send is not such a send), and the whole path runs.
func (s *Service) sendUnlessSettings(ctx context.Context, o SendOptions, base Notification, users []string, w *DeliveryWrite) (_ []Notification, ok bool, _ error) {
	if len(users) != 1 || w != nil || len(s.processors) > 0 || len(s.post) > 0 || o.Payload.Scope != "" {
		return nil, false, nil
	}
	fs, isFS := s.store.(settingsFreeSaver)
	if !isFS || !s.defaults.enabled(nil, WebChannel, o.Origin, o.Payload.Topic) {
		return nil, false, nil
	}
	n := base
	n.ID, n.User = s.newID(), users[0]
	stored, ok, err := fs.SaveUnlessSettings(ctx, n)
	if err != nil {
		return nil, false, fmt.Errorf("notifications: save notifications: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	s.publish(ctx, signals.Signal{
		Recipients: signals.Entity(stored.User), Channel: SignalChannel,
		Message: NotificationMessage{Action: ActionNewNotification, NotificationID: stored.ID, Notification: &stored},
	})
	return []Notification{stored}, true, nil
}

// newWrite returns the DeliveryWrite of a send of o, with its send record.
func (s *Service) newWrite(o SendOptions, created time.Time, run sendRun) *DeliveryWrite {
	return &DeliveryWrite{Send: SendRecord{
		ID: s.newID(), Origin: o.Origin, Options: o, Created: created, TraceParent: run.trace.traceParent(),
		IdempotencyKey: run.key, RequestHash: run.hash, KeyExpiredBefore: run.keyExpiredBefore, Schedule: run.schedule,
	}}
}

// addDelivery adds d to w, making w with the send record of o on the
// first delivery: a send without deliveries writes no send record, unless
// run needs one (newWrite made it already).
func (s *Service) addDelivery(w *DeliveryWrite, o SendOptions, created time.Time, run sendRun, d NewDelivery) *DeliveryWrite {
	if w == nil {
		w = s.newWrite(o, created, run)
	}
	d.ID = s.newID()
	w.Deliveries = append(w.Deliveries, d)
	return w
}

// resolveUsers turns recipients into unique canonical user refs, in order.
func (s *Service) resolveUsers(ctx context.Context, r Recipients) ([]string, error) {
	refs, err := s.resolver.ResolveRecipients(ctx, ResolveOptions{EntityRefs: r.EntityRefs, ExcludeEntityRefs: r.ExcludeEntityRefs})
	if err != nil {
		var verr *ValidationError
		invalid := errors.As(err, &verr) || errors.Is(err, entityref.ErrSyntax) || errors.Is(err, errNoKind)
		return nil, &ResolveError{Err: err, invalid: invalid}
	}
	seen := make(map[string]bool, len(refs))
	users := make([]string, 0, len(refs))
	for _, ref := range refs {
		p, err := entityref.Parse(ref)
		if err != nil || !p.IsUser() {
			continue // resolvers may return other kinds; only users receive
		}
		if c := canonicalString(p, ref); !seen[c] {
			seen[c] = true
			users = append(users, c)
		}
	}
	return users, nil
}

// canonicalString is p.String() for p parsed from ref, without building a
// new string when ref is already canonical, as the default resolver's
// refs are: a fan-out would otherwise allocate one per recipient.
func canonicalString(p entityref.Ref, ref string) string {
	k, ns := len(p.Kind), len(p.Namespace)
	if p.Kind != "" && len(ref) == k+ns+len(p.Name)+2 && ref[:k] == p.Kind && ref[k] == ':' &&
		ref[k+1:k+1+ns] == p.Namespace && ref[k+1+ns] == '/' && ref[k+2+ns:] == p.Name {
		return ref
	}
	return p.String()
}

func (s *Service) preProcess(ctx context.Context, n Notification, o SendOptions, settings []SettingRow, st sendTrace) Notification {
	for _, p := range s.processors {
		pp, ok := p.(PreProcessor)
		if !ok || !s.processorAllowed(p, n, settings) {
			continue
		}
		start := st.phaseStart(ctx)
		next, err := callPhase(func() (Notification, error) { return pp.PreProcess(ctx, n, o) })
		if err == nil {
			// What a pre-processor makes of the payload must be as
			// storable as what the sender sent; otherwise its change is
			// dropped like any failed phase's.
			err = validatePayload(next.Payload)
		}
		st.phaseEnd(ctx, p, phasePre, start, err)
		if err != nil {
			s.logProcessorFailure(ctx, p, phasePre, n.ID, err)
			continue
		}
		n = next
	}
	return n
}

// processorAllowed is Backstage's filterProcessors for one processor: the
// recipient has not turned its channel off, and its filters pass.
func (s *Service) processorAllowed(p Processor, n Notification, settings []SettingRow) bool {
	if n.User != "" && !s.defaults.enabled(settings, p.Name(), n.Origin, n.Payload.Topic) {
		return false
	}
	return passesFilters(p, n.Payload)
}

func passesFilters(p Processor, payload Payload) bool {
	fp, ok := p.(FilteredProcessor)
	return !ok || fp.Filter().Allow(payload.Severity.OrDefault(), payload.Topic)
}

// The phases, as logs name them.
const (
	phaseOptions = "processOptions"
	phasePre     = "preProcess"
	phasePost    = "postProcess"
)

// callPhase runs one processor phase, turning a panic into an error so a
// broken processor cannot take the send down with it.
func callPhase[T any](fn func() (T, error)) (result T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return fn()
}

// panicError is a processor phase's panic, with the stack where it
// happened.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// logProcessorFailure logs a failed phase, the one place a processor's
// error is logged: processors return their errors and log nothing.
// notificationID is "" for the options phase, which runs before there
// are notifications.
func (s *Service) logProcessorFailure(ctx context.Context, p Processor, phase, notificationID string, err error) {
	s.tel.processorFailed(ctx, p.Name(), phase)
	attrs := make([]any, 0, 10)
	attrs = append(attrs, "processor", p.Name(), "phase", phase)
	if notificationID != "" {
		attrs = append(attrs, "notification_id", notificationID)
	}
	attrs = append(attrs, "error", err)
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.stack))
	}
	s.log.ErrorContext(ctx, "notifications: processor failed", attrs...)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
