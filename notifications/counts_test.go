package notifications_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// TestCounts checks that Counts answers each filter as List's TotalCount
// does, in order, on each store, broadcasts included.
func TestCounts(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		ctx := t.Context()
		svc := serviceOn(t, st)
		sender := svc.Sender(origin)
		var ids []string
		for _, p := range []notifications.Payload{
			{Title: "build failed", Topic: "ci", Severity: notifications.SeverityHigh},
			{Title: "build fixed", Topic: "ci"},
			{Title: "review asked", Topic: "review"},
		} {
			ns, err := sender.Send(ctx, notifications.Entity(mockUser), p)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ns[0].ID)
		}
		if _, err := sender.Send(ctx, notifications.Broadcast(), notifications.Payload{Title: "maintenance", Topic: "ci"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Update(ctx, mockUser, notifications.UpdateOptions{IDs: ids[:1], Read: new(true), Saved: new(true)}); err != nil {
			t.Fatal(err)
		}
		filters := []notifications.Filter{
			{},
			{Read: new(false)},
			{Saved: new(true)},
			{Topic: "ci"},
			{Topic: "ci", Read: new(false)},
			{Topic: "review"},
			{MinimumSeverity: notifications.SeverityHigh},
		}
		got, err := svc.Counts(ctx, mockUser, filters)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{4, 3, 1, 3, 2, 1, 1}
		if !slices.Equal(got, want) {
			t.Errorf("Counts = %v, want %v", got, want)
		}
		for i, f := range filters {
			res, err := svc.List(ctx, mockUser, notifications.ListOptions{Filter: f, Limit: new(0)})
			if err != nil {
				t.Fatal(err)
			}
			if res.TotalCount != got[i] {
				t.Errorf("filters[%d]: Counts %d, List's TotalCount %d", i, got[i], res.TotalCount)
			}
		}
		empty, err := svc.Counts(ctx, mockUser, nil)
		if err != nil || empty == nil || len(empty) != 0 {
			t.Errorf("Counts(nil) = %#v, %v; want an empty slice", empty, err)
		}
	})
}

// TestCountsRefuses checks that Counts refuses bad filters, naming each
// by its index, and too many filters, before reaching the store.
func TestCountsRefuses(t *testing.T) {
	t.Parallel()
	svc := serviceOn(t, memoryStore(t))
	cases := []struct {
		name   string
		user   string
		fs     []notifications.Filter
		fields []string
	}{
		{"not a user", "group:default/team", []notifications.Filter{{}}, []string{"user"}},
		{"long search", mockUser, []notifications.Filter{{}, {Search: strings.Repeat("a", notifications.MaxSearchLength+1)}}, []string{"filters[1].search"}},
		{"unknown severity", mockUser, []notifications.Filter{{MinimumSeverity: "urgent"}}, []string{"filters[0].minimumSeverity"}},
		{"NUL in a topic and an id", mockUser, []notifications.Filter{{}, {}, {Topic: "a\x00b", IDs: []string{"\xff"}}}, []string{"filters[2].topic", "filters[2].ids[0]"}},
		{"too many", mockUser, make([]notifications.Filter, notifications.MaxCountFilters+1), []string{"filters"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := svc.Counts(t.Context(), tc.user, tc.fs)
			var verr *notifications.ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, notifications.ErrInvalid) {
				t.Fatalf("Counts = %v, %v; want a *ValidationError", got, err)
			}
			var fields []string
			for _, fe := range verr.Fields {
				fields = append(fields, fe.Field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("fields %v, want %v", fields, tc.fields)
			}
		})
	}
	if got, err := svc.Counts(t.Context(), mockUser, make([]notifications.Filter, notifications.MaxCountFilters)); err != nil || len(got) != notifications.MaxCountFilters {
		t.Errorf("Counts(MaxCountFilters filters) = %v, %v", got, err)
	}
}
