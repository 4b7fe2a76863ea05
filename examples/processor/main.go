// Command processor shows custom processors next to a built-in one: a
// pre-processor that links every build notification to the CI page, an
// audit post-processor, and the webhook processor delivering signed calls
// to a receiver that verifies them. The receiver refuses its first call
// with a 503, so the output shows a delivery that fails, is retried with
// the same webhook-id, and succeeds, as Service.Deliveries records it.
//
//	go run ./examples/processor
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/webhook"
	"github.com/heraldhq/herald/store"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	st, err := store.OpenSQLite(ctx, ":memory:")
	if err != nil {
		return err
	}
	defer st.Close()

	// Deliveries run in background workers: collect, print at the end.
	var mu sync.Mutex
	var lines []string
	record := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}

	// A receiver that trusts only correctly signed calls, and is down for
	// the first call about the failed build: it answers 503, and the
	// Service retries the delivery with the same webhook-id.
	var refusedID string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := webhook.Verify(secret, r.Header, body, 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var env webhook.Envelope
		if err := json.Unmarshal(body, &env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := r.Header.Get(webhook.HeaderID)
		mu.Lock()
		refuse := refusedID == "" && strings.HasPrefix(env.Data.Payload.Title, "Build")
		if refuse {
			refusedID = id
		}
		retried := id == refusedID && !refuse
		mu.Unlock()
		if refuse {
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
			return
		}
		record("webhook: %s %q link=%q (a retry with the same webhook-id: %v)", env.Type, env.Data.Payload.Title, env.Data.Payload.Link, retried)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// 1. A pre-processor, limited by filters to the "build" topic: it
	// rewrites each notification before it is stored.
	linker := &notifications.PreProcessorFunc{
		ProcessorName:   "ci-links",
		ProcessorFilter: notifications.ProcessorFilter{IncludedTopics: []string{"build"}},
		Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
			if n.Payload.Link == "" {
				n.Payload.Link = "/ci/builds"
			}
			return n, nil
		},
	}

	// 2. A post-processor in one function: an audit line per delivery.
	audit := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
		to := n.User
		if n.IsBroadcast() {
			to = "everyone"
		}
		record("audit: %q from %s to %s", n.Payload.Title, n.Origin, to)
		return nil
	}}

	// 3. A built-in processor. The Service meters every processor's
	// deliveries (herald.deliveries, by processor and outcome); here an
	// in-memory OpenTelemetry reader collects them.
	hooks, err := webhook.New(webhook.Config{URL: receiver.URL, Secret: secret})
	if err != nil {
		return err
	}

	// OnDelivery sees every outcome the Service stores: here it notes the
	// retries, and counts the final outcomes, so the program knows when
	// everything is delivered.
	finished := make(chan notifications.Delivery, 16)
	reader := sdkmetric.NewManualReader()
	svc, err := notifications.New(notifications.Config{
		Store:         st,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Processors:    []notifications.Processor{linker, audit, hooks}, // run in this order
		// Retry quickly for the demonstration; the default waits 10s to
		// 10m between 8 attempts.
		Retry: notifications.RetryPolicy{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second},
		OnDelivery: func(_ context.Context, d notifications.Delivery) {
			if d.Status == notifications.DeliveryRetrying {
				record("delivery retried: %s, attempt %d failed: %s", d.Processor, d.Attempts, d.LastError)
			}
			if d.Status.Final() {
				finished <- d
			}
		},
	})
	if err != nil {
		return err
	}
	ci := svc.Sender("plugin:ci")
	titles := map[string]string{}
	for _, s := range []struct {
		to notifications.Recipients
		p  notifications.Payload
	}{
		{notifications.Entity("user:default/jane"), notifications.Payload{Title: "Build 42 failed", Topic: "build", Severity: notifications.SeverityHigh}},
		{notifications.Broadcast(), notifications.Payload{Title: "CI maintenance at noon"}},
	} {
		sent, err := ci.Send(ctx, s.to, s.p)
		if err != nil {
			return err
		}
		for _, n := range sent {
			titles[n.ID] = n.Payload.Title
		}
	}

	// Two sends, two post-processors: four deliveries, stored with the
	// sends. Wait until each is final (the retry included).
	deliveries, err := svc.Deliveries(ctx, notifications.DeliveryFilter{})
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for range deliveries {
		select {
		case <-finished:
		case <-wait.Done():
			return fmt.Errorf("deliveries not finished: %w", wait.Err())
		}
	}
	if err := svc.Close(ctx); err != nil {
		return err
	}

	slices.Sort(lines)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	var counts []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "herald.deliveries" {
				for _, p := range sum.DataPoints {
					proc, _ := p.Attributes.Value("herald.processor")
					outcome, _ := p.Attributes.Value("herald.delivery.outcome")
					counts = append(counts, fmt.Sprintf("%s %s=%d", proc.AsString(), outcome.AsString(), p.Value))
				}
			}
		}
	}
	slices.Sort(counts)
	fmt.Fprintf(out, "herald.deliveries: %s\n", strings.Join(counts, ", "))

	// The durable record of every delivery: what a host (or GET
	// /deliveries) inspects, and what RetryDelivery re-runs when failed.
	deliveries, err = svc.Deliveries(ctx, notifications.DeliveryFilter{})
	if err != nil {
		return err
	}
	slices.SortFunc(deliveries, func(a, b notifications.Delivery) int {
		return strings.Compare(a.Processor+titles[a.NotificationID], b.Processor+titles[b.NotificationID])
	})
	fmt.Fprintln(out, "deliveries (Service.Deliveries):")
	for _, d := range deliveries {
		fmt.Fprintf(out, "  %-8s %-24q %s after %d attempt(s)", d.Processor, titles[d.NotificationID], d.Status, d.Attempts)
		if d.LastError != "" {
			fmt.Fprintf(out, "; last error: %s", d.LastError)
		}
		fmt.Fprintln(out)
	}
	return nil
}
