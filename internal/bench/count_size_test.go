package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// countViews are the inbox's common views, as a page's totalCount counts
// them.
var countViews = []struct {
	name string
	f    notifications.Filter
}{
	{"all", notifications.Filter{}},
	{"unread", notifications.Filter{Read: new(false)}},
	{"saved", notifications.Filter{Saved: new(true)}},
}

// BenchmarkCountSize measures the store's Count for one user's inbox of
// 10,000 and of 1,000,000 rows, with broadcasts (half of the rows, the
// user having read every other one) and without, for each common view,
// on SQLite and, with HERALD_TEST_POSTGRES_DSN set, on PostgreSQL. It
// reports µs/count (wall time: one count at a time, the database's work
// included) and checks each count against the seeded inbox; "status" is
// one Status call.
func BenchmarkCountSize(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{10_000, 1_000_000} {
		for _, withBroadcasts := range []bool{true, false} {
			in := inbox{Users: 2, Rows: size, Heavy: size}
			shape := "notifications"
			if withBroadcasts {
				in.Rows, in.Heavy, in.Broadcasts, shape = size/2, size/2, size/2, "broadcasts"
			}
			for _, db := range []string{"sqlite", "postgres"} {
				b.Run(fmt.Sprintf("%s/rows=%d/%s", db, size, shape), func(b *testing.B) {
					var s *store.Store
					var err error
					if db == "sqlite" {
						path := filepath.Join(b.TempDir(), "count.db")
						if err = seedSQLite(ctx, path, in); err != nil {
							b.Fatal(err)
						}
						s = openStore(b, path)
					} else {
						dsn := testdb.PostgresSchema(b)
						if _, err = seedPostgres(ctx, dsn, in); err != nil {
							b.Fatal(err)
						}
						if s, err = store.OpenPostgres(ctx, dsn); err != nil {
							b.Fatal(err)
						}
						b.Cleanup(func() { s.Close() })
					}
					want := in.wantCounts()
					for _, v := range countViews {
						b.Run(v.name, func(b *testing.B) {
							for b.Loop() {
								n, err := s.Count(ctx, statusUser, v.f)
								if err != nil {
									b.Fatal(err)
								}
								if n != want[v.name] {
									b.Fatalf("count %d, want %d", n, want[v.name])
								}
							}
							b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/count")
						})
					}
					// Status, what /status answers: three counts at once.
					b.Run("status", func(b *testing.B) {
						wantStatus := in.wantStatus() // a pass over every row: not in the loop
						for b.Loop() {
							st, err := s.Status(ctx, statusUser)
							if err != nil {
								b.Fatal(err)
							}
							if st != wantStatus {
								b.Fatalf("status %+v, want %+v", st, wantStatus)
							}
						}
						b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/count")
					})
				})
			}
		}
	}
}

// wantCounts are the status user's counts of countViews: the visible
// rows of the user's own (see state: odd rows read, every seventh saved,
// a few archived or snoozed) and of the broadcasts (statusState; none
// saved).
func (in inbox) wantCounts() map[string]int {
	st := in.wantStatus()
	saved := 0
	for i := range in.Rows {
		if r := state(i); in.userOf(i) == 0 && r.saved && !r.hidden() {
			saved++
		}
	}
	return map[string]int{"all": st.Unread + st.Read, "unread": st.Unread, "saved": saved}
}
