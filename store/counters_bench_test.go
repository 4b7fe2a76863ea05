package store_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// BenchmarkConcurrentWrites measures what the inbox counters cost writers
// that contend for them: 8 goroutines at once sending broadcasts (each
// one bumps the one broadcast count, a hot row on PostgreSQL until its
// commit), or sending to one user (that user's counter row), or to
// 1,000 users in turn (rarely one counter at once). It reports sends/s, all goroutines
// together; compare a run before the counters with one after.
func BenchmarkConcurrentWrites(b *testing.B) {
	for _, d := range benchDBs(b) {
		for _, kind := range []string{"broadcast", "one-user", "distinct-users"} {
			b.Run(d.name+"/"+kind, func(b *testing.B) {
				ctx := b.Context()
				var next atomic.Int64
				b.SetParallelism(4) // 8 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						n := notifications.Notification{Origin: "plugin:ci", Payload: notifications.Payload{Title: "t"}}
						var err error
						switch kind {
						case "broadcast":
							_, err = d.store.SaveBroadcast(ctx, n, nil)
						case "one-user":
							n.User = "user:default/hot"
							_, err = d.store.SaveNotifications(ctx, []notifications.Notification{n}, nil)
						default:
							n.User = "user:default/d" + strconv.FormatInt(next.Add(1)%1000, 10)
							_, err = d.store.SaveNotifications(ctx, []notifications.Notification{n}, nil)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
			})
		}
	}
}
