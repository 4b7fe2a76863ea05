//go:build unix

package store_test

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/store"
)

// BenchmarkGroupCommit has 8 goroutines store one-user sends
// (SaveUnlessSettings), then plain broadcasts, as fast as they can, with
// group commit and without it (every call its own statement and commit,
// as before), taking turns of 400 rows, the order swapped every turn. It
// reports the process's CPU time per row (user and system, getrusage:
// on PostgreSQL only Herald's side, the client), and rows/s, for each;
// x-alone is the CPU per row alone over the CPU per row batched (above 1:
// group commit is cheaper).
func BenchmarkGroupCommit(b *testing.B) {
	const goroutines, perTurn = 8, 400
	for _, d := range benchDBs(b) {
		for _, k := range groupKinds {
			b.Run(d.name+"/"+k.name, func(b *testing.B) {
				ctx := b.Context()
				var cpu, wall [2]time.Duration // alone, batched
				turn := func(batched int) {
					store.SetGroupCommit(d.store, batched == 1)
					c0, t0 := cpuTime(b), time.Now()
					var wg sync.WaitGroup
					for g := range goroutines {
						wg.Go(func() {
							for i := range perTurn / goroutines {
								if _, _, err := k.save(ctx, d.store, "", fmt.Sprintf("user:default/gcb%d", g), fmt.Sprintf("row %d", i)); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					cpu[batched] += cpuTime(b) - c0
					wall[batched] += time.Since(t0)
				}
				n := 0
				for b.Loop() {
					turn(n % 2)
					turn(1 - n%2)
					n++
				}
				rows := float64(n * perTurn)
				b.ReportMetric(float64(cpu[0].Microseconds())/rows, "alone-cpu-µs/row")
				b.ReportMetric(float64(cpu[1].Microseconds())/rows, "batched-cpu-µs/row")
				b.ReportMetric(rows/wall[0].Seconds(), "alone-rows/s")
				b.ReportMetric(rows/wall[1].Seconds(), "batched-rows/s")
				b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "x-alone")
				store.SetGroupCommit(d.store, true)
			})
		}
	}
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
