package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald/internal/telemetryoff"
	"github.com/heraldhq/herald/notifications"
)

// BenchmarkTelemetryOverhead measures what OpenTelemetry costs a send when
// no SDK is installed: a Service on no-op providers (and one on the
// global providers, as a host that configures nothing gets them) against
// the same Service with its telemetry taken out (internal/telemetryoff:
// the uninstrumented send path, reachable from Herald's own tests only),
// on the same store, taking turns like every benchmark here. ns/op,
// B/op and allocs/op are the instrumented side's; x-untraced is the
// uninstrumented side's time over the instrumented's, per block, median:
// 1.0 means no overhead, and the bar is 1/1.05 = 0.952 relative to the
// control row, where both sides run without telemetry.
//
// single is BenchmarkSingle's send; preprocessed-100 a send to 100 users
// through a catalog group with one pre-processor, so every per-recipient
// phase measurement runs.
func BenchmarkTelemetryOverhead(b *testing.B) {
	catalog, _ := fanoutCatalog(100)
	pre := &notifications.PreProcessorFunc{ProcessorName: "tag", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
		return n, nil
	}}
	cases := []struct {
		name  string
		procs []notifications.Processor
		to    notifications.Recipients
		want  int
	}{
		{"single", nil, notifications.Entity("user:default/jane"), 1},
		{"preprocessed-100", []notifications.Processor{pre}, notifications.Entity("group:default/everyone"), 100},
	}
	providers := []struct {
		name string
		cfg  func(*notifications.Config)
	}{
		{"noop", func(c *notifications.Config) {
			c.TracerProvider, c.MeterProvider = tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
		}},
		{"global", func(*notifications.Config) {}},
		// The control: both sides uninstrumented, the same code. What it
		// reads is the harness's own bias (the timed side is measured
		// first in each block), which the two rows above share.
		{"control", nil},
	}
	for _, c := range cases {
		for _, prov := range providers {
			b.Run(c.name+"/"+prov.name, func(b *testing.B) {
				ctx := context.Background()
				st := openStore(b, filepath.Join(b.TempDir(), "herald.db"))
				newSvc := func(edit func(*notifications.Config)) *notifications.Service {
					cfg := notifications.Config{Store: st, Catalog: catalog, Processors: c.procs}
					if edit != nil {
						edit(&cfg)
					}
					svc, err := notifications.New(cfg)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { svc.Close(context.Background()) })
					return svc
				}
				instrumented := newSvc(prov.cfg)
				if prov.cfg == nil {
					telemetryoff.Disable(instrumented)
				}
				off := newSvc(nil)
				telemetryoff.Disable(off)
				o := notifications.SendOptions{Origin: benchOrigin, Recipients: c.to, Payload: benchPayload()}
				send := func(svc *notifications.Service) func() error {
					return func() error {
						ns, err := svc.Send(ctx, o)
						if err == nil && len(ns) != c.want {
							err = fmt.Errorf("sent %d, want %d", len(ns), c.want)
						}
						return err
					}
				}
				b.ReportAllocs()
				bp := &pair{b: b}
				bp.run(send(instrumented), send(off))
				slices.Sort(bp.ratios)
				b.ReportMetric(bp.ratios[len(bp.ratios)/2], "x-untraced")
			})
		}
	}
}
