package notifications_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald/internal/telemetryoff"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// telemetryFixture is a Service traced and metered by in-memory SDKs.
type telemetryFixture struct {
	svc    *notifications.Service
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
}

func newTelemetryFixture(t *testing.T, st notifications.Store, procs ...notifications.Processor) telemetryFixture {
	t.Helper()
	f := telemetryFixture{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	svc, err := notifications.New(notifications.Config{
		Store: st, DeliveryWorkers: -1, Processors: procs,
		TracerProvider: f.tp, MeterProvider: mp, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeService(t, svc) })
	f.svc = svc
	return f
}

func (f telemetryFixture) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range f.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestSendSpanTree checks the spans of one send to two users with an
// options processor, a pre-processor that fails for one recipient and a
// post-processor, and that the delivery attempts, run by another Service
// on the same store (as another process would), link to the send's span.
func TestSendSpanTree(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hook := &script{name: "hook"}
	opts := &notifications.OptionsProcessorFunc{ProcessorName: "opts", Func: func(_ context.Context, o notifications.SendOptions) (notifications.SendOptions, error) {
		return o, nil
	}}
	pre := &notifications.PreProcessorFunc{ProcessorName: "pre", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
		if n.User == "user:default/b" {
			return n, errors.New("no")
		}
		return n, nil
	}}
	sender := newTelemetryFixture(t, st, opts, pre, hook.processor())

	callerCtx, caller := sender.tp.Tracer("test").Start(ctx, "caller")
	ns, err := sender.svc.Send(callerCtx, notifications.SendOptions{Origin: "plugin:test",
		Recipients: notifications.Entity("user:default/a", "user:default/b"), Payload: notifications.Payload{Title: "t"}})
	caller.End()
	if err != nil || len(ns) != 2 {
		t.Fatalf("send: %v, %d notifications", err, len(ns))
	}

	sends := sender.named("herald.send")
	if len(sends) != 1 {
		t.Fatalf("%d herald.send spans, want 1", len(sends))
	}
	send := sends[0]
	if send.Parent().SpanID() != caller.SpanContext().SpanID() || send.SpanContext().TraceID() != caller.SpanContext().TraceID() {
		t.Errorf("herald.send's parent is %v, want the caller's span %v", send.Parent().SpanID(), caller.SpanContext().SpanID())
	}
	if v, _ := spanAttr(send, "herald.origin"); v.AsString() != "plugin:test" {
		t.Errorf("herald.send herald.origin = %q", v.AsString())
	}
	if v, _ := spanAttr(send, "herald.send.recipients"); v.AsInt64() != 2 {
		t.Errorf("herald.send herald.send.recipients = %d, want 2", v.AsInt64())
	}
	children := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range sender.spans.Ended() {
		if s.Parent().SpanID() == send.SpanContext().SpanID() {
			if _, dup := children[s.Name()]; dup {
				t.Errorf("two %s children", s.Name())
			}
			children[s.Name()] = s
		}
	}
	var names []string
	for n := range children {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"herald.preProcess", "herald.processOptions", "herald.resolve", "herald.store.write"}
	if !slices.Equal(names, want) {
		t.Fatalf("herald.send's children %v, want %v", names, want)
	}
	if v, _ := spanAttr(children["herald.processOptions"], "herald.processor"); v.AsString() != "opts" {
		t.Errorf("herald.processOptions herald.processor = %q, want opts", v.AsString())
	}
	p := children["herald.preProcess"]
	if v, _ := spanAttr(p, "herald.processor"); v.AsString() != "pre" {
		t.Errorf("herald.preProcess herald.processor = %q, want pre", v.AsString())
	}
	if v, _ := spanAttr(p, "herald.processor.calls"); v.AsInt64() != 2 {
		t.Errorf("herald.preProcess calls = %d, want 2", v.AsInt64())
	}
	if v, _ := spanAttr(p, "herald.processor.errors"); v.AsInt64() != 1 {
		t.Errorf("herald.preProcess errors = %d, want 1", v.AsInt64())
	}
	if p.Status().Code.String() != "Error" {
		t.Errorf("herald.preProcess status %v, want Error", p.Status())
	}
	if len(sender.named("herald.deliver")) != 0 {
		t.Fatal("a delivery ran in a Service without workers")
	}

	// Another Service, with its own tracer, runs the deliveries.
	worker := newTelemetryFixture(t, st, hook.processor())
	if n, err := worker.svc.RunDueDeliveries(ctx); err != nil || n != 2 {
		t.Fatalf("RunDueDeliveries: %d, %v", n, err)
	}
	delivers := worker.named("herald.deliver")
	if len(delivers) != 2 {
		t.Fatalf("%d herald.deliver spans, want 2", len(delivers))
	}
	for _, d := range delivers {
		if d.Parent().IsValid() {
			t.Errorf("herald.deliver has a parent %v; want a root span", d.Parent())
		}
		if d.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("herald.deliver kind %v, want consumer", d.SpanKind())
		}
		links := d.Links()
		if len(links) != 1 || !links[0].SpanContext.Equal(trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: send.SpanContext().TraceID(), SpanID: send.SpanContext().SpanID(), TraceFlags: trace.FlagsSampled, Remote: true,
		})) {
			t.Errorf("herald.deliver links %+v, want one to herald.send %v", links, send.SpanContext())
		}
		for key, want := range map[string]string{"herald.processor": "hook", "herald.delivery.outcome": "sent"} {
			if v, _ := spanAttr(d, key); v.AsString() != want {
				t.Errorf("herald.deliver %s = %q, want %q", key, v.AsString(), want)
			}
		}
		if v, _ := spanAttr(d, "herald.delivery.attempt"); v.AsInt64() != 1 {
			t.Errorf("herald.deliver attempt = %d, want 1", v.AsInt64())
		}
	}
	if len(hook.recorded()) != 2 {
		t.Errorf("hook ran %d times, want 2", len(hook.recorded()))
	}
}

// metricsOf collects r's metrics by instrument name.
func metricsOf(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// intValue is the value of m's data point with exactly attrs; -1 when
// there is none.
func intValue(t *testing.T, m metricdata.Metrics, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	want := attribute.NewSet(attrs...)
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if p.Attributes.Equals(&want) {
				return p.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if p.Attributes.Equals(&want) {
				return p.Value
			}
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			if p.Attributes.Equals(&want) {
				return int64(p.Count)
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if p.Attributes.Equals(&want) {
				return int64(p.Count)
			}
		}
	default:
		t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
	}
	return -1
}

// TestSendMetrics checks the counters' values after sends and delivery
// attempts, a failing and retried one among them, on each store.
func TestSendMetrics(t *testing.T) {
	eachStore(t, func(t *testing.T, st notifications.Store) {
		ctx := t.Context()
		hook := &script{name: "hook", results: []func() error{func() error { return errors.New("down") }}}
		pre := &notifications.PreProcessorFunc{ProcessorName: "pre", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
			panic("boom") // counted like an error
		}}
		f := newTelemetryFixture(t, st, pre, hook.processor())
		send := func(origin string, to ...string) {
			t.Helper()
			if _, err := f.svc.Send(ctx, notifications.SendOptions{Origin: origin, Recipients: notifications.Entity(to...),
				Payload: notifications.Payload{Title: "t"}}); err != nil {
				t.Fatal(err)
			}
		}
		send("plugin:a", "user:default/a", "user:default/b", "user:default/c")
		send("plugin:b", "user:default/a")
		// A send the resolver refuses counts as a failed send.
		if _, err := f.svc.Send(ctx, notifications.SendOptions{Origin: "plugin:b", Recipients: notifications.Entity("group:default/x"),
			Payload: notifications.Payload{Title: "t"}}); err == nil {
			t.Fatal("a group sent to without a catalog")
		}

		m := metricsOf(t, f.reader)
		origin := func(o string) attribute.KeyValue { return attribute.String("herald.origin", o) }
		ok := attribute.String("herald.outcome", "ok")
		checks := []struct {
			name  string
			attrs []attribute.KeyValue
			want  int64
		}{
			{"herald.notifications.sent", []attribute.KeyValue{origin("plugin:a")}, 3},
			{"herald.notifications.sent", []attribute.KeyValue{origin("plugin:b")}, 1},
			{"herald.sends", []attribute.KeyValue{origin("plugin:a"), ok}, 1},
			{"herald.sends", []attribute.KeyValue{origin("plugin:b"), ok}, 1},
			{"herald.sends", []attribute.KeyValue{origin("plugin:b"), attribute.String("herald.outcome", "error")}, 1},
			{"herald.send.duration", []attribute.KeyValue{origin("plugin:a"), ok}, 1},
			{"herald.send.recipients", []attribute.KeyValue{origin("plugin:a")}, 1},
			{"herald.processor.errors", []attribute.KeyValue{attribute.String("herald.processor", "pre"), attribute.String("herald.processor.phase", "preProcess")}, 4},
			{"herald.processor.duration", []attribute.KeyValue{attribute.String("herald.processor", "pre"), attribute.String("herald.processor.phase", "preProcess")}, 4},
			{"herald.deliveries.backlog", []attribute.KeyValue{attribute.String("herald.processor", "hook"), attribute.String("herald.delivery.status", "pending")}, 4},
		}
		for _, c := range checks {
			if got := intValue(t, m[c.name], c.attrs...); got != c.want {
				t.Errorf("%s%v = %d, want %d", c.name, c.attrs, got, c.want)
			}
		}
		if _, present := m["herald.deliveries"]; present {
			t.Error("herald.deliveries recorded before any attempt")
		}

		if n, err := f.svc.RunDueDeliveries(ctx); err != nil || n != 4 {
			t.Fatalf("RunDueDeliveries: %d, %v", n, err)
		}
		m = metricsOf(t, f.reader)
		hookAttr := attribute.String("herald.processor", "hook")
		outcome := func(o string) attribute.KeyValue { return attribute.String("herald.delivery.outcome", o) }
		for _, c := range []struct {
			name  string
			attrs []attribute.KeyValue
			want  int64
		}{
			{"herald.deliveries", []attribute.KeyValue{hookAttr, outcome("sent")}, 3},
			{"herald.deliveries", []attribute.KeyValue{hookAttr, outcome("retrying")}, 1},
			{"herald.delivery.duration", []attribute.KeyValue{hookAttr, outcome("sent")}, 3},
			{"herald.processor.errors", []attribute.KeyValue{hookAttr, attribute.String("herald.processor.phase", "postProcess")}, 1},
			{"herald.processor.duration", []attribute.KeyValue{hookAttr, attribute.String("herald.processor.phase", "postProcess")}, 4},
			{"herald.deliveries.backlog", []attribute.KeyValue{hookAttr, attribute.String("herald.delivery.status", "retrying")}, 1},
			{"herald.deliveries.backlog", []attribute.KeyValue{hookAttr, attribute.String("herald.delivery.status", "pending")}, -1},
		} {
			if got := intValue(t, m[c.name], c.attrs...); got != c.want {
				t.Errorf("%s%v = %d, want %d", c.name, c.attrs, got, c.want)
			}
		}
	})
}

// TestSendAllocationsWithoutSDK checks that with no SDK, on explicit
// no-op providers or on the global ones before any SDK is installed, a
// send allocates no more than the same send on a Service whose telemetry
// is off (package telemetryoff).
func TestSendAllocationsWithoutSDK(t *testing.T) {
	// Not parallel: AllocsPerRun counts every goroutine's allocations.
	newService := func(cfg notifications.Config) *notifications.Service {
		cfg.Store, cfg.DeliveryWorkers = memoryStore(t), -1
		cfg.Processors = []notifications.Processor{&notifications.PreProcessorFunc{ProcessorName: "pre",
			Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
				return n, nil
			}}}
		svc := startService(t, cfg)
		return svc
	}
	off := newService(notifications.Config{})
	telemetryoff.Disable(off)
	noop := newService(notifications.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
	// The global providers are the API's own here: no test in this
	// package installs an SDK globally.
	global := newService(notifications.Config{})
	allocs := func(svc *notifications.Service) float64 {
		o := notifications.SendOptions{Origin: "plugin:a", Recipients: notifications.Entity("user:default/a", "user:default/b"),
			Payload: notifications.Payload{Title: "t"}}
		ctx := t.Context()
		send := func() {
			if _, err := svc.Send(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		send() // warm: prepared statements, the origin's attribute set
		// AllocsPerRun counts every goroutine's allocations, those of
		// earlier tests' leftovers too: the least of a few rounds is the
		// send's own.
		least := testing.AllocsPerRun(100, send)
		for range 4 {
			least = min(least, testing.AllocsPerRun(100, send))
		}
		return least
	}
	base := allocs(off)
	t.Logf("a send without telemetry: %.0f allocations", base)
	for name, svc := range map[string]*notifications.Service{"no-op providers": noop, "global providers": global} {
		if got := allocs(svc); got > base {
			t.Errorf("%s: a send allocates %.0f times, %.0f more than without telemetry (%.0f)", name, got, got-base, base)
		}
	}
}
