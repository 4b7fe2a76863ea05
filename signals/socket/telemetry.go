package socket

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The Handler's instrument (see Config.MeterProvider):
//
//	herald.connections  updowncounter  {connection}  herald.transport (websocket, sse)

const meterName = "github.com/heraldhq/herald/signals/socket"

// connTelemetry counts open connections, with attribute sets built once.
type connTelemetry struct {
	open    metric.Int64UpDownCounter
	ws, sse []metric.AddOption
}

func newConnTelemetry(mp metric.MeterProvider) connTelemetry {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t := connTelemetry{
		ws:  []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("herald.transport", "websocket")))},
		sse: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("herald.transport", "sse")))},
	}
	var err error
	t.open, err = mp.Meter(meterName).Int64UpDownCounter("herald.connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Open WebSocket connections and SSE streams."))
	if err != nil {
		otel.Handle(err)
	}
	return t
}

// add counts s opened (delta 1) or ended (-1).
func (t connTelemetry) add(s stream, delta int64) {
	if t.open == nil {
		return
	}
	opts := t.ws
	if _, ok := s.(*sseStream); ok {
		opts = t.sse
	}
	t.open.Add(context.Background(), delta, opts...)
}
