package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// countsFilters are five badges of a page for the status user (10,000
// notifications and 50 broadcasts): unread, saved, one topic, the
// broadcasts' topic unread, and the severe ones.
var countsFilters = []notifications.Filter{
	{Read: new(false)},
	{Saved: new(true)},
	{Topic: "topic-1"},
	{Topic: "ops", Read: new(false)},
	{MinimumSeverity: notifications.SeverityHigh},
}

// BenchmarkCounts measures Service.Counts with five filters against the
// five separate counts a client makes without it (List with limit 0, one
// Count each), in the same run on the same data. It reports
// x-separate: the separate counts' time over Counts' (above 1.0, Counts
// is cheaper), the median of the per-block ratios.
func BenchmarkCounts(b *testing.B) {
	forEachDB(b, func(b *testing.B, d inboxDB) {
		ctx := context.Background()
		separate := func() ([]int, error) {
			out := make([]int, len(countsFilters))
			for i, f := range countsFilters {
				res, err := d.svc.List(ctx, statusUser, notifications.ListOptions{Filter: f, Limit: new(0)})
				if err != nil {
					return nil, err
				}
				out[i] = res.TotalCount
			}
			return out, nil
		}
		want, err := separate()
		if err != nil {
			b.Fatal(err)
		}
		if want[0] != fullInbox.wantStatus().Unread {
			b.Fatalf("unread count %d, want %d", want[0], fullInbox.wantStatus().Unread)
		}
		b.ReportAllocs()
		bp := &pair{b: b}
		bp.run(func() error {
			got, err := d.svc.Counts(ctx, statusUser, countsFilters)
			if err == nil && !slices.Equal(got, want) {
				err = fmt.Errorf("counts %v, want %v", got, want)
			}
			return err
		}, func() error {
			got, err := separate()
			if err == nil && !slices.Equal(got, want) {
				err = fmt.Errorf("separate counts %v, want %v", got, want)
			}
			return err
		})
		slices.Sort(bp.ratios)
		m := bp.ratios[len(bp.ratios)/2]
		if len(bp.ratios)%2 == 0 {
			m = (m + bp.ratios[len(bp.ratios)/2-1]) / 2
		}
		b.ReportMetric(m, "x-separate")
	})
}
