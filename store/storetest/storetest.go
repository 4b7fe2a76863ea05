// Package storetest is the conformance suite for notifications.Store
// implementations. Herald's own store passes it on SQLite and PostgreSQL;
// run it against your own implementation with
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) notifications.Store {
//			return newMyStore(t) // empty, closed by t.Cleanup
//		})
//	}
//
// The suite covers Backstage's store behaviour (the acceptance cases of
// DatabaseNotificationsStore) and what Herald adds: literal search of any
// length up to notifications.MaxSearchLength, folding case alike on every
// store (Unicode simple case folding), keyset pagination, malformed and
// foreign ids, per-user broadcast state, atomic scope de-duplication
// under concurrency, all-or-nothing sends, batched retention, and one
// answer for hostile input: times outside the
// years 1 to 9999 (refused when written, clamped as bounds) and text with
// NUL bytes or invalid UTF-8 (refused with notifications.ErrInvalid).
//
// Deliveries are covered with explicit clocks, never the wall clock:
// written in the send's transaction or not at all; claimed only when due,
// oldest first, and never by two claimers while a lease holds (8
// claimers at once); fenced by the lease token (a stale token's Finish or
// Renew is ErrLeaseLost); a scoped re-send replacing the active delivery
// in place, with the running attempt's outcome dropped and the new
// content run after it; retries due at NextAttempt and not before;
// requeue; list filters and order; and retention, of finished deliveries
// and with DeleteOlderThan.
//
// Idempotency keys: one send per (origin, key) even with 8 saves at once,
// a second save refused with notifications.ErrIdempotencyKeyUsed and
// writing nothing, the result kept (scoped rows with the ids the store
// kept), expired holders giving the key up, expired keys cleared.
// Scheduled sends: claimed when due and by one claimer while the lease
// holds, the run's send fenced by its lease (a stale run or a cancelled
// schedule commits nothing), retries and failures, keys, listing and
// retention. Quiet hours are stored with the settings, all or nothing,
// and a held delivery is put back unclaimed, its attempt uncounted.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Run runs every conformance test as a parallel subtest of t. newStore must
// return an empty store of its own for each call (subtests run in
// parallel) and release it with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) notifications.Store) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s notifications.Store)
}

// tests lists every subtest, grouped by the file that holds them.
var tests = []test{
	// list.go
	{"GetReturnsEveryField", testGetEveryField},
	{"ListUnionsBroadcasts", testListUnion},
	{"EmptyStore", testEmptyStore},
	{"ReadFilter", testReadFilter},
	{"Search", testSearch},
	{"LiteralSearch", testLiteralSearch},
	{"LongSearch", testLongSearch},
	{"CreatedAfter", testCreatedAfter},
	{"ChangedSince", testChangedSince},
	{"Topic", testTopicFilter},
	{"MinimumSeverity", testMinimumSeverity},
	{"LimitOffset", testLimitOffset},
	{"HugeLimitAndOffset", testHugeLimitAndOffset},
	{"Order", testOrder},
	{"OrderNullsAndTieBreak", testOrderNullsAndTieBreak},
	{"UnknownOrderField", testUnknownOrderField},
	{"CountIgnoresPaging", testCountIgnoresPaging},
	{"ListPage", testListPage},
	{"Status", testStatus},
	{"Topics", testTopics},
	{"OriginTopics", testOriginTopics},
	{"MalformedIDs", testMalformedIDs},
	{"TimeBoundsOutOfRange", testTimeBoundsOutOfRange},
	// search.go
	{"SearchCase", testSearchCase},
	{"SearchEverywhere", testSearchEverywhere},
	{"SearchRewritten", testSearchRewritten},
	{"SearchLengthFolded", testSearchLengthFolded},
	{"SearchHostile", testSearchHostile},
	// cursor.go
	{"CursorPagination", testCursorPagination},
	{"CursorPaginationConcurrentInserts", testCursorConcurrentInserts},
	{"CursorOutOfRange", testCursorOutOfRange},
	// write.go
	{"ScopeMatches", testScopeMatches},
	{"ScopeRestores", testScopeRestores},
	{"SaveReturnsInputOrder", testSaveReturnsInputOrder},
	{"FailedSendWritesNothing", testFailedSendWritesNothing},
	{"FanOutSharedMetadata", testFanOutSharedMetadata},
	{"TimesRoundTrip", testTimesRoundTrip},
	{"MetadataRoundTrip", testMetadataRoundTrip},
	{"TimesOutOfRange", testTimesOutOfRange},
	{"BadTextRefused", testBadTextRefused},
	{"ConcurrentScopedSends", testConcurrentScopedSends},
	{"ConcurrentScopedSendsAnyOrder", testConcurrentScopedSendsAnyOrder},
	{"ConcurrentScopedBroadcasts", testConcurrentScopedBroadcasts},
	// state.go
	{"BroadcastReadIsPerUser", testBroadcastReadPerUser},
	{"GetBroadcastPerUser", testGetBroadcastPerUser},
	{"SetReadSetSaved", testSetReadSetSaved},
	{"BroadcastClearIsPerUser", testBroadcastClearIsPerUser},
	{"OtherUsersIDs", testOtherUsersIDs},
	{"MarkAllReadBroadcastsAndFilters", testMarkAllRead},
	// states.go
	{"SeenStates", testSeenStates},
	{"ArchivedStates", testArchivedStates},
	{"SnoozedStates", testSnoozedStates},
	{"ArchivedAndSnoozed", testArchivedAndSnoozed},
	{"SnoozedResent", testSnoozedResent},
	{"ChangedSinceEveryState", testChangedSinceEveryState},
	{"ConcurrentWakers", testConcurrentWakers},
	// settings.go
	{"SettingsRoundTrip", testSettingsRoundTrip},
	{"SettingsOrderAndReplace", testSettingsOrderAndReplace},
	{"SettingRowsManyUsers", testSettingRowsManyUsers},
	{"ConcurrentReplaceSettings", testConcurrentReplaceSettings},
	// retention.go
	{"DeleteOlderThan", testDeleteOlderThan},
	{"DeleteInBatches", testDeleteInBatches},
	{"DeleteCutoffOutOfRange", testDeleteCutoffOutOfRange},
	{"ConcurrentMarkAllReadAndRetention", testConcurrentMarkAllReadAndRetention},
	// delivery.go
	{"DeliveriesWrittenWithSend", testDeliveriesWrittenWithSend},
	{"FailedSendWritesNoDeliveries", testFailedSendWritesNoDeliveries},
	{"ClaimLeaseExpiry", testClaimLeaseExpiry},
	{"ClaimOldestFirst", testClaimOldestFirst},
	{"ConcurrentClaimers", testConcurrentClaimers},
	{"GenerationRule", testGenerationRule},
	{"RetryScheduling", testRetryScheduling},
	{"Requeue", testRequeue},
	{"ListDeliveries", testListDeliveries},
	{"DeleteFinishedDeliveries", testDeleteFinishedDeliveries},
	{"DeleteOlderThanDeletesDeliveries", testDeleteOlderThanDeletesDeliveries},
	// digest.go
	{"DigestHeldUntilWindow", testDigestHeldUntilWindow},
	{"DigestMaxItems", testDigestMaxItems},
	{"DigestRetryFrozen", testDigestRetryFrozen},
	{"DigestDeletedMembers", testDigestDeletedMembers},
	{"DigestRefusals", testDigestRefusals},
	{"ConcurrentDigestJoins", testConcurrentDigestJoins},
	// count.go
	{"CountMatchesList", testCountMatchesList},
	{"CountsUnderConcurrency", testCountsUnderConcurrency},
	// counts.go
	{"CountsMatchCount", testCountsMatchCount},
	// counters.go
	{"CountersFollowEveryWrite", testCountersFollowEveryWrite},
	// idempotency.go
	{"KeyedSendResult", testKeyedSendResult},
	{"KeyedScopedResult", testKeyedScopedResult},
	{"KeyedSendUsed", testKeyedSendUsed},
	{"ConcurrentKeyedSends", testConcurrentKeyedSends},
	{"DeleteExpiredKeys", testDeleteExpiredKeys},
	// schedule.go
	{"ScheduleRoundTrip", testScheduleRoundTrip},
	{"ListSchedules", testListSchedules},
	{"ScheduleLease", testScheduleLease},
	{"ScheduleCancel", testScheduleCancel},
	{"FinishSchedule", testFinishSchedule},
	{"ScheduleKey", testScheduleKey},
	{"ConcurrentScheduleClaimers", testConcurrentScheduleClaimers},
	{"DeleteFinishedSchedules", testDeleteFinishedSchedules},
	// quiet_hours.go
	{"QuietHoursRoundTrip", testQuietHoursRoundTrip},
	{"HoldDelivery", testHoldDelivery},
}

// The fixtures' users: the one most tests read as, and another.
const (
	user  = "user:default/john.doe"
	other = "user:default/jane.doe"
)

// id returns the fixture id number i: ids sort in numeric order.
func id(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

var (
	id0, id1, id2, id3 = id(0), id(1), id(2), id(3)
	id4, id5, id6, id7 = id(4), id(5), id(6), id(7)
)

// fixtures returns the shared notifications N1..N7 of user (index 1..7)
// and O of other (index 0), created relative to now.
func fixtures(now time.Time) [8]notifications.Notification {
	n := func(i int, created time.Time, origin, title, topic string) notifications.Notification {
		return notifications.Notification{
			ID: id(i), User: user, Origin: origin, Created: created,
			Payload: notifications.Payload{Title: title, Topic: topic, Severity: notifications.SeverityNormal},
		}
	}
	var f [8]notifications.Notification
	f[0] = n(0, now, "plugin-test", "Notification 0", "")
	f[0].User = other
	f[1] = n(1, now.Add(-time.Hour), "abcd-origin", "Notification 1 - please find me", "efgh-topic")
	f[1].Payload.Description = "a description"
	f[1].Payload.Link = "/catalog"
	f[1].Payload.Severity = notifications.SeverityCritical
	f[1].Payload.Icon = "docs"
	f[1].Payload.Metadata = map[string]any{"attribute1": "value1"}
	f[2] = n(2, now, "cd-origin", "Notification 2", "gh-topic")
	f[2].Payload.Scope = "scaffolder-1234"
	f[3] = n(3, now.Add(-25*time.Second), "bcd-origin", "Notification 3", "fgh-topic")
	for i := 4; i <= 7; i++ {
		f[i] = n(i, now.Add(-time.Duration(40-5*i)*time.Second), "plugin-test", fmt.Sprintf("Notification %d", i), "")
	}
	return f
}

// env is one test's store and clock.
type env struct {
	t   *testing.T
	s   notifications.Store
	ctx context.Context
	now time.Time
	f   [8]notifications.Notification
}

func setup(t *testing.T, s notifications.Store) *env {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &env{t: t, s: s, ctx: t.Context(), now: now, f: fixtures(now)}
}

// save stores user notifications.
func (e *env) save(ns ...notifications.Notification) []notifications.Notification {
	e.t.Helper()
	out, err := e.s.SaveNotifications(e.ctx, ns, nil)
	if err != nil {
		e.t.Fatalf("SaveNotifications: %v", err)
	}
	if len(out) != len(ns) {
		e.t.Fatalf("SaveNotifications returned %d notifications for %d", len(out), len(ns))
	}
	return out
}

// fixture stores fixtures by index; a negative index stores the fixture as
// a broadcast.
func (e *env) fixture(indexes ...int) {
	e.t.Helper()
	for _, i := range indexes {
		if i < 0 {
			e.broadcast(e.f[-i])
			continue
		}
		e.save(e.f[i])
	}
}

func (e *env) broadcast(n notifications.Notification) notifications.Notification {
	e.t.Helper()
	n.User = ""
	out, err := e.s.SaveBroadcast(e.ctx, n, nil)
	if err != nil {
		e.t.Fatalf("SaveBroadcast: %v", err)
	}
	return out
}

func (e *env) list(q notifications.Query) []notifications.Notification {
	e.t.Helper()
	if q.User == "" {
		q.User = user
	}
	ns, err := e.s.List(e.ctx, q)
	if err != nil {
		e.t.Fatalf("List(%+v): %v", q, err)
	}
	return ns
}

// listIDs lists and returns the ids.
func (e *env) listIDs(q notifications.Query) []string {
	e.t.Helper()
	return ids(e.list(q))
}

func (e *env) get(u, id string) notifications.Notification {
	e.t.Helper()
	n, err := e.s.Get(e.ctx, u, id)
	if err != nil {
		e.t.Fatalf("Get(%s, %s): %v", u, id, err)
	}
	return n
}

func (e *env) count(u string, f notifications.Filter) int {
	e.t.Helper()
	n, err := e.s.Count(e.ctx, u, f)
	if err != nil {
		e.t.Fatalf("Count: %v", err)
	}
	return n
}

func (e *env) setRead(u string, at *time.Time, ids ...string) {
	e.t.Helper()
	if err := e.s.SetRead(e.ctx, u, ids, at, e.now); err != nil {
		e.t.Fatalf("SetRead: %v", err)
	}
}

func (e *env) setSaved(u string, at *time.Time, ids ...string) {
	e.t.Helper()
	if err := e.s.SetSaved(e.ctx, u, ids, at, e.now); err != nil {
		e.t.Fatalf("SetSaved: %v", err)
	}
}

func ids(ns []notifications.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func expectIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: ids %v, want %v", what, name(got), name(want))
	}
}

// expectSameIDs compares ignoring order.
func expectSameIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	expectIDs(t, what, got, want...)
}

// name shortens fixture ids to "idN" in messages.
func name(ids []string) []string {
	out := make([]string, len(ids))
	for i, s := range ids {
		out[i] = s
		for j := range 8 {
			if s == id(j) {
				out[i] = fmt.Sprintf("id%d", j)
			}
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func timePtr(t time.Time) *time.Time { return &t }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.Format(time.RFC3339Nano)
}
