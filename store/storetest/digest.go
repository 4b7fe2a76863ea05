package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Digests: deliveries held (NewDelivery.Digest) join the user's open
// digest of their processor, which is due its window after the first;
// a claim freezes it, returns its members oldest first and moves those
// beyond its max items to new digests due at once; its outcome is
// applied to its members.

const digestWindow = 10 * time.Minute

// heldSend saves one notification numbered i for u at at, its delivery
// (deliveryID(i)) held for a digest of processor "digest" with maxItems.
func (e *env) heldSend(i int, u string, at time.Time, maxItems int) {
	e.t.Helper()
	n := notifications.Notification{ID: id(i), User: u, Origin: "plugin:ci", Created: at, Payload: notifications.Payload{Title: fmt.Sprint("n", i)}}
	w := &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(i), Origin: "plugin:ci", Options: options("plugin:ci", "t"), Created: at},
		Deliveries: []notifications.NewDelivery{{ID: deliveryID(i), Processor: "digest", Index: 0,
			Digest: &notifications.DigestConfig{Window: digestWindow, MaxItems: maxItems}}}}
	e.saveWith([]notifications.Notification{n}, w)
}

// memberTitles returns the titles of a claimed digest's members, "-" for
// one whose notification is gone.
func memberTitles(c notifications.DeliveryClaim) []string {
	out := make([]string, len(c.Digest))
	for i, m := range c.Digest {
		out[i] = "-"
		if m.Notification != nil {
			out[i] = m.Notification.Payload.Title
		}
	}
	return out
}

// testDigestHeldUntilWindow: held deliveries are pending with no next
// attempt and join one digest, due its window after the first; the claim
// returns it with its members oldest first; later sends open a new
// digest; the outcome is applied to the members.
func testDigestHeldUntilWindow(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	for i := range 3 {
		e.heldSend(1+i, user, t0.Add(time.Duration(i)*time.Minute), 50)
	}
	e.heldSend(9, other, t0, 50)
	held := e.delivery(deliveryID(1))
	if held.Status != notifications.DeliveryPending || held.NextAttempt != nil || held.DigestID == "" || held.IsDigest() {
		t.Fatalf("held delivery %s digest %q, want pending, no next attempt, in a digest", fmtDelivery(held), held.DigestID)
	}
	for i := 2; i <= 3; i++ {
		if d := e.delivery(deliveryID(i)); d.DigestID != held.DigestID {
			t.Fatalf("delivery %d is in digest %q, want %q with the first", i, d.DigestID, held.DigestID)
		}
	}
	if d := e.delivery(deliveryID(9)); d.DigestID == held.DigestID || d.DigestID == "" {
		t.Fatalf("another user's delivery is in digest %q", d.DigestID)
	}
	digest := e.delivery(held.DigestID)
	due := t0.Add(digestWindow)
	if !digest.IsDigest() || digest.User != user || digest.Processor != "digest" || digest.Status != notifications.DeliveryPending ||
		!sameTime(digest.NextAttempt, &due) {
		t.Fatalf("digest %s, want a pending digest of %s due at %s", fmtDelivery(digest), user, due)
	}
	e.claimNone(due.Add(-time.Millisecond), "before the window ends")

	cs := e.claim(due, 10)
	if len(cs) != 2 {
		t.Fatalf("claimed %v, want the two users' digests", claimIDs(cs))
	}
	var c notifications.DeliveryClaim
	for _, cl := range cs {
		if cl.Delivery.ID == digest.ID {
			c = cl
		}
		if cl.Notification != nil {
			t.Errorf("digest claim %s has a notification", cl.Delivery.ID)
		}
	}
	if got := memberTitles(c); !slices.Equal(got, []string{"n1", "n2", "n3"}) || c.Delivery.Attempts != 1 || !c.Delivery.IsDigest() {
		t.Fatalf("claim %s members %v, want n1, n2, n3 on its first attempt", fmtDelivery(c.Delivery), got)
	}
	if c.Digest[0].DeliveryID != deliveryID(1) || c.Digest[0].Notification.User != user {
		t.Fatalf("first member %+v, want delivery %s of %s", c.Digest[0], deliveryID(1), user)
	}

	// Frozen: a send now opens another digest.
	e.heldSend(4, user, due, 50)
	if d := e.delivery(deliveryID(4)); d.DigestID == digest.ID || d.DigestID == "" {
		t.Fatalf("a send after the claim joined the claimed digest (%q)", d.DigestID)
	}

	done := e.finish(notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token, Status: notifications.DeliverySent, Now: due})
	if done.Status != notifications.DeliverySent || !done.IsDigest() {
		t.Fatalf("finished digest %s", fmtDelivery(done))
	}
	for i := 1; i <= 3; i++ {
		if d := e.delivery(deliveryID(i)); d.Status != notifications.DeliverySent || d.NextAttempt != nil {
			t.Errorf("member %d after the digest was sent: %s", i, fmtDelivery(d))
		}
	}
	if d := e.delivery(deliveryID(4)); d.Status != notifications.DeliveryPending {
		t.Errorf("the next digest's member: %s, want still held", fmtDelivery(d))
	}
}

// testDigestMaxItems: a claim keeps a digest's oldest max items and moves
// the newest extras to new digests, due at once, of at most max each.
func testDigestMaxItems(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	for i := range 5 {
		e.heldSend(1+i, user, t0.Add(time.Duration(i)*time.Second), 2)
	}
	due := t0.Add(digestWindow)
	first := e.claim(due, 10)
	if len(first) != 1 || !slices.Equal(memberTitles(first[0]), []string{"n1", "n2"}) {
		t.Fatalf("first claim %v with %v, want one digest of n1, n2", claimIDs(first), memberTitles(first[0]))
	}
	rest := e.claim(due, 10)
	var got [][]string
	for _, c := range rest {
		if !c.Delivery.IsDigest() || c.Delivery.ID == first[0].Delivery.ID {
			t.Fatalf("claim %s, want a new digest", fmtDelivery(c.Delivery))
		}
		got = append(got, memberTitles(c))
	}
	slices.SortFunc(got, slices.Compare)
	if want := [][]string{{"n3", "n4"}, {"n5"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("the extras' digests hold %v, want %v", got, want)
	}
	e.claimNone(due, "every digest claimed")
}

// testDigestRetryFrozen: a retried digest brings back the same members,
// less those the attempt skipped, which are cancelled at once; a failure
// fails the members; a requeued digest brings them back again.
func testDigestRetryFrozen(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	for i := range 3 {
		e.heldSend(1+i, user, t0.Add(time.Duration(i)*time.Millisecond), 50)
	}
	due := t0.Add(digestWindow)
	c := e.claim(due, 10)[0]
	next := due.Add(time.Minute)
	e.finish(notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token, Status: notifications.DeliveryRetrying,
		LastError: "smtp down", NextAttempt: &next, Now: due, Skipped: []string{deliveryID(2)}})
	if d := e.delivery(deliveryID(2)); d.Status != notifications.DeliveryCancelled {
		t.Errorf("skipped member %s, want cancelled", fmtDelivery(d))
	}
	if d := e.delivery(deliveryID(1)); d.Status != notifications.DeliveryPending || d.NextAttempt != nil {
		t.Errorf("member of a retrying digest %s, want still held", fmtDelivery(d))
	}
	e.heldSend(4, user, due, 50) // a new digest, not this one
	e.claimNone(next.Add(-time.Millisecond), "before the retry")
	retry := e.claimOne(next, c.Delivery.ID)
	if got := memberTitles(retry); !slices.Equal(got, []string{"n1", "n3"}) || retry.Delivery.Attempts != 2 {
		t.Fatalf("retry members %v attempt %d, want n1, n3 on the second", got, retry.Delivery.Attempts)
	}
	e.finish(notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: retry.Token, Status: notifications.DeliveryFailed, LastError: "refused", Now: next})
	for _, i := range []int{1, 3} {
		if d := e.delivery(deliveryID(i)); d.Status != notifications.DeliveryFailed || d.LastError != "refused" || d.Attempts != 2 {
			t.Errorf("member %d of a failed digest: %s, want failed with its error and attempts", i, fmtDelivery(d))
		}
	}
	if _, err := s.RequeueDelivery(e.ctx, c.Delivery.ID, next); err != nil {
		t.Fatalf("RequeueDelivery(digest): %v", err)
	}
	again := e.claimOne(next, c.Delivery.ID)
	if got := memberTitles(again); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("requeued digest members %v, want n1, n3", got)
	}
	e.finish(notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: again.Token, Status: notifications.DeliverySent, Now: next})
	if d := e.delivery(deliveryID(3)); d.Status != notifications.DeliverySent {
		t.Errorf("member of the requeued digest %s, want sent", fmtDelivery(d))
	}
	if d := e.delivery(deliveryID(2)); d.Status != notifications.DeliveryCancelled {
		t.Errorf("the skipped member %s, want still cancelled", fmtDelivery(d))
	}
}

// testDigestDeletedMembers: DeleteOlderThan deletes a held member with
// its notification; a digest left with none claims with an empty, non-nil
// Digest.
func testDigestDeletedMembers(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	e.heldSend(1, user, t0, 50)
	e.heldSend(2, user, t0.Add(time.Minute), 50)
	digest := e.delivery(deliveryID(1)).DigestID
	if _, err := s.DeleteOlderThan(e.ctx, t0, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDelivery(e.ctx, deliveryID(1)); !errors.Is(err, notifications.ErrNotFound) {
		t.Fatalf("the deleted notification's held delivery: %v, want ErrNotFound", err)
	}
	c := e.claimOne(t0.Add(digestWindow), digest)
	if got := memberTitles(c); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("members %v, want n2 alone", got)
	}
	e.finish(notifications.DeliveryOutcome{ID: digest, Token: c.Token, Status: notifications.DeliverySent, Now: t0.Add(digestWindow)})

	later := t0.Add(2 * digestWindow)
	e.heldSend(3, user, later, 50)
	empty := e.delivery(deliveryID(3)).DigestID
	if _, err := s.DeleteOlderThan(e.ctx, later, 100); err != nil {
		t.Fatal(err)
	}
	c = e.claimOne(later.Add(digestWindow), empty)
	if c.Digest == nil || len(c.Digest) != 0 {
		t.Fatalf("emptied digest's members %v (nil %t), want empty and not nil", memberTitles(c), c.Digest == nil)
	}
}

// testDigestRefusals: a broadcast's delivery cannot be held, and a digest
// without a positive window or max items is refused; nothing is written.
func testDigestRefusals(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	w := &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(1), Origin: "plugin:ops", Options: options("plugin:ops", "t"), Created: t0},
		Deliveries: []notifications.NewDelivery{{ID: deliveryID(1), Processor: "digest", Digest: &notifications.DigestConfig{Window: time.Minute, MaxItems: 5}}}}
	if _, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(1), Origin: "plugin:ops", Created: t0, Payload: notifications.Payload{Title: "b"}}, w); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("a held broadcast delivery: %v, want ErrInvalid", err)
	}
	for _, bad := range []notifications.DigestConfig{{Window: 0, MaxItems: 5}, {Window: time.Minute, MaxItems: 0}, {Window: -time.Minute, MaxItems: 5}} {
		w.Deliveries[0].Digest = &bad
		n := notifications.Notification{ID: id(2), User: user, Origin: "plugin:ops", Created: t0, Payload: notifications.Payload{Title: "u"}}
		if _, err := s.SaveNotifications(e.ctx, []notifications.Notification{n}, w); !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("digest %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if ds := e.deliveries(notifications.DeliveryFilter{}); len(ds) != 0 || e.count(user, notifications.Filter{}) != 0 {
		t.Errorf("refused sends wrote %v", deliveryIDs(ds))
	}
}

// testConcurrentDigestJoins: 8 sends at once to one user join one digest.
func testConcurrentDigestJoins(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	t0 := e.now
	const sends = 8
	var wg sync.WaitGroup
	errs := make(chan error, sends)
	for i := range sends {
		wg.Go(func() {
			n := notifications.Notification{ID: id(1 + i), User: user, Origin: "plugin:ci", Created: t0, Payload: notifications.Payload{Title: "t"}}
			w := &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(1 + i), Origin: "plugin:ci", Options: options("plugin:ci", "t"), Created: t0},
				Deliveries: []notifications.NewDelivery{{ID: deliveryID(1 + i), Processor: "digest", Digest: &notifications.DigestConfig{Window: digestWindow, MaxItems: 50}}}}
			if _, err := s.SaveNotifications(e.ctx, []notifications.Notification{n}, w); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent held send: %v", err)
	}
	digests := map[string]bool{}
	for i := range sends {
		digests[e.delivery(deliveryID(1+i)).DigestID] = true
	}
	if len(digests) != 1 {
		t.Fatalf("%d digests for one user's concurrent sends, want one", len(digests))
	}
	c := e.claim(t0.Add(digestWindow), 10)
	if len(c) != 1 || len(c[0].Digest) != sends {
		t.Fatalf("claimed %v, want one digest of %d", claimIDs(c), sends)
	}
}
