package notifications_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// TestMarkAllReadFilters checks that MarkAllRead hands every Filter field
// to the store and marks exactly what the filter selects, on each store:
// each case has its own user, with three notifications of their own and
// the one broadcast everyone shares.
func TestMarkAllReadFilters(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { v := t0.Add(time.Duration(h) * time.Hour); return &v }
	year1 := time.Time{}
	cases := []struct {
		name   string
		filter notifications.Filter
		want   []string // of "critical", "low", "saved", "broadcast"
	}{
		{"no filter", notifications.Filter{}, []string{"critical", "low", "saved", "broadcast"}},
		{"search, case-insensitive", notifications.Filter{Search: "ALPHA"}, []string{"critical", "broadcast"}},
		{"search in the description", notifications.Filter{Search: "rollout"}, []string{"low"}},
		{"search matches literally", notifications.Filter{Search: "50%_"}, []string{"low"}},
		{"topic", notifications.Filter{Topic: "ci"}, []string{"critical", "saved"}},
		{"minimum severity", notifications.Filter{MinimumSeverity: notifications.SeverityHigh}, []string{"critical", "broadcast"}},
		{"created after", notifications.Filter{CreatedAfter: at(1)}, []string{"low", "saved", "broadcast"}},
		{"created before", notifications.Filter{CreatedBefore: at(1)}, []string{"critical", "low"}},
		{"created before year 1 marks nothing", notifications.Filter{CreatedBefore: &year1}, nil},
		{"created after year 1 is a bound like any other", notifications.Filter{CreatedAfter: &year1}, []string{"critical", "low", "saved", "broadcast"}},
		{"changed since", notifications.Filter{ChangedSince: at(2)}, []string{"saved", "broadcast"}},
		{"saved", notifications.Filter{Saved: new(true)}, []string{"saved"}},
		{"unsaved", notifications.Filter{Saved: new(false)}, []string{"critical", "low", "broadcast"}},
		{"already read selects nothing unread", notifications.Filter{Read: new(true)}, nil},
		{"ids", notifications.Filter{IDs: []string{"low", "broadcast"}}, []string{"low", "broadcast"}},
		{"no ids", notifications.Filter{IDs: []string{}}, nil},
		{"fields combine", notifications.Filter{Topic: "ci", MinimumSeverity: notifications.SeverityCritical, CreatedBefore: at(0)}, []string{"critical"}},
	}
	eachStore(t, func(t *testing.T, st notifications.Store) {
		ctx := t.Context()
		var clock atomic.Pointer[time.Time]
		clock.Store(at(0))
		svc, err := notifications.New(notifications.Config{Store: st, Now: func() time.Time { return *clock.Load() }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close(context.Background()) })
		sender := svc.Sender(origin)
		send := func(r notifications.Recipients, p notifications.Payload) string {
			t.Helper()
			ns, err := sender.Send(ctx, r, p)
			if err != nil || len(ns) != 1 {
				t.Fatalf("Send = %v, %v", ns, err)
			}
			return ns[0].ID
		}
		clock.Store(at(3))
		broadcast := send(notifications.Broadcast(), notifications.Payload{Title: "Alpha broadcast", Topic: "news", Severity: notifications.SeverityHigh})
		users := make([]string, len(cases))
		ids := make([]map[string]string, len(cases)) // per case: name → id
		for i := range cases {
			users[i] = fmt.Sprintf("user:default/case-%02d", i)
			to := notifications.Entity(users[i])
			clock.Store(at(0))
			critical := send(to, notifications.Payload{Title: "alpha build failed", Topic: "ci", Severity: notifications.SeverityCritical})
			clock.Store(at(1))
			low := send(to, notifications.Payload{Title: "Beta deploy", Description: "rollout at 50%_ done", Topic: "deploy", Severity: notifications.SeverityLow})
			clock.Store(at(2))
			saved := send(to, notifications.Payload{Title: "Gamma", Topic: "ci"})
			if _, err := svc.Update(ctx, users[i], notifications.UpdateOptions{IDs: []string{saved}, Saved: new(true)}); err != nil {
				t.Fatal(err)
			}
			ids[i] = map[string]string{"critical": critical, "low": low, "saved": saved, "broadcast": broadcast}
		}
		clock.Store(at(5))
		for i, tt := range cases {
			f := tt.filter
			if f.IDs != nil {
				f.IDs = []string{}
				for _, name := range tt.filter.IDs {
					f.IDs = append(f.IDs, ids[i][name])
				}
			}
			var want []string
			for _, name := range tt.want {
				want = append(want, ids[i][name])
			}
			got, err := svc.MarkAllRead(ctx, users[i], f)
			if err != nil {
				t.Errorf("%s: MarkAllRead: %v", tt.name, err)
				continue
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: MarkAllRead marked %v, want %v (%v)", tt.name, got, want, ids[i])
			}
			// What it returned is what it marked: the rest is still unread.
			res, err := svc.List(ctx, users[i], notifications.ListOptions{Filter: notifications.Filter{Read: new(false)}})
			if err != nil {
				t.Fatal(err)
			}
			if res.TotalCount != 4-len(want) {
				t.Errorf("%s: %d left unread, want %d", tt.name, res.TotalCount, 4-len(want))
			}
		}
	})
}
