package signals_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/heraldhq/herald/signals"
)

// sums collects r's int64 sums: instrument name → attribute set → value.
func sums(t *testing.T, r *sdkmetric.ManualReader) map[string]map[attribute.Distinct]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[attribute.Distinct]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok {
				out[m.Name] = map[attribute.Distinct]int64{}
				for _, p := range d.DataPoints {
					out[m.Name][p.Attributes.Equivalent()] = p.Value
				}
			}
		}
	}
	return out
}

func TestHubMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	hub := signals.NewHub(signals.HubConfig{BufferSize: 1, MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	t.Cleanup(hub.Close)
	slow := hub.Subscribe(signals.SubscribeOptions{User: john, Channels: []string{"c"}})
	defer slow.Close()
	publish(t, hub, signals.Signal{Recipients: signals.Broadcast(), Channel: "c", Message: map[string]any{"n": 1}})
	// The second fills nothing: slow's buffer of one is full, so it is
	// dropped, and the third reaches no one.
	publish(t, hub, signals.Signal{Recipients: signals.Entity(john), Channel: "c", Message: map[string]any{"n": 2}})
	publish(t, hub, signals.Signal{Recipients: signals.Entity(john), Channel: "c", Message: map[string]any{"n": 3}})

	got := sums(t, reader)
	broadcast := distinct(attribute.Bool("herald.signal.broadcast", true))
	users := distinct(attribute.Bool("herald.signal.broadcast", false))
	if p := got["herald.signals.published"]; p[broadcast] != 1 || p[users] != 2 {
		t.Errorf("herald.signals.published = %v, want 1 broadcast and 2 to users", p)
	}
	if d := got["herald.signals.dropped"][distinct()]; d != 1 {
		t.Errorf("herald.signals.dropped = %d, want 1", d)
	}
}

func distinct(kvs ...attribute.KeyValue) attribute.Distinct {
	set := attribute.NewSet(kvs...)
	return set.Equivalent()
}
