package signalstest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/signals"
)

// BenchmarkLatency measures a transport's delivery latency between two
// instances: the time from Publish on one Bus to the delivery to another
// Bus's local Publisher, one signal at a time, with a message padded to
// about messageBytes. It reports the median and 99th percentile as
// "p50-µs" and "p99-µs". open returns a fresh Transport on the shared
// backend each time it is called and releases it with b.Cleanup.
func BenchmarkLatency(b *testing.B, open func(b *testing.B) signals.Transport, messageBytes int) {
	b.Helper()
	got := make(chan struct{}, 1)
	newBus := func(local signals.Publisher) *signals.Bus {
		bus, err := signals.NewBus(context.Background(), signals.BusConfig{Transport: open(b), Local: local})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = bus.Close() })
		return bus
	}
	sender := newBus(signals.PublisherFunc(func(context.Context, signals.Signal) error { return nil }))
	newBus(signals.PublisherFunc(func(context.Context, signals.Signal) error {
		got <- struct{}{}
		return nil
	}))
	s := signals.Signal{Recipients: signals.Broadcast(), Channel: "c",
		Message: map[string]string{"pad": strings.Repeat("x", messageBytes)}}
	var latencies []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := sender.Publish(context.Background(), s); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatal("signalstest: timed out waiting for delivery")
		}
		latencies = append(latencies, time.Since(start))
	}
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
}
