package storetest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// testCountsMatchCount checks Counts against Count, filter by filter, and
// against List, over a varied list in one call: the read and saved views
// (broadcasts counted by subtraction and by the join), topic, search,
// severity, time bounds and change times, ids, and filters that match
// nothing (a malformed id, the zero CreatedBefore) between the others, so
// a count in the wrong column shows. An empty list is an empty result.
func testCountsMatchCount(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.countFixture()

	past := e.now.Add(-30 * time.Second)
	filters := []notifications.Filter{
		{},
		{Read: new(false)},
		{Read: new(true)},
		{IDs: []string{"not-a-uuid"}},
		{Saved: new(true)},
		{Saved: new(false), Read: new(false)},
		{Topic: "gh-topic"},
		{Topic: "gh-topic", Read: new(false)},
		{CreatedBefore: new(time.Time{})},
		{Search: "Notification", Read: new(true)},
		{MinimumSeverity: notifications.SeverityHigh},
		{CreatedAfter: &past},
		{ChangedSince: &past, Read: new(false)},
		{IDs: []string{id1, id4, id6}, Read: new(false)},
		{IDs: []string{id2, id5}},
	}
	got, err := s.Counts(e.ctx, user, filters)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if len(got) != len(filters) {
		t.Fatalf("Counts returned %d counts for %d filters", len(got), len(filters))
	}
	distinct := map[int]bool{}
	for i, f := range filters {
		want := e.count(user, f)
		if listed := len(e.list(notifications.Query{Filter: f})); want != listed {
			t.Fatalf("filters[%d] (%s): Count %d, List has %d", i, describe(f), want, listed)
		}
		if got[i] != want {
			t.Errorf("Counts[%d] (%s) = %d, Count = %d", i, describe(f), got[i], want)
		}
		distinct[want] = true
	}
	// The fixture must tell the columns apart, or a shuffled answer
	// would pass.
	if len(distinct) < 4 {
		t.Fatalf("fixture too uniform: only %d distinct counts", len(distinct))
	}

	theirs, err := s.Counts(e.ctx, other, filters[:3])
	if err != nil {
		t.Fatalf("Counts(other): %v", err)
	}
	for i, f := range filters[:3] {
		if want := e.count(other, f); theirs[i] != want {
			t.Errorf("other user's Counts[%d] (%s) = %d, Count = %d", i, describe(f), theirs[i], want)
		}
	}

	none, err := s.Counts(e.ctx, user, []notifications.Filter{{IDs: []string{}}})
	if err != nil || len(none) != 1 || none[0] != 0 {
		t.Errorf("Counts(only a filter matching nothing) = %v, %v; want [0]", none, err)
	}
	empty, err := s.Counts(e.ctx, user, nil)
	if err != nil || len(empty) != 0 {
		t.Errorf("Counts(nil) = %v, %v; want empty", empty, err)
	}
}
