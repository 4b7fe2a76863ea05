package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"strings"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// telemetry is the server's OpenTelemetry SDK: a tracer provider (spans
// give the logs their trace ids and continue a caller's W3C trace), and,
// with -metrics-addr, a meter provider read by the Prometheus exporter.
// The server exports no spans, so its sampler records none unless a
// caller's sampled traceparent asks: unsampled spans still carry trace
// ids, for the logs, at a fraction of a recorded span's cost (recording
// spans for nobody was 6-9% of a send's CPU). A host that adds an exporter
// (sdktrace.WithBatcher) chooses the sampler it wants with it.
type telemetry struct {
	tp *sdktrace.TracerProvider
	// exported is whether something reads tp's spans (a span processor
	// was registered); the server itself registers none.
	exported bool
	mp       metric.MeterProvider
	sdkMP    *sdkmetric.MeterProvider // nil without -metrics-addr
	metrics  *http.Server             // nil without -metrics-addr
	ln       net.Listener
}

func newTelemetry(cfg config) (*telemetry, error) {
	t := &telemetry{
		tp: sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample()))),
		mp: metricnoop.NewMeterProvider(),
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if cfg.metricsAddr == "" {
		return t, nil
	}
	reg := prom.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t.sdkMP = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.mp = t.sdkMP
	if err := runtime.Start(runtime.WithMeterProvider(t.sdkMP)); err != nil {
		return nil, fmt.Errorf("runtime metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	t.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return t, nil
}

// listen opens the metrics address; a no-op without -metrics-addr.
func (t *telemetry) listen(ctx context.Context, addr string, logger *slog.Logger) error {
	if t.metrics == nil {
		return nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("-metrics-addr: %w", err)
	}
	t.ln = ln
	t.metrics.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	go func() {
		if err := t.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "error", err)
		}
	}()
	return nil
}

func (t *telemetry) close(ctx context.Context) error {
	var errs []error
	if t.metrics != nil {
		errs = append(errs, t.metrics.Shutdown(ctx))
	}
	if t.sdkMP != nil {
		errs = append(errs, t.sdkMP.Shutdown(ctx))
	}
	errs = append(errs, t.tp.Shutdown(ctx))
	return errors.Join(errs...)
}

// sameAddress reports whether the metrics address would be the public
// one: the same port on an overlapping host.
func sameAddress(public, metrics string) bool {
	ph, pp, err1 := net.SplitHostPort(public)
	mh, mp, err2 := net.SplitHostPort(metrics)
	if err1 != nil || err2 != nil || pp != mp || pp == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ph == mh || wildcard(ph) || wildcard(mh)
}

// traced wraps a handler mounted at prefix with otelhttp, naming each
// span after the route template that served it ("GET
// /api/notifications/{id}"), never the raw path: a handler with its own
// ServeMux (the REST API) sets Request.Pattern on the request it routes,
// and the outer request's Pattern is set to the full template from it,
// from which otelhttp names the span and sets http.route.
// A handler without a ServeMux of its own (the signals endpoint) lists
// its fixed paths in paths instead.
func (t *telemetry) traced(prefix string, h http.Handler, paths ...string) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, prefix)
		// A shallow copy with its own URL, as http.StripPrefix makes:
		// r.Clone would copy every header for nothing.
		r2, u := new(http.Request), new(url.URL)
		*r2, *u = *r, *r.URL
		r2.URL = u
		r2.URL.Path, r2.URL.RawPath, r2.Pattern = rest, "", ""
		if r2.URL.Path == "" {
			r2.URL.Path = "/"
		}
		h.ServeHTTP(w, r2)
		// otelhttp names the span, and sets http.route, from r.Pattern
		// once this returns.
		switch {
		case r2.Pattern != "":
			method, path, ok := strings.Cut(r2.Pattern, " ")
			if !ok {
				method, path = r.Method, r2.Pattern
			}
			r.Pattern = method + " " + strings.TrimSuffix(prefix+strings.TrimSuffix(path, "{$}"), "/")
		case slices.Contains(paths, rest):
			r.Pattern = r.Method + " " + strings.TrimSuffix(prefix+rest, "/")
		default:
			r.Pattern = r.Method + " " + prefix
		}
	})
	if !t.observed() {
		return t.spanOnly(prefix, inner)
	}
	return otelhttp.NewHandler(inner, prefix,
		otelhttp.WithTracerProvider(t.tp), otelhttp.WithMeterProvider(t.mp),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if _, _, ok := strings.Cut(r.Pattern, " "); ok {
				return r.Pattern // set by inner
			}
			return r.Method + " " + prefix
		}))
}

// tracedAs wraps h with otelhttp, every span named name.
func (t *telemetry) tracedAs(name string, h http.Handler) http.Handler {
	if !t.observed() {
		return t.spanOnly(name, h)
	}
	return otelhttp.NewHandler(h, name, otelhttp.WithTracerProvider(t.tp), otelhttp.WithMeterProvider(t.mp),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + name }))
}

// observed reports whether anything reads what otelhttp records: a
// metrics reader (-metrics-addr) or a span processor. Without either,
// its HTTP attributes, metrics and response-writer wrapping are thrown
// away: about 8% of a send's CPU under BenchmarkServer's load (perf).
func (t *telemetry) observed() bool { return t.sdkMP != nil || t.exported }

// spanOnly is what traced keeps when nothing is observed: the caller's
// W3C trace continued and a span started for it, so that log lines carry
// trace and span ids as they do under otelhttp, and nothing else.
func (t *telemetry) spanOnly(name string, h http.Handler) http.Handler {
	tracer := t.tp.Tracer("github.com/heraldhq/herald/examples/server")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+name, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// traceHandler adds trace_id and span_id to every record logged with a
// context holding a recording or remote span.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
