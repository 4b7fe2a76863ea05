package socket_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/socket"
)

// openConnections reads herald.connections for transport; -1 when the
// instrument has no such point.
func openConnections(t *testing.T, r *sdkmetric.ManualReader, transport string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	want := attribute.NewSet(attribute.String("herald.transport", transport))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "herald.connections" {
				for _, p := range d.DataPoints {
					if p.Attributes.Equals(&want) {
						return p.Value
					}
				}
			}
		}
	}
	return -1
}

func TestConnectionsMetric(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	e := setup(t, socket.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))}, signals.HubConfig{})
	a := e.subscribed(t, "john-token", "sentinel")
	b := e.subscribed(t, "jane-token", "sentinel")
	e.sentinel(t, a, b) // both serve
	s := e.openSSE(t, e.srv.Client(), 8, "john-token", "sentinel")
	e.publish(t, signals.Signal{Recipients: signals.Broadcast(), Channel: "sentinel", Message: map[string]bool{"end": true}})
	s.next(t, true) // the stream serves
	if n := openConnections(t, reader, "websocket"); n != 2 {
		t.Errorf("herald.connections{websocket} = %d with two open, want 2", n)
	}
	if n := openConnections(t, reader, "sse"); n != 1 {
		t.Errorf("herald.connections{sse} = %d with one open, want 1", n)
	}
	_ = a.ws.CloseNow()
	e.waitEnded(t)
	if n := openConnections(t, reader, "websocket"); n != 1 {
		t.Errorf("herald.connections{websocket} = %d after one closed, want 1", n)
	}
}
