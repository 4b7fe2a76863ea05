package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Deliveries: written with the send, claimed under leases, fenced by
// their tokens, retried, listed, retained. Every time is explicit: the
// store takes the claimer's clock, never its own.

const lease = 30 * time.Second

// traceParent is every fixture send's W3C trace parent.
const traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// sendID and deliveryID are fixture ids of sends and deliveries, apart
// from the notifications' own.
func sendID(i int) string     { return fmt.Sprintf("00000000-0000-4000-9000-%012d", i) }
func deliveryID(i int) string { return fmt.Sprintf("00000000-0000-4000-a000-%012d", i) }

// options is a send's canonical options, with what a round trip could
// lose: refs, exclusions, exact numbers in metadata.
func options(origin, title string) notifications.SendOptions {
	return notifications.SendOptions{
		Origin:     origin,
		Recipients: notifications.Entity("user:default/john.doe", "group:default/team").Excluding("user:default/jane.doe"),
		Payload: notifications.Payload{Title: title, Severity: notifications.SeverityHigh, Topic: "builds",
			Metadata: map[string]any{"n": json.Number("12345678901234567890.5"), "list": []any{"a", true}}},
	}
}

// deliveryWrite makes a send record (id sendID(send), created at) with one
// delivery per notification of count and processor, ids from
// deliveryID(first) on.
func deliveryWrite(send int, at time.Time, o notifications.SendOptions, count, first int, processors ...string) *notifications.DeliveryWrite {
	w := &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(send), Origin: o.Origin, Options: o,
		TraceParent: traceParent, Created: at}}
	for i := range count {
		for _, p := range processors {
			w.Deliveries = append(w.Deliveries, notifications.NewDelivery{ID: deliveryID(first + len(w.Deliveries)), Processor: p, Index: i})
		}
	}
	return w
}

// userNotes returns count notifications of distinct users, ids from
// id(first) on, created at.
func userNotes(count, first int, at time.Time, title string) []notifications.Notification {
	ns := make([]notifications.Notification, count)
	for i := range ns {
		ns[i] = notifications.Notification{ID: id(first + i), User: fmt.Sprintf("user:default/u%04d", i), Origin: "plugin:ci",
			Created: at, Payload: notifications.Payload{Title: title}}
	}
	return ns
}

func (e *env) saveWith(ns []notifications.Notification, w *notifications.DeliveryWrite) []notifications.Notification {
	e.t.Helper()
	out, err := e.s.SaveNotifications(e.ctx, ns, w)
	if err != nil {
		e.t.Fatalf("SaveNotifications with deliveries: %v", err)
	}
	return out
}

func (e *env) claim(now time.Time, limit int) []notifications.DeliveryClaim {
	e.t.Helper()
	cs, err := e.s.ClaimDeliveries(e.ctx, notifications.ClaimOptions{Now: now, Lease: lease, Limit: limit})
	if err != nil {
		e.t.Fatalf("ClaimDeliveries at %s: %v", now, err)
	}
	return cs
}

// claimOne claims at now and expects exactly the delivery id.
func (e *env) claimOne(now time.Time, id string) notifications.DeliveryClaim {
	e.t.Helper()
	cs := e.claim(now, 10)
	if len(cs) != 1 || cs[0].Delivery.ID != id {
		e.t.Fatalf("ClaimDeliveries at %s = %v, want %s alone", now, claimIDs(cs), id)
	}
	return cs[0]
}

func (e *env) claimNone(now time.Time, why string) {
	e.t.Helper()
	if cs := e.claim(now, 10); len(cs) != 0 {
		e.t.Errorf("ClaimDeliveries at %s (%s) = %v, want none", now, why, claimIDs(cs))
	}
}

func (e *env) finish(o notifications.DeliveryOutcome) notifications.Delivery {
	e.t.Helper()
	d, err := e.s.FinishDelivery(e.ctx, o)
	if err != nil {
		e.t.Fatalf("FinishDelivery(%s, %s): %v", o.ID, o.Status, err)
	}
	return d
}

func (e *env) delivery(id string) notifications.Delivery {
	e.t.Helper()
	d, err := e.s.GetDelivery(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetDelivery(%s): %v", id, err)
	}
	return d
}

func (e *env) deliveries(f notifications.DeliveryFilter) []notifications.Delivery {
	e.t.Helper()
	ds, err := e.s.ListDeliveries(e.ctx, f)
	if err != nil {
		e.t.Fatalf("ListDeliveries(%+v): %v", f, err)
	}
	return ds
}

func claimIDs(cs []notifications.DeliveryClaim) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Delivery.ID
	}
	return out
}

func deliveryIDs(ds []notifications.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// expectDelivery compares the fields a store keeps.
func expectDelivery(t *testing.T, what string, got, want notifications.Delivery) {
	t.Helper()
	if got.ID != want.ID || got.NotificationID != want.NotificationID || got.User != want.User || got.Origin != want.Origin ||
		got.Processor != want.Processor || got.Status != want.Status || got.Attempts != want.Attempts ||
		got.LastError != want.LastError || !sameTime(got.NextAttempt, want.NextAttempt) ||
		!got.Created.Equal(want.Created) || (!want.Updated.IsZero() && !got.Updated.Equal(want.Updated)) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtDelivery(got), fmtDelivery(want))
	}
}

func fmtDelivery(d notifications.Delivery) string {
	return fmt.Sprintf("{%s notification %s user %q origin %q processor %q %s attempts %d error %q next %s created %s updated %s}",
		d.ID, d.NotificationID, d.User, d.Origin, d.Processor, d.Status, d.Attempts, d.LastError, fmtTime(d.NextAttempt),
		d.Created.Format(time.RFC3339Nano), d.Updated.Format(time.RFC3339Nano))
}

// testDeliveriesWrittenWithSend checks what a send writes: one pending
// delivery per (notification, processor), due at the send's time, for
// user notifications, broadcasts and snapshots alike, and what a claim
// returns with it.
func testDeliveriesWrittenWithSend(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	o := options("plugin:ci", "Build failed")
	ns := userNotes(2, 100, t0, "Build failed")
	ns[0].Payload.Metadata = o.Payload.Metadata
	w := deliveryWrite(1, t0, o, 2, 1, "email")
	snap := notifications.Notification{ID: id(150), User: "user:default/quiet", Origin: "plugin:ci", Created: t0,
		Payload: notifications.Payload{Title: "Build failed", Severity: notifications.SeverityHigh, Metadata: o.Payload.Metadata}}
	w.Deliveries = append(w.Deliveries, notifications.NewDelivery{ID: deliveryID(3), Processor: "email", Snapshot: &snap})
	saved := e.saveWith(ns, w)

	for i, want := range []notifications.Delivery{
		{ID: deliveryID(1), NotificationID: saved[0].ID, User: ns[0].User},
		{ID: deliveryID(2), NotificationID: saved[1].ID, User: ns[1].User},
		{ID: deliveryID(3), NotificationID: snap.ID, User: snap.User},
	} {
		want.Origin, want.Processor, want.Status, want.NextAttempt, want.Created = "plugin:ci", "email", notifications.DeliveryPending, &t0, t0
		expectDelivery(t, fmt.Sprint("delivery ", i), e.delivery(want.ID), want)
	}
	if n := e.count(snap.User, notifications.Filter{}); n != 0 {
		t.Errorf("the snapshot's user has %d notifications stored, want none", n)
	}

	// A broadcast's delivery names the broadcast, for no user.
	b, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(200), Origin: "plugin:ops", Created: t0,
		Payload: notifications.Payload{Title: "Maintenance"}}, deliveryWrite(2, t0, options("plugin:ops", "Maintenance"), 1, 10, "slack"))
	if err != nil {
		t.Fatalf("SaveBroadcast with a delivery: %v", err)
	}
	expectDelivery(t, "broadcast delivery", e.delivery(deliveryID(10)), notifications.Delivery{ID: deliveryID(10), NotificationID: b.ID,
		Origin: "plugin:ops", Processor: "slack", Status: notifications.DeliveryPending, NextAttempt: &t0, Created: t0})

	// A send whose every recipient is off the in-app channel writes only
	// its send and snapshots.
	w = &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(3), Origin: "plugin:ci", Options: o, Created: t0},
		Deliveries: []notifications.NewDelivery{{ID: deliveryID(20), Processor: "email", Snapshot: &notifications.Notification{
			ID: id(160), User: "user:default/quiet", Origin: "plugin:ci", Created: t0, Payload: notifications.Payload{Title: "only"}}}}}
	if got := e.saveWith(nil, w); len(got) != 0 {
		t.Errorf("SaveNotifications(nil, w) returned %d notifications", len(got))
	}
	e.delivery(deliveryID(20))

	// The claim carries the send's options and trace parent, and the
	// notification as stored (the snapshot for the quiet user).
	cs := e.claim(t0, 100)
	slices.SortFunc(cs, func(a, b notifications.DeliveryClaim) int { return cmpStr(a.Delivery.ID, b.Delivery.ID) })
	if got := claimIDs(cs); !slices.Equal(got, []string{deliveryID(1), deliveryID(2), deliveryID(3), deliveryID(10), deliveryID(20)}) {
		t.Fatalf("claimed %v, want every delivery", got)
	}
	for _, c := range cs {
		if c.Token == "" || c.Delivery.Attempts != 1 || c.Delivery.Status != notifications.DeliveryPending ||
			!sameTime(c.Delivery.NextAttempt, timePtr(t0.Add(lease))) || c.Notification == nil {
			t.Errorf("claim %s: token %q attempts %d status %s next %s notification %v; want a token, attempt 1, pending, due at the lease's end, a notification",
				c.Delivery.ID, c.Token, c.Delivery.Attempts, c.Delivery.Status, fmtTime(c.Delivery.NextAttempt), c.Notification)
		}
		if c.Delivery.ID != deliveryID(10) {
			if !reflect.DeepEqual(c.Options, o) {
				t.Errorf("claim %s: options %#v, want %#v", c.Delivery.ID, c.Options, o)
			}
			want := traceParent
			if c.Delivery.ID == deliveryID(20) {
				want = "" // send 3 had none
			}
			if c.TraceParent != want {
				t.Errorf("claim %s: trace parent %q, want %q", c.Delivery.ID, c.TraceParent, want)
			}
		}
	}
	if n := cs[0].Notification; n.ID != saved[0].ID || n.User != ns[0].User || n.Payload.Title != "Build failed" ||
		!reflect.DeepEqual(n.Payload.Metadata, o.Payload.Metadata) || !n.Created.Equal(t0) {
		t.Errorf("claimed notification = %+v, want the stored one of %s", *n, ns[0].User)
	}
	if n := cs[2].Notification; n.ID != snap.ID || n.User != snap.User || n.Payload.Severity != notifications.SeverityHigh ||
		!reflect.DeepEqual(n.Payload.Metadata, o.Payload.Metadata) || !n.Created.Equal(t0) {
		t.Errorf("claimed snapshot = %+v, want %+v", *n, snap)
	}
	if n := cs[3].Notification; n.ID != b.ID || n.User != "" || n.Payload.Title != "Maintenance" || cs[3].Options.Origin != "plugin:ops" {
		t.Errorf("claimed broadcast = %+v (origin %q), want the broadcast", *n, cs[3].Options.Origin)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testFailedSendWritesNoDeliveries checks that a send that fails writes
// neither its notifications, nor its send, nor its deliveries.
func testFailedSendWritesNoDeliveries(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.fixture(1)
	o := options("plugin:ci", "t")
	for name, fail := range map[string]func() error{
		"stored notification id": func() error {
			ns := userNotes(2500, 1000, e.now, "t")
			ns[2400].ID = id1
			_, err := s.SaveNotifications(e.ctx, ns, deliveryWrite(1, e.now, o, 2500, 1000, "email"))
			return err
		},
		"delivery index out of range": func() error {
			w := deliveryWrite(2, e.now, o, 3, 10000, "email")
			w.Deliveries[2].Index = 3
			_, err := s.SaveNotifications(e.ctx, userNotes(3, 10000, e.now, "t"), w)
			return err
		},
		"duplicate delivery id": func() error {
			w := deliveryWrite(3, e.now, o, 2000, 20000, "email", "slack")
			w.Deliveries[3999].ID = w.Deliveries[0].ID
			_, err := s.SaveNotifications(e.ctx, userNotes(2000, 20000, e.now, "t"), w)
			return err
		},
		"broadcast with a bad delivery id": func() error {
			w := deliveryWrite(4, e.now, o, 1, 30000, "email")
			w.Deliveries[0].ID = "not-a-uuid"
			_, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(30000), Origin: "o", Created: e.now,
				Payload: notifications.Payload{Title: "t"}}, w)
			return err
		},
		"cancelled": func() error {
			ctx, cancel := context.WithCancel(e.ctx)
			cancel()
			_, err := s.SaveNotifications(ctx, userNotes(10, 40000, e.now, "t"), deliveryWrite(5, e.now, o, 10, 40000, "email"))
			return err
		},
	} {
		if err := fail(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if ds := e.deliveries(notifications.DeliveryFilter{Limit: notifications.MaxDeliveryLimit}); len(ds) != 0 {
		t.Errorf("failed sends left %d deliveries: %v", len(ds), deliveryIDs(ds))
	}
	e.claimNone(e.now.Add(time.Hour), "failed sends")
	if n := e.count(user, notifications.Filter{}); n != 1 {
		t.Errorf("user has %d notifications, want 1", n)
	}
	if n := e.count("user:default/u0000", notifications.Filter{}); n != 0 {
		t.Errorf("u0000 has %d notifications, want none (nor the broadcast)", n)
	}
}

// testClaimLeaseExpiry walks one delivery through claims with explicit
// times: not before it is due, not while leased, again once the lease
// runs out, and a renewed lease holds.
func testClaimLeaseExpiry(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	e.saveWith(userNotes(1, 1, t0, "t"), deliveryWrite(1, t0, options("o", "t"), 1, 1, "email"))
	d := deliveryID(1)

	e.claimNone(t0.Add(-time.Millisecond), "not due yet")
	first := e.claimOne(t0, d)
	e.claimNone(t0.Add(lease-time.Millisecond), "leased")
	second := e.claimOne(t0.Add(lease), d)
	if second.Token == first.Token || second.Delivery.Attempts != 2 {
		t.Errorf("claim after the lease ran out: token %q (first %q), attempts %d; want a new token, attempt 2", second.Token, first.Token, second.Delivery.Attempts)
	}

	// The first claim is fenced off.
	t1 := t0.Add(lease + time.Second)
	if err := s.RenewDeliveryLease(e.ctx, d, first.Token, t1.Add(time.Hour)); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("RenewDeliveryLease with the stale token = %v, want ErrLeaseLost", err)
	}
	if _, err := s.FinishDelivery(e.ctx, notifications.DeliveryOutcome{ID: d, Token: first.Token, Status: notifications.DeliverySent, Now: t1}); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("FinishDelivery with the stale token = %v, want ErrLeaseLost", err)
	}
	if got := e.delivery(d); got.Status != notifications.DeliveryPending || got.Attempts != 2 {
		t.Errorf("after the stale finish: %s", fmtDelivery(got))
	}

	// The live one renews, and the renewed lease holds until its end.
	end := t0.Add(3 * lease)
	if err := s.RenewDeliveryLease(e.ctx, d, second.Token, end); err != nil {
		t.Fatalf("RenewDeliveryLease: %v", err)
	}
	if got := e.delivery(d); !sameTime(got.NextAttempt, &end) {
		t.Errorf("renewed lease ends %s, want %s", fmtTime(got.NextAttempt), end)
	}
	e.claimNone(end.Add(-time.Millisecond), "renewed lease")
	third := e.claimOne(end, d)
	for _, bad := range []notifications.DeliveryOutcome{
		{ID: d, Token: second.Token, Status: notifications.DeliverySent, Now: end},
		{ID: d, Token: "not a token", Status: notifications.DeliverySent, Now: end},
		{ID: d, Token: "", Status: notifications.DeliverySent, Now: end},
		{ID: "not-a-uuid", Token: third.Token, Status: notifications.DeliverySent, Now: end},
		{ID: deliveryID(999), Token: third.Token, Status: notifications.DeliverySent, Now: end},
	} {
		if _, err := s.FinishDelivery(e.ctx, bad); !errors.Is(err, notifications.ErrLeaseLost) {
			t.Errorf("FinishDelivery(id %q token %q) = %v, want ErrLeaseLost", bad.ID, bad.Token, err)
		}
	}
	if err := s.RenewDeliveryLease(e.ctx, "not-a-uuid", third.Token, end); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("RenewDeliveryLease(malformed id) = %v, want ErrLeaseLost", err)
	}
	got := e.finish(notifications.DeliveryOutcome{ID: d, Token: third.Token, Status: notifications.DeliverySent, Now: end.Add(time.Second)})
	expectDelivery(t, "sent", got, notifications.Delivery{ID: d, NotificationID: id(1), User: "user:default/u0000", Origin: "o",
		Processor: "email", Status: notifications.DeliverySent, Attempts: 3, Created: t0, Updated: end.Add(time.Second)})
	if _, err := s.FinishDelivery(e.ctx, notifications.DeliveryOutcome{ID: d, Token: third.Token, Status: notifications.DeliverySent, Now: end}); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("FinishDelivery twice = %v, want ErrLeaseLost", err)
	}
	if err := s.RenewDeliveryLease(e.ctx, d, third.Token, end.Add(time.Hour)); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("RenewDeliveryLease after finishing = %v, want ErrLeaseLost", err)
	}
	e.claimNone(end.Add(24*time.Hour), "sent")
}

// testClaimOldestFirst checks that a claim takes the deliveries due
// longest first, up to its limit.
func testClaimOldestFirst(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	for i := range 4 {
		at := t0.Add(time.Duration(3-i) * time.Second) // delivery 4 is due first
		e.saveWith(userNotes(1, 10*i, at, "t"), deliveryWrite(i, at, options("o", "t"), 1, i+1, "email"))
	}
	if cs := e.claim(t0.Add(time.Minute), 0); len(cs) != 0 {
		t.Errorf("ClaimDeliveries with limit 0 = %v, want none", claimIDs(cs))
	}
	expectIDs(t, "first claim", sorted(claimIDs(e.claim(t0.Add(time.Minute), 2))), deliveryID(3), deliveryID(4))
	expectIDs(t, "second claim", sorted(claimIDs(e.claim(t0.Add(time.Minute), 1))), deliveryID(2))
	expectIDs(t, "third claim", sorted(claimIDs(e.claim(t0.Add(time.Minute), 5))), deliveryID(1))
}

// testConcurrentClaimers has 8 claimers take 200 deliveries in small
// claims at once: each delivery is claimed exactly once.
func testConcurrentClaimers(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const total, claimers = 200, 8
	e.saveWith(userNotes(total, 1000, e.now, "t"), deliveryWrite(1, e.now, options("o", "t"), total, 1000, "email"))
	claimEachOnce(t, "delivery", total, claimers, 7, func(limit int) ([]notifications.DeliveryClaim, error) {
		return s.ClaimDeliveries(e.ctx, notifications.ClaimOptions{Now: e.now.Add(time.Second), Lease: time.Hour, Limit: limit})
	}, func(c notifications.DeliveryClaim) string { return c.Delivery.ID })
}

// testGenerationRule re-sends a scoped notification while its delivery's
// attempt runs: the delivery is replaced in place, the old attempt's
// outcome is not recorded, and the new content runs after it, never
// alongside.
func testGenerationRule(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	n := notifications.Notification{ID: id(1), User: user, Origin: "plugin:ci", Created: t0,
		Payload: notifications.Payload{Title: "Build running", Scope: "build-7"}}
	e.saveWith([]notifications.Notification{n}, deliveryWrite(1, t0, options("plugin:ci", "Build running"), 1, 1, "slack"))
	d := deliveryID(1)
	running := e.claimOne(t0, d)

	// The re-send, while the lease holds.
	t1 := t0.Add(5 * time.Second)
	again := n
	again.ID, again.Created, again.Payload.Title = id(2), t1, "Build passed"
	w := deliveryWrite(2, t1, options("plugin:ci", "Build passed"), 1, 2, "slack")
	if got := e.saveWith([]notifications.Notification{again}, w); got[0].ID != id(1) {
		t.Fatalf("scoped re-send stored as %s, want %s", got[0].ID, id(1))
	}
	ds := e.deliveries(notifications.DeliveryFilter{NotificationID: id(1)})
	if len(ds) != 1 || ds[0].ID != d {
		t.Fatalf("deliveries of the scoped notification = %v, want %s alone, replaced in place", deliveryIDs(ds), d)
	}
	if !sameTime(ds[0].NextAttempt, timePtr(t0.Add(lease))) {
		t.Errorf("re-send moved the leased delivery's next attempt to %s, want the lease's end %s", fmtTime(ds[0].NextAttempt), t0.Add(lease))
	}
	e.claimNone(t1, "the old attempt still holds the lease")

	// The old attempt ends: its outcome is dropped, the delivery is due
	// again with the new content.
	t2 := t1.Add(time.Second)
	got := e.finish(notifications.DeliveryOutcome{ID: d, Token: running.Token, Status: notifications.DeliveryFailed, LastError: "old", Now: t2})
	if got.Status != notifications.DeliveryPending || got.Attempts != 0 || !sameTime(got.NextAttempt, &t2) {
		t.Errorf("finish of the replaced attempt: %s; want pending, 0 attempts, due at %s", fmtDelivery(got), t2)
	}
	next := e.claimOne(t2, d)
	if next.Notification == nil || next.Notification.Payload.Title != "Build passed" || next.Options.Payload.Title != "Build passed" ||
		next.Delivery.Attempts != 1 {
		t.Errorf("claim after the re-send: notification %v, options title %q, attempts %d; want the new content, attempt 1",
			next.Notification, next.Options.Payload.Title, next.Delivery.Attempts)
	}
	got = e.finish(notifications.DeliveryOutcome{ID: d, Token: next.Token, Status: notifications.DeliverySent, Now: t2})
	if got.Status != notifications.DeliverySent {
		t.Errorf("finish of the new attempt: %s, want sent", fmtDelivery(got))
	}

	// A re-send after it finished makes a new delivery; one of a delivery
	// waiting for a retry pulls it forward to now.
	t3 := t2.Add(time.Minute)
	again.ID, again.Created = id(3), t3
	e.saveWith([]notifications.Notification{again}, deliveryWrite(3, t3, options("plugin:ci", "Build failed"), 1, 3, "slack"))
	c := e.claimOne(t3, deliveryID(3))
	e.finish(notifications.DeliveryOutcome{ID: deliveryID(3), Token: c.Token, Status: notifications.DeliveryRetrying,
		LastError: "429", NextAttempt: timePtr(t3.Add(time.Hour)), Now: t3})
	t4 := t3.Add(time.Minute)
	again.ID, again.Created = id(4), t4
	e.saveWith([]notifications.Notification{again}, deliveryWrite(4, t4, options("plugin:ci", "Build fixed"), 1, 4, "slack"))
	if got := e.delivery(deliveryID(3)); got.Status != notifications.DeliveryPending || got.Attempts != 0 ||
		!sameTime(got.NextAttempt, &t4) || got.LastError != "429" {
		t.Errorf("re-send of a retrying delivery: %s; want pending, 0 attempts, due at %s, last error kept", fmtDelivery(got), t4)
	}
	if ds := e.deliveries(notifications.DeliveryFilter{NotificationID: id(1)}); len(ds) != 2 {
		t.Errorf("the scoped notification has %d deliveries, want 2 (the sent one, the replaced one)", len(ds))
	}
	if c := e.claimOne(t4, deliveryID(3)); c.Options.Payload.Title != "Build fixed" {
		t.Errorf("claim of the replaced retry has options titled %q, want the newest send's", c.Options.Payload.Title)
	}
}

// testRetryScheduling records failed attempts: a retrying delivery is due
// at its NextAttempt and not before, keeps its error, and a failed one is
// never due again.
func testRetryScheduling(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	e.saveWith(userNotes(1, 1, t0, "t"), deliveryWrite(1, t0, options("o", "t"), 1, 1, "webhook"))
	d := deliveryID(1)
	c := e.claimOne(t0, d)
	retry := t0.Add(10 * time.Minute)
	got := e.finish(notifications.DeliveryOutcome{ID: d, Token: c.Token, Status: notifications.DeliveryRetrying,
		LastError: "503 Service Unavailable", NextAttempt: &retry, Now: t0.Add(time.Second)})
	expectDelivery(t, "retrying", got, notifications.Delivery{ID: d, NotificationID: id(1), User: "user:default/u0000", Origin: "o",
		Processor: "webhook", Status: notifications.DeliveryRetrying, Attempts: 1, LastError: "503 Service Unavailable",
		NextAttempt: &retry, Created: t0, Updated: t0.Add(time.Second)})
	e.claimNone(retry.Add(-time.Millisecond), "retry not due")
	c = e.claimOne(retry, d)
	if c.Delivery.Attempts != 2 || c.Delivery.Status != notifications.DeliveryRetrying || c.Delivery.LastError != "503 Service Unavailable" {
		t.Errorf("retry claim: %s", fmtDelivery(c.Delivery))
	}
	got = e.finish(notifications.DeliveryOutcome{ID: d, Token: c.Token, Status: notifications.DeliveryFailed, LastError: "410 Gone", Now: retry})
	if got.Status != notifications.DeliveryFailed || got.NextAttempt != nil || got.LastError != "410 Gone" || got.Attempts != 2 {
		t.Errorf("failed: %s; want failed, no next attempt, the last error, 2 attempts", fmtDelivery(got))
	}
	e.claimNone(retry.Add(365*24*time.Hour), "failed")

	// A sent outcome keeps the last failed attempt's error.
	e.saveWith(userNotes(1, 2, t0, "t"), deliveryWrite(2, t0, options("o", "t"), 1, 2, "webhook"))
	c = e.claimOne(t0, deliveryID(2))
	e.finish(notifications.DeliveryOutcome{ID: deliveryID(2), Token: c.Token, Status: notifications.DeliveryRetrying, LastError: "timeout", NextAttempt: &t0, Now: t0})
	c = e.claimOne(t0, deliveryID(2))
	got = e.finish(notifications.DeliveryOutcome{ID: deliveryID(2), Token: c.Token, Status: notifications.DeliverySent, Now: t0})
	if got.Status != notifications.DeliverySent || got.LastError != "timeout" || got.Attempts != 2 || got.NextAttempt != nil {
		t.Errorf("sent after a retry: %s; want sent, the last error kept, 2 attempts", fmtDelivery(got))
	}
}

// testRequeue puts failed and cancelled deliveries back; anything else is
// not found.
func testRequeue(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	e.saveWith(userNotes(3, 1, t0, "t"), deliveryWrite(1, t0, options("o", "t"), 3, 1, "email"))
	outcome := map[string]notifications.DeliveryStatus{
		deliveryID(1): notifications.DeliveryFailed, deliveryID(2): notifications.DeliveryCancelled, deliveryID(3): notifications.DeliverySent,
	}
	for _, c := range e.claim(t0, 10) {
		e.finish(notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token, Status: outcome[c.Delivery.ID], LastError: "x", Now: t0})
	}
	t1 := t0.Add(time.Hour)
	for _, d := range []string{deliveryID(1), deliveryID(2)} {
		got, err := s.RequeueDelivery(e.ctx, d, t1)
		if err != nil {
			t.Fatalf("RequeueDelivery(%s): %v", d, err)
		}
		if got.ID != d || got.Status != notifications.DeliveryPending || got.Attempts != 0 || !sameTime(got.NextAttempt, &t1) || got.LastError != "x" {
			t.Errorf("requeued: %s; want pending, 0 attempts, due at %s, last error kept", fmtDelivery(got), t1)
		}
		expectDelivery(t, "stored after requeue", e.delivery(d), got)
	}
	for _, d := range []string{deliveryID(1), deliveryID(3), deliveryID(999), "not-a-uuid", ""} {
		if _, err := s.RequeueDelivery(e.ctx, d, t1); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("RequeueDelivery(%q) = %v, want ErrNotFound (pending, sent, unknown or malformed)", d, err)
		}
	}
	e.claimNone(t1.Add(-time.Millisecond), "requeued for later")
	if got := claimIDs(e.claim(t1, 10)); !slices.Equal(sorted(got), []string{deliveryID(1), deliveryID(2)}) {
		t.Errorf("claimed after the requeue: %v, want the two requeued", got)
	}
}

func sorted(ss []string) []string {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return ss
}

// testListDeliveries checks the filters, newest-first order with its
// tie-break, and Limit.
func testListDeliveries(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now.Add(-time.Hour)
	// Send 1 (origin a, t0): notifications 1, 2 to email and slack.
	e.saveWith(userNotes(2, 1, t0, "t"), deliveryWrite(1, t0, options("plugin:a", "t"), 2, 1, "email", "slack"))
	// Send 2 (origin b, t0+1m): notification 10 to email.
	t1 := t0.Add(time.Minute)
	e.saveWith(userNotes(1, 10, t1, "t"), deliveryWrite(2, t1, options("plugin:b", "t"), 1, 10, "email"))
	// Delivery 1 fails.
	for _, c := range e.claim(t0, 1) {
		e.finish(notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token, Status: notifications.DeliveryFailed, Now: t1})
	}
	failed := e.deliveries(notifications.DeliveryFilter{Status: notifications.DeliveryFailed})
	if len(failed) != 1 {
		t.Fatalf("%d failed deliveries, want 1", len(failed))
	}

	all := []string{deliveryID(10), deliveryID(4), deliveryID(3), deliveryID(2), deliveryID(1)}
	for _, tc := range []struct {
		name string
		f    notifications.DeliveryFilter
		want []string
	}{
		{"all, newest first, ties by id descending", notifications.DeliveryFilter{}, all},
		{"limit", notifications.DeliveryFilter{Limit: 2}, all[:2]},
		{"notification", notifications.DeliveryFilter{NotificationID: id(2)}, []string{deliveryID(4), deliveryID(3)}},
		{"processor", notifications.DeliveryFilter{Processor: "slack"}, []string{deliveryID(4), deliveryID(2)}},
		{"status", notifications.DeliveryFilter{Status: notifications.DeliveryFailed}, []string{failed[0].ID}},
		{"origin", notifications.DeliveryFilter{Origin: "plugin:b"}, []string{deliveryID(10)}},
		{"all filters", notifications.DeliveryFilter{NotificationID: id(1), Processor: "email", Origin: "plugin:a", Status: notifications.DeliveryPending},
			slices.DeleteFunc([]string{deliveryID(1)}, func(s string) bool { return s == failed[0].ID })},
		{"unknown origin", notifications.DeliveryFilter{Origin: "plugin:c"}, nil},
		{"malformed notification id", notifications.DeliveryFilter{NotificationID: "1; DROP TABLE delivery"}, nil},
	} {
		expectIDs(t, tc.name, deliveryIDs(e.deliveries(tc.f)), tc.want...)
	}
	if _, err := s.ListDeliveries(e.ctx, notifications.DeliveryFilter{Status: "lost"}); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("ListDeliveries(status lost) = %v, want ErrInvalid", err)
	}
	for _, d := range e.deliveries(notifications.DeliveryFilter{}) {
		want := "plugin:a"
		if d.ID == deliveryID(10) {
			want = "plugin:b"
		}
		if d.Origin != want {
			t.Errorf("delivery %s: origin %q, want %q", d.ID, d.Origin, want)
		}
	}
	if _, err := s.GetDelivery(e.ctx, "not-a-uuid"); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("GetDelivery(malformed) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetDelivery(e.ctx, deliveryID(999)); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("GetDelivery(unknown) = %v, want ErrNotFound", err)
	}
}

// testDeleteFinishedDeliveries checks the retention of finished
// deliveries: sent, failed and cancelled ones updated at or before the
// cutoff go; active ones stay however old, and still claim with their
// send's options.
func testDeleteFinishedDeliveries(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now.Add(-40 * 24 * time.Hour)
	e.saveWith(userNotes(6, 1, t0, "t"), deliveryWrite(1, t0, options("o", "old"), 6, 1, "email"))
	statuses := []notifications.DeliveryStatus{notifications.DeliverySent, notifications.DeliveryFailed, notifications.DeliveryCancelled, notifications.DeliveryRetrying}
	cs := e.claim(t0, 10)
	slices.SortFunc(cs, func(a, b notifications.DeliveryClaim) int { return cmpStr(a.Delivery.ID, b.Delivery.ID) })
	if len(cs) != 6 {
		t.Fatalf("claimed %d, want 6", len(cs))
	}
	// Deliveries 1 to 5 finish; 6 stays pending, its lease long run out.
	cutoff := e.now.Add(-30 * 24 * time.Hour)
	for i, c := range cs[:5] {
		at := cutoff // 1..4 finish at the cutoff itself
		if i == 4 {
			at = cutoff.Add(time.Millisecond) // 5 just after
		}
		st := statuses[min(i, 3)]
		if i == 4 {
			st = notifications.DeliverySent
		}
		o := notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token, Status: st, Now: at}
		if st == notifications.DeliveryRetrying {
			o.NextAttempt = timePtr(e.now.Add(time.Hour))
		}
		e.finish(o)
	}
	n, err := s.DeleteFinishedDeliveries(e.ctx, cutoff, 2)
	if err != nil || n != 3 {
		t.Errorf("DeleteFinishedDeliveries = %d, %v; want 3", n, err)
	}
	expectIDs(t, "kept", sorted(deliveryIDs(e.deliveries(notifications.DeliveryFilter{}))), deliveryID(4), deliveryID(5), deliveryID(6))
	if n, err := s.DeleteFinishedDeliveries(e.ctx, cutoff, 2); err != nil || n != 0 {
		t.Errorf("DeleteFinishedDeliveries again = %d, %v; want 0", n, err)
	}
	// The active ones keep their send.
	cs = e.claim(e.now.Add(2*time.Hour), 10)
	if len(cs) != 2 {
		t.Fatalf("claimed %d after retention, want the pending and the retrying one", len(cs))
	}
	for _, c := range cs {
		if c.Options.Payload.Title != "old" || c.Notification == nil {
			t.Errorf("claim %s after retention: options title %q, notification %v", c.Delivery.ID, c.Options.Payload.Title, c.Notification)
		}
	}
	// Out-of-range cutoffs are clamped.
	for _, tm := range farPast {
		if n, err := s.DeleteFinishedDeliveries(e.ctx, tm, 0); err != nil || n != 0 {
			t.Errorf("DeleteFinishedDeliveries(%s) = %d, %v; want 0", tm, n, err)
		}
	}
	if n, err := s.DeleteFinishedDeliveries(e.ctx, farFuture[0], 0); err != nil || n != 1 {
		t.Errorf("DeleteFinishedDeliveries(%s) = %d, %v; want 1 (the one sent after the cutoff)", farFuture[0], n, err)
	}
}

// testDeleteOlderThanDeletesDeliveries checks that retention of
// notifications and broadcasts takes their deliveries, whatever their
// status, and leaves the others.
func testDeleteOlderThanDeletesDeliveries(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	old, recent := e.now.Add(-48*time.Hour), e.now
	e.saveWith(userNotes(2, 1, old, "old"), deliveryWrite(1, old, options("o", "old"), 2, 1, "email", "slack"))
	e.saveWith(userNotes(1, 10, recent, "new"), deliveryWrite(2, recent, options("o", "new"), 1, 10, "email"))
	if _, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(20), Origin: "o", Created: old, Payload: notifications.Payload{Title: "b"}},
		deliveryWrite(3, old, options("o", "b"), 1, 20, "email")); err != nil {
		t.Fatal(err)
	}
	snap := notifications.Notification{ID: id(30), User: "user:default/quiet", Origin: "o", Created: old, Payload: notifications.Payload{Title: "q"}}
	e.saveWith(nil, &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(4), Origin: "o", Created: old},
		Deliveries: []notifications.NewDelivery{{ID: deliveryID(30), Processor: "email", Snapshot: &snap}}})
	// Delivery 1 is sent, delivery 2 still leased: both go with
	// notification 1.
	tokens := map[string]string{}
	for _, c := range e.claim(old, 10) {
		tokens[c.Delivery.ID] = c.Token
	}
	e.finish(notifications.DeliveryOutcome{ID: deliveryID(1), Token: tokens[deliveryID(1)], Status: notifications.DeliverySent, Now: old})

	if n, err := s.DeleteOlderThan(e.ctx, e.now.Add(-24*time.Hour), 1); err != nil || n != 3 {
		t.Fatalf("DeleteOlderThan = %d, %v; want 3", n, err)
	}
	expectIDs(t, "deliveries kept", sorted(deliveryIDs(e.deliveries(notifications.DeliveryFilter{}))), deliveryID(10), deliveryID(30))
	if _, err := s.FinishDelivery(e.ctx, notifications.DeliveryOutcome{ID: deliveryID(2), Token: tokens[deliveryID(2)],
		Status: notifications.DeliverySent, Now: old}); !errors.Is(err, notifications.ErrLeaseLost) {
		t.Errorf("FinishDelivery of a delivery retention deleted = %v, want ErrLeaseLost", err)
	}
	if _, err := s.GetDelivery(e.ctx, deliveryID(1)); !errors.Is(err, notifications.ErrNotFound) {
		t.Errorf("GetDelivery of a deleted notification's delivery = %v, want ErrNotFound", err)
	}
}
