package signals

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The Hub's instruments (see HubConfig.MeterProvider):
//
//	herald.signals.published  counter  {signal}  herald.signal.broadcast (true, false)
//	herald.signals.dropped    counter  {signal}  (none): a signal a subscriber lost because its
//	                                             buffer was full (the subscriber is dropped with it)

const meterName = "github.com/heraldhq/herald/signals"

// hubTelemetry is a Hub's instruments, with their attribute sets built
// once.
type hubTelemetry struct {
	published, dropped      metric.Int64Counter
	broadcast, toRecipients []metric.AddOption
}

func newHubTelemetry(mp metric.MeterProvider) hubTelemetry {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(meterName)
	t := hubTelemetry{
		broadcast:    []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.Bool("herald.signal.broadcast", true)))},
		toRecipients: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.Bool("herald.signal.broadcast", false)))},
	}
	var err error
	if t.published, err = m.Int64Counter("herald.signals.published", metric.WithUnit("{signal}"),
		metric.WithDescription("Signals accepted by Hub.Publish.")); err != nil {
		otel.Handle(err)
	}
	if t.dropped, err = m.Int64Counter("herald.signals.dropped", metric.WithUnit("{signal}"),
		metric.WithDescription("Signals a slow subscriber lost: its buffer was full, and it was dropped.")); err != nil {
		otel.Handle(err)
	}
	return t
}

func (t hubTelemetry) publish(s Signal) {
	if t.published == nil {
		return
	}
	opts := t.toRecipients
	if s.Recipients.IsBroadcast() {
		opts = t.broadcast
	}
	t.published.Add(context.Background(), 1, opts...)
}

func (t hubTelemetry) drop(n int) {
	if t.dropped != nil && n > 0 {
		t.dropped.Add(context.Background(), int64(n))
	}
}
