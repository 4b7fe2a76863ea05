package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// BenchmarkIdempotentSend is BenchmarkSingle's send with an idempotency
// key (a new one each time: a first send, not a replay), against the same
// send without a key on the same Service and file, taking turns. x-floor
// is the plain send's time over the keyed one's; x-plain is its inverse,
// the keyed send's cost in plain sends (the target is at most 1.3: one
// indexed lookup and one row more). Without a post-processor the plain
// send is one INSERT committing on its own; with one ("deliveries") both
// write a send record and a delivery in a transaction, and the key adds
// the lookup and the result.
func BenchmarkIdempotentSend(b *testing.B) {
	for _, withPost := range []bool{false, true} {
		name := "plain"
		if withPost {
			name = "deliveries"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st := openStore(b, filepath.Join(b.TempDir(), "herald.db"))
			cfg := notifications.Config{Store: st, DeliveryWorkers: -1}
			if withPost {
				cfg.Processors = []notifications.Processor{noopProcessor()}
			}
			svc, err := notifications.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { svc.Close(context.Background()) })
			const user = "user:default/jane"
			o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Entity(user), Payload: benchPayload()}
			keyed := o
			send := func(o notifications.SendOptions) error {
				ns, err := svc.Send(ctx, o)
				if err == nil && len(ns) != 1 {
					err = fmt.Errorf("sent %d, want 1", len(ns))
				}
				return err
			}
			n := 0
			b.ReportAllocs()
			bp := &pair{b: b}
			bp.run(func() error {
				n++
				keyed.IdempotencyKey = "job-" + strconv.Itoa(n)
				return send(keyed)
			}, func() error { return send(o) })
			bp.report()
			slicesMedianInverse(bp)
		})
	}
}

// slicesMedianInverse reports x-plain: the median per-block ratio of
// Herald's time over the floor's, the inverse of x-floor.
func slicesMedianInverse(p *pair) {
	m := p.ratios[len(p.ratios)/2] // report has sorted them
	if len(p.ratios)%2 == 0 {
		m = (m + p.ratios[len(p.ratios)/2-1]) / 2
	}
	p.b.ReportMetric(1/m, "x-plain")
}

// BenchmarkSendWithWaitingSchedules is BenchmarkSingle with 10,000
// scheduled sends waiting in the store (due in a day) and the Service's
// scheduler polling every millisecond, against the same floor: a send
// never reads herald_schedule, and the scheduler's poll is one read of
// the end of its due index, so x-floor matches BenchmarkSingle's
// ("none" here, in the same run).
func BenchmarkSendWithWaitingSchedules(b *testing.B) {
	for _, waiting := range []int{0, 10_000} {
		b.Run(fmt.Sprintf("waiting=%d", waiting), func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "herald.db")
			st := openStore(b, path)
			svc, err := notifications.New(notifications.Config{Store: st, DeliveryPollInterval: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { svc.Close(context.Background()) })
			at := time.Now().Add(24 * time.Hour)
			for i := range waiting {
				o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Entity(userRef(i)), Payload: benchPayload()}
				if _, err := svc.Schedule(ctx, o, at.Add(time.Duration(i)*time.Millisecond)); err != nil {
					b.Fatal(err)
				}
			}
			singleAgainstFloor(b, svc, path)
		})
	}
}
