package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestMetricsAddr scrapes -metrics-addr after a send: Herald's
// instruments under their Prometheus names, the HTTP server's and the Go
// runtime's, pprof beside them, and none of it on the public address.
func TestMetricsAddr(t *testing.T) {
	s := start(t, "-metrics-addr", "127.0.0.1:0")
	m := regexp.MustCompile(`metrics on (http://127\.0\.0\.1:\d+)/metrics`).FindStringSubmatch(s.line)
	if m == nil {
		t.Fatalf("%q does not say where the metrics are", s.line)
	}
	metrics := m[1]
	if status, body := s.do(t, http.MethodPost, "/api/notifications", "s3cret", readmeBroadcast); status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	if status, body := s.do(t, http.MethodPost, "/api/notifications", "s3cret",
		`{"recipients":{"type":"entity","entityRef":["user:default/alice","user:default/bob"]},"payload":{"title":"t"}}`); status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	status, body := get(t, metrics+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^herald_notifications_sent_total\{[^}]*herald_origin="ci"[^}]*\} 3$`),
		regexp.MustCompile(`(?m)^herald_sends_total\{[^}]*herald_outcome="ok"[^}]*\} 2$`),
		regexp.MustCompile(`(?m)^herald_send_duration_seconds_count\{`),
		regexp.MustCompile(`(?m)^herald_connections\b|^herald_signals_published_total\{`),
		regexp.MustCompile(`(?m)^http_server_request_duration_seconds_count\{[^}]*http_route=`),
		regexp.MustCompile(`(?m)^go_(goroutine|memory|sched)`),
	} {
		if !want.MatchString(body) {
			t.Errorf("/metrics has no line matching %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	if status, body := get(t, metrics+"/debug/pprof/"); status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/: %d", status)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if status, _ := get(t, s.base+path); status != http.StatusNotFound {
			t.Errorf("public GET %s: %d, want 404", path, status)
		}
	}
}

func TestMetricsAddrIsNeverPublic(t *testing.T) {
	for _, c := range []struct {
		addr, metrics string
		refused       bool
	}{
		{"127.0.0.1:7007", "127.0.0.1:7007", true},
		{"127.0.0.1:7007", ":7007", true},
		{":7007", "127.0.0.1:7007", true},
		{"127.0.0.1:7007", "127.0.0.1:9464", false},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // two free ports
	} {
		_, err := parseFlags([]string{"-addr", c.addr, "-metrics-addr", c.metrics, "-user-token", "u=user:default/a"}, io.Discard)
		if (err != nil) != c.refused {
			t.Errorf("-addr %s -metrics-addr %s: %v, refused want %v", c.addr, c.metrics, err, c.refused)
		}
	}
	if _, err := parseFlags([]string{"-metrics-addr", "nope", "-user-token", "u=user:default/a"}, io.Discard); err == nil {
		t.Error("-metrics-addr nope accepted")
	}
}

// TestSpanNames checks that spans are named after route templates, not
// raw paths, and that logs within a span carry its ids.
func TestSpanNames(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel := &telemetry{tp: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), exported: true, mp: metricnoop.NewMeterProvider()}
	var logs bytes.Buffer
	logger := slog.New(traceHandler{slog.NewTextHandler(&logs, nil)})
	api := http.NewServeMux()
	api.HandleFunc("GET /notifications/{id}", func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "reading", "id", r.PathValue("id"))
	})
	api.HandleFunc("GET /{$}", func(http.ResponseWriter, *http.Request) {})
	fixed := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	h := tel.traced("/api/notifications", api)
	mux.Handle("/api/notifications/", h)
	mux.Handle("/api/notifications", h)
	sig := tel.traced("/api/signals", fixed, "/", "/events")
	mux.Handle("/api/signals/", sig)
	mux.Handle("/api/signals", sig)
	for path, want := range map[string]string{
		"/api/notifications/notifications/0b8e9d36-1c1e-4b8a-9a0e-3f1f7b1b5a11": "GET /api/notifications/notifications/{id}",
		"/api/notifications":            "GET /api/notifications",
		"/api/notifications/no/such":    "GET /api/notifications",
		"/api/signals/events":           "GET /api/signals/events",
		"/api/signals/x9f3a7b1c2d4e5f6": "GET /api/signals",
	} {
		rec.Reset()
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil))
		spans := rec.Ended()
		if len(spans) != 1 || spans[0].Name() != want {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name())
			}
			t.Errorf("GET %s: spans %q, want one %q", path, names, want)
			continue
		}
		if strings.Contains(path, "0b8e9d36") {
			sc := spans[0].SpanContext()
			if line := logs.String(); !strings.Contains(line, "trace_id="+sc.TraceID().String()) || !strings.Contains(line, "span_id="+sc.SpanID().String()) {
				t.Errorf("log %q lacks the span's trace_id and span_id", line)
			}
		}
	}
	logs.Reset()
	logger.Info("no span")
	if strings.Contains(logs.String(), "trace_id") {
		t.Errorf("a log without a span has a trace id: %q", logs.String())
	}
}

// TestDefaultTracingRecordsNothing: the server exports no spans, so its
// tracer provider records none unless a caller's sampled traceparent asks,
// yet every span still has a trace id for the logs.
func TestDefaultTracingRecordsNothing(t *testing.T) {
	tel, err := newTelemetry(config{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.tp.Tracer("test").Start(t.Context(), "request")
	defer span.End()
	if span.IsRecording() {
		t.Error("an unasked-for span is recorded")
	}
	if !span.SpanContext().TraceID().IsValid() {
		t.Error("an unsampled span has no trace id for the logs")
	}
}

// TestUnobservedTracingKeepsTraceIDs: without a metrics reader or a span
// processor the server skips otelhttp, yet a handler still runs inside a
// span that continues the caller's W3C trace, so log lines carry its ids,
// and the prefix is still stripped.
func TestUnobservedTracingKeepsTraceIDs(t *testing.T) {
	tel, err := newTelemetry(config{})
	if err != nil {
		t.Fatal(err)
	}
	if tel.observed() {
		t.Fatal("a server without -metrics-addr counts as observed")
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	var got trace.SpanContext
	var path string
	api := http.NewServeMux()
	api.HandleFunc("GET /notifications/{id}", func(_ http.ResponseWriter, r *http.Request) {
		got, path = trace.SpanContextFromContext(r.Context()), r.URL.Path
	})
	h := tel.traced("/api/notifications", api)
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/notifications/notifications/x", nil)
	r.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-00")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got.TraceID().String() != traceID || !got.SpanID().IsValid() || got.SpanID().String() == "00f067aa0ba902b7" {
		t.Errorf("handler's span %v/%v, want a new span in trace %s", got.TraceID(), got.SpanID(), traceID)
	}
	if path != "/notifications/x" {
		t.Errorf("handler saw path %q, want the prefix stripped", path)
	}
}
