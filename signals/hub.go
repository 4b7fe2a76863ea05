package signals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// DefaultBufferSize is the number of deliveries a Subscriber holds when
// HubConfig.BufferSize is not set.
const DefaultBufferSize = 64

var (
	// ErrSlowSubscriber is the Err of a Subscriber that the Hub dropped
	// because its buffer was full when a signal arrived: its reader fell
	// BufferSize deliveries behind. The subscriber should reconnect (and,
	// if it matters, catch up by other means); it has missed signals.
	ErrSlowSubscriber = errors.New("signals: subscriber too slow, dropped")

	// ErrHubClosed is returned by Publish after Hub.Close, and is the Err
	// of every Subscriber that the close ended.
	ErrHubClosed = errors.New("signals: hub closed")

	// ErrSubscriberClosed is the Err of a Subscriber ended by its own
	// Close.
	ErrSubscriberClosed = errors.New("signals: subscriber closed")
)

// HubConfig configures a Hub. The zero value is ready to use.
type HubConfig struct {
	// BufferSize is the number of deliveries each Subscriber may hold
	// before its reader takes them. A subscription whose buffer is full when
	// a signal arrives is dropped with ErrSlowSubscriber rather than
	// slowing the publisher. Zero or negative means the default.
	// Defaults to DefaultBufferSize (64).
	BufferSize int

	// Logger receives a warning for every subscriber dropped for being
	// slow. Defaults to slog.Default(), so a host that configured nothing
	// still sees it.
	Logger *slog.Logger

	// MeterProvider meters signals published and dropped
	// (herald.signals.*). Defaults to otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Hub is the in-process fan-out of signals: the part of Backstage's
// signals-backend that forwards each event to the connections it concerns.
//
// Publish hands a signal to the Hub's fan-out and returns: its cost does
// not grow with the number of subscribers. The fan-out, a goroutine that
// runs while signals are waiting and exits when none are, offers each
// signal, in publish order, to every Subscriber subscribed to the signal's
// channel when the signal is a broadcast, or when one of the subscriber's
// ownership refs equals one of the signal's entity refs (exact string
// comparison: Herald canonicalises refs before they get here). A
// Subscriber receives a signal at most once, however many of its refs
// match, and only if it was subscribed to the channel before Publish was
// called. Flush waits until what was published before it has been offered.
//
// Subscriptions are indexed by channel and ownership ref, so the cost of a
// user signal is proportional to the subscriptions it reaches, not to all
// subscriptions; a broadcast walks the subscribers of its channel. The
// fan-out never blocks on a subscriber: one whose buffer is full is dropped
// and told why (see Subscriber.Err).
//
// A Hub is safe for concurrent use. The zero Hub is not usable; call NewHub.
type Hub struct {
	bufferSize int
	logger     *slog.Logger
	tel        hubTelemetry

	mu       sync.RWMutex // guards the index: subs, channels, Subscriber.channels
	subs     map[*Subscriber]struct{}
	channels map[string]*channelIndex

	qmu     sync.Mutex // guards the fields below
	closed  bool
	queue   []*Event      // published, not yet offered, in publish order
	spare   []*Event      // the fan-out's last batch, reused as the next queue
	running bool          // a fan-out goroutine is draining queue
	idle    chan struct{} // closed when the fan-out exits; nil while none ran
	seq     uint64        // the sequence number of the last published Event
	offered uint64        // the sequence number of the last Event offered
	waiters []flushWaiter
}

// flushWaiter is a Flush waiting for the Event numbered seq to be offered.
type flushWaiter struct {
	seq  uint64
	done chan struct{}
}

var _ Publisher = (*Hub)(nil)

// channelIndex holds the subscriptions of one channel, all of them (for
// broadcasts) and by ownership ref (for user signals). Each maps a
// subscription to the sequence number of the last Event published before
// it subscribed to the channel: that one and older ones, still queued when
// it subscribed, are not for it.
type channelIndex struct {
	all   map[*Subscriber]uint64
	byRef map[string]map[*Subscriber]uint64
}

// NewHub returns an empty Hub configured by cfg.
func NewHub(cfg HubConfig) *Hub {
	size := cfg.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Hub{
		bufferSize: size,
		logger:     logger,
		subs:       make(map[*Subscriber]struct{}),
		channels:   make(map[string]*channelIndex),
		tel:        newHubTelemetry(cfg.MeterProvider),
	}
}

// Publish queues s for the fan-out and returns without waiting for it to
// reach anyone. It returns an error wrapping ErrInvalidSignal when s fails
// Validate or, for a signal some subscription concerns, when its message
// does not encode to a JSON object; ErrHubClosed after Close; otherwise
// nil, whether or not any subscription will match.
//
// The client frame {"channel":...,"message":...} is encoded once, here, and
// shared by every Event, with the time Publish was called (see Event.Time).
// A signal that no subscription concerns when Publish is called (none on
// its channel owns one of its refs, or, for a broadcast, none is on its
// channel) can reach no one, since later subscriptions do not receive it:
// it is neither encoded nor queued, and its message is not checked beyond
// Validate. A Bus encodes every signal it sends, so through a Bus an
// unencodable message is always refused.
//
// Publish does not watch ctx: it never blocks, so there is nothing to
// cancel. The queue has no bound: the fan-out only moves pointers into
// subscribers' buffers, so it keeps up with any publisher that does real
// work per signal.
func (h *Hub) Publish(_ context.Context, s Signal) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if !h.reaches(s) {
		h.qmu.Lock()
		defer h.qmu.Unlock()
		if h.closed {
			return ErrHubClosed
		}
		h.tel.publish(s)
		return nil
	}
	frame, err := encodeFrame(s)
	if err != nil {
		return err
	}
	e := &Event{signal: s, frame: frame, at: time.Now()}

	h.qmu.Lock()
	defer h.qmu.Unlock()
	if h.closed {
		return ErrHubClosed
	}
	h.seq++
	e.seq = h.seq
	h.queue = append(h.queue, e)
	h.tel.publish(s)
	if !h.running {
		h.running = true
		h.idle = make(chan struct{})
		go h.fanOut(h.idle)
	}
	return nil
}

// reaches reports whether some subscription concerns s now: one that
// subscribed before Publish was called is in the index. One subscribing
// while Publish runs may or may not receive s, as it would anyway.
func (h *Hub) reaches(s Signal) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ci := h.channels[s.Channel]
	if ci == nil {
		return false
	}
	if s.Recipients.IsBroadcast() {
		return len(ci.all) > 0
	}
	for _, ref := range s.Recipients.EntityRefs {
		if len(ci.byRef[ref]) > 0 {
			return true
		}
	}
	return false
}

// fanOut offers the queued events until the queue is empty, then closes
// idle and exits: an idle Hub holds no goroutine.
func (h *Hub) fanOut(idle chan struct{}) {
	defer close(idle)
	var batch []*Event
	for {
		h.qmu.Lock()
		if len(h.queue) == 0 {
			h.running = false
			h.spare = batch[:0]
			h.qmu.Unlock()
			return
		}
		batch, h.queue = h.queue, h.spare[:0]
		h.spare = nil
		h.qmu.Unlock()

		for i, e := range batch {
			h.offer(e)
			batch[i] = nil // let the Event go once every subscriber has it
		}

		h.qmu.Lock()
		h.offered = h.seq - uint64(len(h.queue))
		h.releaseWaitersLocked()
		h.qmu.Unlock()
	}
}

// offer hands e to the subscriptions it concerns and drops the ones too
// slow to take it.
func (h *Hub) offer(e *Event) {
	var slow []*Subscriber
	offer := func(sub *Subscriber, since uint64) {
		if e.seq > since && !sub.offer(e) {
			slow = append(slow, sub)
		}
	}
	s := e.signal
	h.mu.RLock()
	if ci := h.channels[s.Channel]; ci != nil {
		if s.Recipients.IsBroadcast() {
			for sub, since := range ci.all {
				offer(sub, since)
			}
		} else {
			forEachOwner(ci, s.Recipients.EntityRefs, offer)
		}
	}
	h.mu.RUnlock()

	h.tel.drop(len(slow))
	for _, sub := range slow {
		h.remove(sub)
		h.logger.Warn("signals: dropped a slow subscriber",
			"user", sub.user, "channel", s.Channel, "buffer_size", h.bufferSize)
	}
}

// releaseWaitersLocked ends the Flushes whose events have all been
// offered. h.qmu must be held.
func (h *Hub) releaseWaitersLocked() {
	kept := h.waiters[:0]
	for _, w := range h.waiters {
		if w.seq <= h.offered {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	clear(h.waiters[len(kept):])
	h.waiters = kept
}

// Flush returns once every signal whose Publish returned before Flush was
// called has been offered to its subscribers (and so is in their buffers,
// or has dropped them as slow), or with ctx's error when ctx ends first.
// A host rarely needs it: tests do, to look at buffers without waiting.
func (h *Hub) Flush(ctx context.Context) error {
	h.qmu.Lock()
	if h.offered >= h.seq {
		h.qmu.Unlock()
		return nil
	}
	w := flushWaiter{seq: h.seq, done: make(chan struct{})}
	h.waiters = append(h.waiters, w)
	h.qmu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forEachOwner calls f once for each subscription of ci that owns one of
// refs. The common cases (one ref, or only one ref with subscribers) need no
// de-duplication; otherwise a set keeps a subscription that owns several of
// the refs from receiving the signal twice.
func forEachOwner(ci *channelIndex, refs []string, f func(sub *Subscriber, since uint64)) {
	var sets []map[*Subscriber]uint64
	total := 0
	for _, ref := range refs {
		if set := ci.byRef[ref]; len(set) > 0 {
			sets = append(sets, set) // a repeated ref goes through seen below
			total += len(set)
		}
	}
	switch len(sets) {
	case 0:
		return
	case 1:
		for sub, since := range sets[0] {
			f(sub, since)
		}
		return
	}
	seen := make(map[*Subscriber]struct{}, total)
	for _, set := range sets {
		for sub, since := range set {
			if _, dup := seen[sub]; !dup {
				seen[sub] = struct{}{}
				f(sub, since)
			}
		}
	}
}

// Subscribe registers a new Subscriber for the given identity, subscribed
// to opts.Channels. After Close it returns a Subscriber that has already
// ended with ErrHubClosed.
func (h *Hub) Subscribe(opts SubscribeOptions) *Subscriber {
	refs := make([]string, 0, len(opts.OwnershipRefs)+1)
	for _, ref := range append([]string{opts.User}, opts.OwnershipRefs...) {
		if ref != "" && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	sub := &Subscriber{
		hub:      h,
		notify:   opts.Notify,
		user:     opts.User,
		refs:     refs,
		ch:       make(chan *Event, h.bufferSize),
		done:     make(chan struct{}),
		channels: make(map[string]struct{}),
	}

	h.mu.Lock()
	if h.isClosed() {
		h.mu.Unlock()
		sub.end(ErrHubClosed)
		return sub
	}
	h.subs[sub] = struct{}{}
	for _, c := range opts.Channels {
		h.addLocked(sub, c)
	}
	h.mu.Unlock()
	return sub
}

// Len reports the number of live subscriptions, for metrics and tests.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

func (h *Hub) isClosed() bool {
	h.qmu.Lock()
	defer h.qmu.Unlock()
	return h.closed
}

// lastSeq is the sequence number of the last Event published.
func (h *Hub) lastSeq() uint64 {
	h.qmu.Lock()
	defer h.qmu.Unlock()
	return h.seq
}

// Close makes later calls to Publish fail, waits until the signals already
// published have been offered, then ends every subscription with
// ErrHubClosed (each still yields what it buffers). It is idempotent.
func (h *Hub) Close() {
	h.qmu.Lock()
	if h.closed {
		h.qmu.Unlock()
		return
	}
	h.closed = true
	idle := h.idle
	h.qmu.Unlock()
	if idle != nil {
		<-idle // no fan-out starts once closed
	}

	h.mu.Lock()
	subs := make([]*Subscriber, 0, len(h.subs))
	for sub := range h.subs {
		subs = append(subs, sub)
	}
	clear(h.subs)
	clear(h.channels)
	h.mu.Unlock()
	for _, sub := range subs { // outside h.mu, for Notify
		sub.end(ErrHubClosed)
	}
}

// addLocked subscribes sub to channel c. h.mu must be held for writing.
func (h *Hub) addLocked(sub *Subscriber, c string) {
	if c == "" {
		return // no valid signal has an empty channel
	}
	if _, ok := sub.channels[c]; ok {
		return
	}
	if _, live := h.subs[sub]; !live {
		return
	}
	since := h.lastSeq()
	sub.channels[c] = struct{}{}
	ci := h.channels[c]
	if ci == nil {
		ci = &channelIndex{
			all:   make(map[*Subscriber]uint64),
			byRef: make(map[string]map[*Subscriber]uint64),
		}
		h.channels[c] = ci
	}
	ci.all[sub] = since
	for _, ref := range sub.refs {
		set := ci.byRef[ref]
		if set == nil {
			set = make(map[*Subscriber]uint64)
			ci.byRef[ref] = set
		}
		set[sub] = since
	}
}

// removeLocked unsubscribes sub from channel c, dropping index entries that
// become empty. h.mu must be held for writing.
func (h *Hub) removeLocked(sub *Subscriber, c string) {
	if _, ok := sub.channels[c]; !ok {
		return
	}
	delete(sub.channels, c)
	ci := h.channels[c]
	if ci == nil {
		return
	}
	delete(ci.all, sub)
	for _, ref := range sub.refs {
		if set := ci.byRef[ref]; set != nil {
			delete(set, sub)
			if len(set) == 0 {
				delete(ci.byRef, ref)
			}
		}
	}
	if len(ci.all) == 0 {
		delete(h.channels, c)
	}
}

// remove takes an ended subscription out of every index.
func (h *Hub) remove(sub *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, live := h.subs[sub]; !live {
		return
	}
	for c := range sub.channels {
		h.removeLocked(sub, c)
	}
	delete(h.subs, sub)
}

// SubscribeOptions describes a subscriber: the identity whose signals it
// receives and the channels it starts with.
type SubscribeOptions struct {
	// User is the subscriber's user entity ref, like "user:default/jane".
	// It always counts as one of the ownership refs. Optional for
	// subscribers that only want broadcasts.
	User string

	// OwnershipRefs are the refs the subscriber owns: in Backstage's terms
	// the user's ownershipEntityRefs, their own ref plus their groups. A
	// user signal reaches the subscription when one of these equals one of
	// its entity refs exactly. Duplicates are ignored.
	OwnershipRefs []string

	// Channels are the channels subscribed from the start; more can be
	// added with Subscriber.Subscribe.
	Channels []string

	// Notify, when set, is called each time an event is put in C and when
	// the subscription ends, on the goroutine that did it (usually the
	// Hub's fan-out) and outside the Hub's locks: it must return at once.
	// It lets a reader keep no goroutine blocked on C, starting one only
	// when there is something to read (package socket does, for its
	// writers). It may be called once after C has been drained, so it
	// must tolerate finding nothing.
	Notify func()
}

// Subscriber is one subscriber of a Hub: a browser connection, an SSE
// stream or a test. Deliveries arrive on C in publish order.
//
// A subscription ends when it is closed, when its Hub closes, or when the
// Hub drops it for being slow; then Done and C are closed (C after yielding
// what it still buffers) and Err says why. Its methods are safe for
// concurrent use.
type Subscriber struct {
	hub    *Hub
	notify func() // SubscribeOptions.Notify; nil when none
	user   string
	refs   []string
	ch     chan *Event
	done   chan struct{}

	mu  sync.Mutex // guards err and the closing of ch and done
	err error

	channels map[string]struct{} // guarded by hub.mu
}

// C returns the channel on which deliveries arrive. It is closed when the
// subscription ends; read until then, or until Done, and then check Err.
func (s *Subscriber) C() <-chan *Event { return s.ch }

// Done returns a channel closed when the subscription ends.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is live and, once it has ended,
// the reason: ErrSlowSubscriber, ErrHubClosed or ErrSubscriberClosed.
func (s *Subscriber) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// User returns the SubscribeOptions.User the subscription was made with.
func (s *Subscriber) User() string { return s.user }

// Subscribe adds channels to the subscription. Channels already subscribed,
// empty names and calls on an ended subscription are no-ops. Signals
// published after Subscribe returns are delivered; ones published before
// it was called are not, even if the fan-out has not offered them yet.
func (s *Subscriber) Subscribe(channels ...string) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	for _, c := range channels {
		s.hub.addLocked(s, c)
	}
}

// Unsubscribe removes channels from the subscription. Signals published
// after Unsubscribe returns are not delivered, nor are ones published
// before that the fan-out had not offered yet; ones already buffered on C
// still are. Channels not subscribed are ignored.
func (s *Subscriber) Unsubscribe(channels ...string) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	for _, c := range channels {
		s.hub.removeLocked(s, c)
	}
}

// Channels returns the subscribed channels, sorted.
func (s *Subscriber) Channels() []string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	out := make([]string, 0, len(s.channels))
	for c := range s.channels {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Close ends the subscription with ErrSubscriberClosed, unless it has
// already ended, and removes it from the Hub. It is idempotent.
func (s *Subscriber) Close() {
	s.end(ErrSubscriberClosed)
	s.hub.remove(s)
}

// offer hands d to the subscription without blocking. It reports false when
// the buffer is full, in which case the subscription has been ended with
// ErrSlowSubscriber and the caller must remove it from the Hub.
func (s *Subscriber) offer(d *Event) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return true // ended; being removed
	}
	ok := true
	select {
	case s.ch <- d:
	default:
		s.endLocked(ErrSlowSubscriber)
		ok = false
	}
	s.mu.Unlock()
	if s.notify != nil {
		s.notify()
	}
	return ok
}

func (s *Subscriber) end(err error) {
	s.mu.Lock()
	ended := s.endLocked(err)
	s.mu.Unlock()
	if ended && s.notify != nil {
		s.notify()
	}
}

// endLocked ends the subscription with err and reports whether it did:
// false when it had already ended.
func (s *Subscriber) endLocked(err error) bool {
	if s.err != nil {
		return false
	}
	s.err = err
	close(s.ch)
	close(s.done)
	return true
}

// Event is one signal as it reaches a Subscriber. A Event, and the
// Signal and frame bytes it holds, are shared by every subscription the
// signal reached: treat them as read-only.
type Event struct {
	signal Signal
	frame  []byte
	at     time.Time
	seq    uint64 // the Hub's publish order
}

// Signal returns the published signal, unchanged.
func (d *Event) Signal() Signal { return d.signal }

// Time returns when the Hub accepted the signal: the start of the Publish
// call, on this process's clock, before the signal was offered to anyone.
// A subscriber that has read a delivery stamped t has therefore been
// offered every signal whose Publish returned before t; only a Publish
// racing with that one may be stamped a little earlier and arrive later.
// That makes Time a catch-up cursor, given a look-back of a moment (package
// socket sends it to clients as one).
func (d *Event) Time() time.Time { return d.at }

// Frame returns the text a client receives:
// {"channel":"<channel>","message":<message>}, compact JSON without HTML
// escaping (like JavaScript's JSON.stringify). The bytes are shared; do not
// modify them.
func (d *Event) Frame() []byte { return d.frame }

// encodeFrame builds the client frame of s, which has passed Validate.
func encodeFrame(s Signal) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)

	buf.WriteString(`{"channel":`)
	if err := enc.Encode(s.Channel); err != nil {
		return nil, fmt.Errorf("%w: channel: %w", ErrInvalidSignal, err)
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	buf.WriteString(`,"message":`)
	start := buf.Len()
	if err := enc.Encode(s.Message); err != nil {
		return nil, fmt.Errorf("%w: message does not encode to JSON: %w", ErrInvalidSignal, err)
	}
	buf.Truncate(buf.Len() - 1)
	if buf.Bytes()[start] != '{' {
		return nil, fmt.Errorf("%w: message must be a JSON object", ErrInvalidSignal)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
