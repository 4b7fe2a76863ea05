package notifications

import (
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
)

// Config configures a Service. Only Store is required.
type Config struct {
	// Store persists notifications and settings. Required.
	Store Store
	// Signals receives a signal after every committed send and every
	// read/unread change, for live updates in browsers. Defaults to none.
	Signals signals.Publisher
	// Processors extend the send pipeline, in this order; each name must be
	// unique. Defaults to none.
	Processors []Processor
	// Catalog expands groups and owners into users for the default
	// resolver. Defaults to none: only user refs can then be sent to.
	Catalog Catalog
	// Resolver replaces the default catalog-based recipient resolution.
	// Defaults to the catalog walk.
	Resolver RecipientResolver
	// DefaultSettings are the administrator's defaults per channel, origin
	// and topic; a channel with Enabled false is opt-in. Defaults to
	// everything enabled.
	DefaultSettings Settings
	// PostProcessWorkers bounds how many sends are post-processed at once.
	// Defaults to 4.
	PostProcessWorkers int
	// PostProcessQueue bounds how many committed sends may wait for
	// post-processing; when it is full, Send waits for room (or for its
	// context) before returning. Defaults to 1024.
	PostProcessQueue int
	// Logger receives processor, signal and retention logs. Defaults to
	// slog.Default(), so a host that configured nothing still sees a
	// failing processor.
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// NewIDFunc generates notification ids, which must be UUIDs. Defaults
	// to random version 4 UUIDs.
	NewIDFunc func() string
}

// Service is Herald's notification service: the send pipeline and every
// user's inbox. It is safe for concurrent use. Close it to drain
// background post-processing.
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

	hasPost bool
	jobs    chan postJob
	workers sync.WaitGroup
	// mu guards closed, and enqueuers.Add against Close. It is never held
	// while waiting: a send waiting for room in the queue must not keep
	// Close from starting, or Close could not honour its deadline.
	mu        sync.RWMutex
	closed    bool
	closing   chan struct{}  // closed by Close: sends waiting for queue room give up
	enqueuers sync.WaitGroup // sends past the closed check, handing a job over
	drainOnce sync.Once
	drained   chan struct{} // closed when the queue is closed and every worker returned
}

// New validates cfg and returns a running Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("notifications: Config.Store is required")
	}
	s := &Service{
		store:      cfg.Store,
		publisher:  cfg.Signals,
		processors: cfg.Processors,
		resolver:   cfg.Resolver,
		log:        cfg.Logger,
		clock:      cfg.Now,
		newID:      cfg.NewIDFunc,
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
		if _, ok := p.(PostProcessor); ok {
			s.hasPost = true
		}
	}
	if err := validateDefaultSettings(cfg.DefaultSettings); err != nil {
		return nil, err
	}
	s.defaults = newDefaultSettings(cfg.DefaultSettings)
	for _, c := range cfg.DefaultSettings.Channels {
		if !containsFold(s.channels, c.ID) {
			s.channels = append(s.channels, c.ID)
		}
	}
	workers, queue := cfg.PostProcessWorkers, cfg.PostProcessQueue
	if workers <= 0 {
		workers = 4
	}
	if queue <= 0 {
		queue = 1024
	}
	s.jobs = make(chan postJob, queue)
	s.closing, s.drained = make(chan struct{}), make(chan struct{})
	for range workers {
		s.workers.Go(s.postProcessLoop)
	}
	return s, nil
}

// Close stops accepting sends and waits until every queued send has been
// post-processed, or until ctx is done, whatever senders are doing: sends
// still waiting for room in the queue return at once, their
// notifications stored but not post-processed. It returns ctx's error
// when ctx ended first; post-processing then goes on in the background.
// Close may be called again, to wait longer.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.drainOnce.Do(func() {
		go func() {
			s.enqueuers.Wait() // prompt: closing makes every waiting send give up
			close(s.jobs)
			s.workers.Wait()
			close(s.drained)
		}()
	})
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notifications: close: post-processing still running: %w", ctx.Err())
	}
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
// "plugin:catalog" or the subject of an external service's token.
func (s *Service) Sender(origin string) Sender { return originSender{s: s, origin: origin} }

type originSender struct {
	s      *Service
	origin string
}

func (o originSender) Send(ctx context.Context, r Recipients, p Payload) ([]Notification, error) {
	return o.s.Send(ctx, SendOptions{Origin: o.origin, Recipients: r, Payload: p})
}

// Send is Sender.Send with the origin given in o.
func (s *Service) Send(ctx context.Context, o SendOptions) ([]Notification, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o, ran := s.processOptions(ctx, o)
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
		return s.sendBroadcast(ctx, o, base)
	}
	return s.sendToUsers(ctx, o, base)
}

// processOptions runs the options phase and reports whether any processor
// ran, and so may have changed the request.
func (s *Service) processOptions(ctx context.Context, o SendOptions) (SendOptions, bool) {
	ran := false
	for _, p := range s.processors {
		op, ok := p.(OptionsProcessor)
		if !ok || !passesFilters(p, o.Payload) {
			continue
		}
		next, err := callPhase(func() (SendOptions, error) { return op.ProcessOptions(ctx, o) })
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

func (s *Service) sendBroadcast(ctx context.Context, o SendOptions, n Notification) ([]Notification, error) {
	n.ID = s.newID()
	n = s.preProcess(ctx, n, o, nil)
	stored, err := s.store.SaveBroadcast(ctx, n, nil)
	if err != nil {
		return nil, fmt.Errorf("notifications: save broadcast: %w", err)
	}
	s.publish(ctx, signals.Signal{
		Recipients: signals.Broadcast(), Channel: SignalChannel,
		Message: NotificationMessage{Action: ActionNewNotification, NotificationID: stored.ID, Notification: &stored},
	})
	s.enqueuePost(ctx, postJob{opts: o, notifications: []Notification{stored}})
	return []Notification{stored}, nil
}

func (s *Service) sendToUsers(ctx context.Context, o SendOptions, base Notification) ([]Notification, error) {
	users, err := s.resolveUsers(ctx, o.Recipients)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return []Notification{}, nil
	}
	settings, err := s.store.SettingRows(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("notifications: load settings: %w", err)
	}
	topic := o.Payload.Topic
	deliver := make([]Notification, 0, len(users))
	var suppressed []Notification
	for _, user := range users {
		n := base
		n.ID, n.User = s.newID(), user
		n = s.preProcess(ctx, n, o, settings[user])
		// The in-app check uses the request's origin and topic, not what a
		// pre-processor made of them, as Backstage does.
		if !s.defaults.enabled(settings[user], WebChannel, o.Origin, topic) {
			suppressed = append(suppressed, n)
			continue
		}
		deliver = append(deliver, n)
	}
	stored := []Notification{}
	if len(deliver) > 0 {
		stored, err = s.store.SaveNotifications(ctx, deliver, nil)
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
	if s.hasPost {
		all := append(append(make([]Notification, 0, len(stored)+len(suppressed)), stored...), suppressed...)
		s.enqueuePost(ctx, postJob{opts: o, notifications: all, settings: settings})
	}
	return stored, nil
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

func (s *Service) preProcess(ctx context.Context, n Notification, o SendOptions, settings []SettingRow) Notification {
	for _, p := range s.processors {
		pp, ok := p.(PreProcessor)
		if !ok || !s.processorAllowed(p, n, settings) {
			continue
		}
		next, err := callPhase(func() (Notification, error) { return pp.PreProcess(ctx, n, o) })
		if err == nil {
			// What a pre-processor makes of the payload must be as
			// storable as what the sender sent; otherwise its change is
			// dropped like any failed phase's.
			err = validatePayload(next.Payload)
		}
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
