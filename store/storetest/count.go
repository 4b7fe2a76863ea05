package storetest

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// testCountMatchesList checks Count against List, unpaged, for every
// combination of the read and saved filters, with and without a condition
// on the notification itself, over user notifications and broadcasts in
// every state: read and saved by the user, read by another user only
// (which must not count as the user's), and untouched. A store may count
// broadcasts by subtraction for the common views; this is where a wrong
// subtraction shows.
func testCountMatchesList(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.countFixture()

	bools := []*bool{nil, new(true), new(false)}
	for _, read := range bools {
		for _, saved := range bools {
			for _, extra := range []notifications.Filter{{}, {Search: "Notification"}, {Topic: "gh-topic"}, {CreatedAfter: new(e.now.Add(-30 * 1e9))}} {
				f := extra
				f.Read, f.Saved = read, saved
				want := len(e.list(notifications.Query{Filter: f}))
				n, err := s.Count(e.ctx, user, f)
				if err != nil {
					t.Fatalf("Count(%s): %v", describe(f), err)
				}
				if n != want {
					t.Errorf("Count(%s) = %d, List has %d", describe(f), n, want)
				}
			}
		}
	}
}

// countFixture stores user notifications and broadcasts in every state:
// read and saved by the user, read or saved by another user only (which
// must not count as the user's), and untouched.
func (e *env) countFixture() {
	e.t.Helper()
	e.fixture(0, 1, 2, 3, -4, -5, -6, -7)
	e.setRead(user, &e.now, id1, id4, id5)
	e.setSaved(user, &e.now, id2, id5, id6)
	e.setRead(other, &e.now, id6, id7)
	e.setSaved(other, &e.now, id4)
}

func describe(f notifications.Filter) string {
	b := func(p *bool) string {
		if p == nil {
			return "any"
		}
		return strconv.FormatBool(*p)
	}
	return fmt.Sprintf("read %s, saved %s, search %q, topic %q, after %v", b(f.Read), b(f.Saved), f.Search, f.Topic, f.CreatedAfter != nil)
}
