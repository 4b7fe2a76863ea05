package notifications

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/telemetryoff"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Telemetry. The Service traces and meters through the OpenTelemetry API
// only (Config.TracerProvider, Config.MeterProvider); the SDK is the
// host's choice. Every attribute set a send or an attempt records with is
// built once, at New (origins: at their first send, up to
// maxOriginAttrs of them), so that with no SDK installed a send makes no
// allocation it would not make untraced.
//
// Spans:
//
//	herald.send            one per send (Send, SendWith, a scheduled send); parent: the caller's span in ctx
//	  herald.resolve       recipient resolution (not for a broadcast)
//	  herald.store.write   the transaction that stores the notifications and deliveries
//	  herald.processOptions, herald.preProcess
//	                       one per processor and phase that ran, from its first call in the send
//	                       to its last; herald.processor.calls counts the calls (a pre-processor
//	                       runs once per recipient), herald.processor.errors the failed ones
//	herald.deliver         one per delivery attempt, a root span linked to its send's span
//	                       (the send's W3C traceparent is stored with the send record, so an
//	                       attempt in another process links too)
//
// Instruments (attribute values are bounded: processor names, phases,
// outcomes, statuses and the senders' origins, never users, ids or
// titles):
//
//	herald.notifications.sent    counter    {notification}  herald.origin
//	herald.sends                 counter    {send}          herald.origin, herald.outcome (ok, error)
//	herald.send.duration         histogram  s               herald.origin, herald.outcome
//	herald.send.recipients       histogram  {recipient}     herald.origin
//	herald.processor.duration    histogram  s               herald.processor, herald.processor.phase
//	herald.processor.errors      counter    {error}         herald.processor, herald.processor.phase
//	herald.deliveries            counter    {delivery}      herald.processor, herald.delivery.outcome
//	herald.delivery.duration     histogram  s               herald.processor, herald.delivery.outcome
//	herald.deliveries.backlog    gauge      {delivery}      herald.processor, herald.delivery.status (pending, retrying)
//
// herald.delivery.outcome is what the attempt recorded: sent, retrying,
// failed or cancelled; or abandoned (Close gave up, or the lease was
// lost) or unrecorded (the outcome could not be stored). A delivery that
// quiet hours put back is no attempt and is not counted.

// instrumentationName is the tracer's and the meter's name.
const instrumentationName = "github.com/heraldhq/herald/notifications"

// Attribute keys.
const (
	attrOrigin          = attribute.Key("herald.origin")
	attrOutcome         = attribute.Key("herald.outcome")
	attrProcessor       = attribute.Key("herald.processor")
	attrPhase           = attribute.Key("herald.processor.phase")
	attrCalls           = attribute.Key("herald.processor.calls")
	attrErrors          = attribute.Key("herald.processor.errors")
	attrRecipients      = attribute.Key("herald.send.recipients")
	attrBroadcast       = attribute.Key("herald.send.broadcast")
	attrDeliveryOutcome = attribute.Key("herald.delivery.outcome")
	attrDeliveryStatus  = attribute.Key("herald.delivery.status")
	attrAttempt         = attribute.Key("herald.delivery.attempt")
	attrDeliveryID      = attribute.Key("herald.delivery.id")
	attrNotificationID  = attribute.Key("herald.notification.id")
)

// maxOriginAttrs bounds the origins with their own attribute sets; the
// sends of further origins are recorded with herald.origin "other".
const maxOriginAttrs = 1000

// Delivery outcomes besides the statuses.
const (
	outcomeAbandoned  = "abandoned"
	outcomeUnrecorded = "unrecorded"
)

var deliveryOutcomes = []string{
	string(DeliverySent), string(DeliveryRetrying), string(DeliveryFailed), string(DeliveryCancelled),
	outcomeAbandoned, outcomeUnrecorded,
}

// pristineTracerProvider is the type of the global tracer provider
// before any SDK is installed (the API's delegating provider), when it
// was still that at init: a Service using it skips its spans, at no
// cost, until a host calls otel.SetTracerProvider.
var pristineTracerProvider = reflect.TypeOf(otel.GetTracerProvider())

func init() { telemetryoff.Disable = func(svc any) { svc.(*Service).tel = nil } }

// telemetry is a Service's tracer and instruments. A nil *telemetry
// records nothing: the uninstrumented Service of package telemetryoff.
type telemetry struct {
	tracer trace.Tracer
	// global: the tracer is the global provider's; tracing is off while
	// the global provider is still the pristine one. off: the provider
	// is a no-op one.
	global, off bool

	sent          metric.Int64Counter
	sends         metric.Int64Counter
	sendDuration  metric.Float64Histogram
	recipients    metric.Int64Histogram
	phaseDuration metric.Float64Histogram
	phaseErrors   metric.Int64Counter
	deliveries    metric.Int64Counter
	deliverTime   metric.Float64Histogram
	backlog       metric.Registration // nil: no gauge

	origins     sync.Map // origin → *originAttrs
	originCount int      // guarded by originMu
	originMu    sync.Mutex
	other       *originAttrs
	procs       map[string]*processorAttrs // by processor name
}

// originAttrs are the measurement options of one origin's sends.
type originAttrs struct {
	origin    []metric.AddOption    // herald.origin
	ok, error []metric.RecordOption // herald.origin, herald.outcome
	okAdd     []metric.AddOption
	errorAdd  []metric.AddOption
	recipient []metric.RecordOption
	spanOpts  []trace.SpanStartOption
}

// processorAttrs are the measurement options of one processor.
type processorAttrs struct {
	phases   map[string]phaseAttrs
	outcomes map[string]outcomeAttrs
}

type phaseAttrs struct {
	record []metric.RecordOption
	add    []metric.AddOption
}

type outcomeAttrs struct {
	add    []metric.AddOption
	record []metric.RecordOption
	attr   attribute.KeyValue
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, processors []Processor) (*telemetry, error) {
	t := &telemetry{}
	if tp == nil {
		tp = otel.GetTracerProvider()
		t.global = true
	}
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		t.off = true
	}
	t.tracer = tp.Tracer(instrumentationName)
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	var err error
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	var e error
	t.sent, e = m.Int64Counter("herald.notifications.sent", metric.WithUnit("{notification}"),
		metric.WithDescription("Notifications stored by sends (one per recipient, one per broadcast)."))
	must(e)
	t.sends, e = m.Int64Counter("herald.sends", metric.WithUnit("{send}"),
		metric.WithDescription("Sends run through the pipeline, by outcome."))
	must(e)
	t.sendDuration, e = m.Float64Histogram("herald.send.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of sends, from the options phase to the signals."))
	must(e)
	t.recipients, e = m.Int64Histogram("herald.send.recipients", metric.WithUnit("{recipient}"),
		metric.WithDescription("Users a send resolved to (before the in-app channel settings)."),
		metric.WithExplicitBucketBoundaries(0, 1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000))
	must(e)
	t.phaseDuration, e = m.Float64Histogram("herald.processor.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one processor phase call."))
	must(e)
	t.phaseErrors, e = m.Int64Counter("herald.processor.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Processor phase calls that failed or panicked."))
	must(e)
	t.deliveries, e = m.Int64Counter("herald.deliveries", metric.WithUnit("{delivery}"),
		metric.WithDescription("Delivery attempts, by processor and outcome."))
	must(e)
	t.deliverTime, e = m.Float64Histogram("herald.delivery.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of delivery attempts, the outcome's write included."))
	must(e)
	if err != nil {
		return nil, err
	}
	t.other = newOriginAttrs("other")
	t.procs = make(map[string]*processorAttrs, len(processors))
	for _, p := range processors {
		if p != nil {
			t.procs[p.Name()] = newProcessorAttrs(p.Name())
		}
	}
	return t, nil
}

func newOriginAttrs(origin string) *originAttrs {
	o := attribute.NewSet(attrOrigin.String(origin))
	ok := attribute.NewSet(attrOrigin.String(origin), attrOutcome.String("ok"))
	bad := attribute.NewSet(attrOrigin.String(origin), attrOutcome.String("error"))
	return &originAttrs{
		origin:    []metric.AddOption{metric.WithAttributeSet(o)},
		ok:        []metric.RecordOption{metric.WithAttributeSet(ok)},
		error:     []metric.RecordOption{metric.WithAttributeSet(bad)},
		okAdd:     []metric.AddOption{metric.WithAttributeSet(ok)},
		errorAdd:  []metric.AddOption{metric.WithAttributeSet(bad)},
		recipient: []metric.RecordOption{metric.WithAttributeSet(o)},
		spanOpts:  []trace.SpanStartOption{trace.WithAttributes(attrOrigin.String(origin))},
	}
}

func newProcessorAttrs(name string) *processorAttrs {
	p := &processorAttrs{phases: map[string]phaseAttrs{}, outcomes: map[string]outcomeAttrs{}}
	for _, phase := range []string{phaseOptions, phasePre, phasePost} {
		set := attribute.NewSet(attrProcessor.String(name), attrPhase.String(phase))
		p.phases[phase] = phaseAttrs{
			record: []metric.RecordOption{metric.WithAttributeSet(set)},
			add:    []metric.AddOption{metric.WithAttributeSet(set)},
		}
	}
	for _, out := range deliveryOutcomes {
		set := attribute.NewSet(attrProcessor.String(name), attrDeliveryOutcome.String(out))
		p.outcomes[out] = outcomeAttrs{
			add:    []metric.AddOption{metric.WithAttributeSet(set)},
			record: []metric.RecordOption{metric.WithAttributeSet(set)},
			attr:   attrDeliveryOutcome.String(out),
		}
	}
	return p
}

// processor returns name's attributes, built now for a processor this
// Service lacks (a delivery of another version's processor).
func (t *telemetry) processor(name string) *processorAttrs {
	if p, ok := t.procs[name]; ok {
		return p
	}
	return newProcessorAttrs(name)
}

// origin returns the attributes of origin's sends.
func (t *telemetry) origin(origin string) *originAttrs {
	if a, ok := t.origins.Load(origin); ok {
		return a.(*originAttrs)
	}
	t.originMu.Lock()
	defer t.originMu.Unlock()
	if a, ok := t.origins.Load(origin); ok {
		return a.(*originAttrs)
	}
	if t.originCount >= maxOriginAttrs {
		return t.other
	}
	a := newOriginAttrs(origin)
	t.origins.Store(origin, a)
	t.originCount++
	return a
}

// tracing reports whether spans are worth starting: the provider is no
// no-op, and the global one has an SDK behind it.
func (t *telemetry) tracing() bool {
	if t.off {
		return false
	}
	if t.global && pristineTracerProvider != nil && reflect.TypeOf(otel.GetTracerProvider()) == pristineTracerProvider {
		return false
	}
	return true
}

// sendTrace is one send's telemetry, from startSend to end.
type sendTrace struct {
	t      *telemetry
	attrs  *originAttrs
	span   trace.Span // nil: not tracing
	start  time.Time  // zero: the duration is not recorded
	phases *phaseSpans
}

// startSend starts a send's span and clock.
func (t *telemetry) startSend(ctx context.Context, origin string) (context.Context, sendTrace) {
	if t == nil {
		return ctx, sendTrace{}
	}
	st := sendTrace{t: t, attrs: t.origin(origin)}
	if t.tracing() {
		ctx, st.span = t.tracer.Start(ctx, "herald.send", st.attrs.spanOpts...)
		st.phases = &phaseSpans{}
	}
	if st.span != nil || t.sendDuration.Enabled(ctx) {
		st.start = time.Now()
	}
	return ctx, st
}

// traceParent is the W3C traceparent of the send's span; "" when not
// tracing.
func (st sendTrace) traceParent() string {
	if st.span == nil {
		return ""
	}
	return formatTraceParent(st.span.SpanContext())
}

// end records the send: its outcome, its notifications, its phases'
// spans.
func (st sendTrace) end(ctx context.Context, stored int, err error) {
	t := st.t
	if t == nil {
		return
	}
	if err == nil {
		t.sends.Add(ctx, 1, st.attrs.okAdd...)
		t.sent.Add(ctx, int64(stored), st.attrs.origin...)
	} else {
		t.sends.Add(ctx, 1, st.attrs.errorAdd...)
	}
	if !st.start.IsZero() {
		opts := st.attrs.ok
		if err != nil {
			opts = st.attrs.error
		}
		t.sendDuration.Record(ctx, time.Since(st.start).Seconds(), opts...)
	}
	if st.span == nil {
		return
	}
	st.phases.flush(ctx, t.tracer)
	if err != nil {
		st.span.RecordError(err)
		st.span.SetStatus(codes.Error, err.Error())
	}
	st.span.End()
}

// resolved records how many users a send resolved to.
func (st sendTrace) resolved(ctx context.Context, users int, broadcast bool) {
	if st.t == nil {
		return
	}
	if !broadcast {
		st.t.recipients.Record(ctx, int64(users), st.attrs.recipient...)
	}
	if st.span != nil {
		st.span.SetAttributes(attrRecipients.Int(users), attrBroadcast.Bool(broadcast))
	}
}

// child starts a child span of the send's; a no-op span when not
// tracing.
func (st sendTrace) child(ctx context.Context, name string) (context.Context, trace.Span) {
	if st.span == nil {
		return ctx, nil
	}
	return st.t.tracer.Start(ctx, name)
}

// endSpan ends span, from child, with err.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// phaseStart returns the start of a processor phase call; zero when
// neither its span nor its duration is recorded.
func (st sendTrace) phaseStart(ctx context.Context) time.Time {
	if st.t == nil {
		return time.Time{}
	}
	if st.span != nil || st.t.phaseDuration.Enabled(ctx) {
		return time.Now()
	}
	return time.Time{}
}

// phaseEnd records a processor phase call that began at start.
func (st sendTrace) phaseEnd(ctx context.Context, p Processor, phase string, start time.Time, err error) {
	if start.IsZero() {
		return
	}
	end := time.Now()
	st.t.phaseDuration.Record(ctx, end.Sub(start).Seconds(), st.t.processor(p.Name()).phases[phase].record...)
	st.phases.add(p.Name(), phase, start, end, err)
}

// processorFailed counts a failed processor phase call.
func (t *telemetry) processorFailed(ctx context.Context, processor, phase string) {
	if t == nil {
		return
	}
	t.phaseErrors.Add(ctx, 1, t.processor(processor).phases[phase].add...)
}

// phaseSpans gathers one send's processor phase calls into one span per
// processor and phase: a pre-processor runs once per recipient, and a
// span per call would be one per recipient.
type phaseSpans struct {
	mu      sync.Mutex
	entries []phaseEntry
}

type phaseEntry struct {
	processor, phase string
	start, end       time.Time
	calls, errors    int
	err              error
}

func (ps *phaseSpans) add(processor, phase string, start, end time.Time, err error) {
	if ps == nil {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for i := range ps.entries {
		e := &ps.entries[i]
		if e.processor == processor && e.phase == phase {
			e.end, e.calls = end, e.calls+1
			if err != nil {
				e.errors, e.err = e.errors+1, err
			}
			return
		}
	}
	e := phaseEntry{processor: processor, phase: phase, start: start, end: end, calls: 1}
	if err != nil {
		e.errors, e.err = 1, err
	}
	ps.entries = append(ps.entries, e)
}

func (ps *phaseSpans) flush(ctx context.Context, tracer trace.Tracer) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, e := range ps.entries {
		_, span := tracer.Start(ctx, "herald."+e.phase, trace.WithTimestamp(e.start), trace.WithAttributes(
			attrProcessor.String(e.processor), attrPhase.String(e.phase), attrCalls.Int(e.calls), attrErrors.Int(e.errors)))
		if e.err != nil {
			span.RecordError(e.err)
			span.SetStatus(codes.Error, e.err.Error())
		}
		span.End(trace.WithTimestamp(e.end))
	}
	ps.entries = nil
}

// deliverTrace is one delivery attempt's telemetry.
type deliverTrace struct {
	t     *telemetry
	attrs *processorAttrs
	span  trace.Span
	start time.Time
}

// startDeliver starts an attempt's span, a root linked to the send's.
func (t *telemetry) startDeliver(ctx context.Context, c DeliveryClaim) (context.Context, deliverTrace) {
	if t == nil {
		return ctx, deliverTrace{}
	}
	dt := deliverTrace{t: t, attrs: t.processor(c.Delivery.Processor)}
	if t.tracing() {
		opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attrProcessor.String(c.Delivery.Processor), attrAttempt.Int(c.Delivery.Attempts),
				attrDeliveryID.String(c.Delivery.ID), attrNotificationID.String(c.Delivery.NotificationID))}
		if sc := parseTraceParent(c.TraceParent); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
		ctx, dt.span = t.tracer.Start(ctx, "herald.deliver", opts...)
	}
	if dt.span != nil || t.deliverTime.Enabled(ctx) || t.phaseDuration.Enabled(ctx) {
		dt.start = time.Now()
	}
	return ctx, dt
}

// processed records the post-processor's call (status "" is a failed
// one), which started with the attempt.
func (dt deliverTrace) processed(ctx context.Context, status DeliveryStatus, err error) {
	if dt.t == nil || status == DeliveryCancelled {
		return // the processor did not run
	}
	if !dt.start.IsZero() {
		dt.t.phaseDuration.Record(ctx, time.Since(dt.start).Seconds(), dt.attrs.phases[phasePost].record...)
	}
	if status == "" && err != nil {
		dt.t.phaseErrors.Add(ctx, 1, dt.attrs.phases[phasePost].add...)
	}
}

// end records the attempt's outcome.
func (dt deliverTrace) end(ctx context.Context, outcome string, err error) {
	if dt.t == nil {
		return
	}
	a, ok := dt.attrs.outcomes[outcome]
	if !ok {
		return
	}
	dt.t.deliveries.Add(ctx, 1, a.add...)
	if !dt.start.IsZero() {
		dt.t.deliverTime.Record(ctx, time.Since(dt.start).Seconds(), a.record...)
	}
	if dt.span == nil {
		return
	}
	dt.span.SetAttributes(a.attr)
	if err != nil && outcome != string(DeliveryCancelled) {
		dt.span.RecordError(err)
		dt.span.SetStatus(codes.Error, err.Error())
	}
	dt.span.End()
}

// registerBacklog registers the herald.deliveries.backlog gauge, read
// from the store at each collection when it can count.
func (t *telemetry) registerBacklog(mp metric.MeterProvider, store Store) error {
	counter, ok := store.(BacklogCounter)
	if !ok {
		return nil
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	g, err := m.Int64ObservableGauge("herald.deliveries.backlog", metric.WithUnit("{delivery}"),
		metric.WithDescription("Deliveries waiting for an attempt (pending or retrying), as stored."))
	if err != nil {
		return err
	}
	t.backlog, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		counts, err := counter.DeliveryBacklog(ctx)
		if err != nil {
			return err
		}
		for _, c := range counts {
			o.ObserveInt64(g, c.Count, metric.WithAttributes(attrProcessor.String(c.Processor), attrDeliveryStatus.String(string(c.Status))))
		}
		return nil
	}, g)
	return err
}

// close unregisters the backlog gauge.
func (t *telemetry) close() {
	if t != nil && t.backlog != nil {
		_ = t.backlog.Unregister()
	}
}

// BacklogCounter is implemented by a Store that can count the
// deliveries waiting for an attempt, for the herald.deliveries.backlog
// gauge. Package store's Store does.
type BacklogCounter interface {
	// DeliveryBacklog counts the pending and retrying deliveries by
	// processor and status (those held for a digest included).
	DeliveryBacklog(ctx context.Context) ([]BacklogCount, error)
}

// BacklogCount is how many deliveries of one processor wait in one
// status.
type BacklogCount struct {
	Processor string
	Status    DeliveryStatus
	Count     int64
}

var traceContext = propagation.TraceContext{}

func formatTraceParent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	return carrier["traceparent"]
}

func parseTraceParent(tp string) trace.SpanContext {
	if tp == "" {
		return trace.SpanContext{}
	}
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	return trace.SpanContextFromContext(ctx)
}
