package store

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/notifications"
)

// TestCommonViewKnowsEveryFilterField fails when notifications.Filter
// gains a field: commonView must then decide whether the counters can
// answer a filter that sets it (most likely not: add it to the
// conditions that return viewNone), or counts would ignore the field.
func TestCommonViewKnowsEveryFilterField(t *testing.T) {
	t.Parallel()
	known := []string{"IDs", "Search", "Read", "Saved", "Seen", "Archived", "CreatedAfter", "CreatedBefore",
		"ChangedSince", "MinimumSeverity", "Topic"}
	typ := reflect.TypeFor[notifications.Filter]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Name; !slices.Contains(known, name) {
			t.Errorf("notifications.Filter has field %s, which commonView does not consider", name)
		}
	}
}

// TestCommonView checks which filters the counters answer.
func TestCommonView(t *testing.T) {
	t.Parallel()
	yes, no := new(true), new(false)
	for _, c := range []struct {
		f    notifications.Filter
		want countView
	}{
		{notifications.Filter{}, viewAll},
		{notifications.Filter{Archived: no}, viewAll},
		{notifications.Filter{Read: no}, viewUnread},
		{notifications.Filter{Read: yes}, viewRead},
		{notifications.Filter{Saved: yes}, viewSaved},
		{notifications.Filter{Saved: no, Archived: no}, viewUnsaved},
		{notifications.Filter{Seen: no}, viewUnseen},
		{notifications.Filter{Seen: yes}, viewSeen},
		{notifications.Filter{MinimumSeverity: notifications.SeverityLow}, viewAll}, // every severity
		{notifications.Filter{Read: no, Saved: yes}, viewNone},
		{notifications.Filter{Seen: no, Read: no}, viewNone},
		{notifications.Filter{Archived: yes}, viewNone},
		{notifications.Filter{IDs: []string{"00000000-0000-4000-8000-000000000001"}}, viewNone},
		{notifications.Filter{Search: "x"}, viewNone},
		{notifications.Filter{Topic: "x"}, viewNone},
		{notifications.Filter{MinimumSeverity: notifications.SeverityHigh}, viewNone},
		{notifications.Filter{CreatedAfter: new(minTime.AddDate(1, 0, 0))}, viewNone},
		{notifications.Filter{CreatedBefore: new(maxTime.AddDate(-1, 0, 0))}, viewNone},
		{notifications.Filter{ChangedSince: new(minTime)}, viewNone}, // hidden ones too
	} {
		if got := commonView(newFilter(c.f)); got != c.want {
			t.Errorf("commonView(%+v) = %d, want %d", c.f, got, c.want)
		}
	}
}

// TestPostgresRollbacksAreRetried checks that a deadlock and a
// serialization failure, which the server answers by rolling the
// transaction back, are run again, and that a constraint violation is
// not.
func TestPostgresRollbacksAreRetried(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]failure{"40P01": notRun, "40001": notRun, "23505": permanent, "42P01": permanent} {
		err := fmt.Errorf("store: save: %w", &pgconn.PgError{Code: code})
		if got := (postgresDialect{}).failure(err); got != want {
			t.Errorf("failure(SQLSTATE %s) = %d, want %d", code, got, want)
		}
	}
}
