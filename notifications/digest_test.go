package notifications_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/store"
)

// digester is a DigestProcessor that records its calls: each digest's
// delivery and titles, each single notification's title.
type digester struct {
	mu      sync.Mutex
	digests []digestCall
	singles []string
	fail    []error // the next PostProcessDigest calls return these, in turn
}

type digestCall struct {
	delivery notifications.Delivery
	user     string
	titles   []string
}

func (d *digester) Name() string { return "Digest" }

func (d *digester) PostProcess(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.singles = append(d.singles, n.Payload.Title)
	return nil
}

func (d *digester) PostProcessDigest(ctx context.Context, user string, ns []notifications.Notification) error {
	del, _ := notifications.DeliveryFromContext(ctx)
	titles := make([]string, len(ns))
	for i, n := range ns {
		titles[i] = n.Payload.Title
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.digests = append(d.digests, digestCall{delivery: del, user: user, titles: titles})
	if len(d.fail) > 0 {
		err := d.fail[0]
		d.fail = d.fail[1:]
		return err
	}
	return nil
}

func (d *digester) calls() ([]digestCall, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.digests), slices.Clone(d.singles)
}

const window = 10 * time.Minute

// digestSetup is a Service on st with a fake clock, no workers, and p
// wrapped with Digest(window, maxItems).
func digestSetup(t *testing.T, st notifications.Store, p *digester, maxItems int) deliveryFixture {
	t.Helper()
	return deliverySetup(t, st, nil, notifications.Digest(p, notifications.DigestConfig{Window: window, MaxItems: maxItems}))
}

func titlesOf(calls []digestCall) [][]string {
	out := make([][]string, len(calls))
	for i, c := range calls {
		out[i] = c.titles
	}
	return out
}

// Three sends within the window make one PostProcessDigest with the
// three, oldest first, once the window from the first has passed, and
// nothing before; a fourth after it starts a new digest.
func TestDigestGathersWithinWindow(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		p := &digester{}
		f := digestSetup(t, st, p, 0)
		var ids []string
		for _, title := range []string{"one", "two", "three"} {
			ids = append(ids, f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: title})[0].ID)
			f.clock.Advance(time.Minute)
		}
		if n := f.deliver(t); n != 0 {
			t.Fatalf("%d attempts inside the window, want none", n)
		}
		f.clock.Set(start.Add(window - time.Millisecond))
		if n := f.deliver(t); n != 0 {
			t.Fatalf("%d attempts a millisecond before the window ends, want none", n)
		}
		held := f.only(t, ids[0])
		if held.Status != notifications.DeliveryPending || held.NextAttempt != nil || held.DigestID == "" || held.IsDigest() {
			t.Fatalf("held delivery %+v, want pending, no next attempt, in a digest", held)
		}
		f.clock.Set(start.Add(window))
		if n := f.deliver(t); n != 1 {
			t.Fatalf("%d attempts at the window's end, want one digest", n)
		}
		digests, singles := p.calls()
		if len(singles) != 0 || len(digests) != 1 || !slices.Equal(digests[0].titles, []string{"one", "two", "three"}) || digests[0].user != mockUser {
			t.Fatalf("digests %v singles %v, want one digest of one, two, three for %s", titlesOf(digests), singles, mockUser)
		}
		first := digests[0].delivery
		if !first.IsDigest() || first.ID != held.DigestID || first.User != mockUser || first.Processor != "Digest" {
			t.Fatalf("the digest's delivery %+v, want the digest %s itself", first, held.DigestID)
		}
		for _, id := range ids {
			if d := f.only(t, id); d.Status != notifications.DeliverySent || d.DigestID != first.ID {
				t.Fatalf("member %+v, want sent with digest %s", d, first.ID)
			}
		}
		if d, err := f.svc.Delivery(f.ctx, first.ID); err != nil || d.Status != notifications.DeliverySent {
			t.Fatalf("digest delivery %+v, %v, want sent", d, err)
		}

		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "four"})
		if n := f.deliver(t); n != 0 {
			t.Fatalf("%d attempts right after the fourth send, want none: it opens a new digest", n)
		}
		f.clock.Advance(window)
		f.deliver(t)
		digests, _ = p.calls()
		if len(digests) != 2 || !slices.Equal(digests[1].titles, []string{"four"}) || digests[1].delivery.ID == first.ID {
			t.Fatalf("digests %v, want a second one of four alone, with its own id", titlesOf(digests))
		}
	})
}

// MaxItems splits a digest: the oldest go first, the newest extras in
// the next digests, due at once.
func TestDigestMaxItemsSplits(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		p := &digester{}
		f := digestSetup(t, st, p, 2)
		for _, title := range []string{"a", "b", "c", "d", "e"} {
			f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: title})
			f.clock.Advance(time.Second)
		}
		f.clock.Set(start.Add(window))
		if n := f.deliver(t); n != 3 {
			t.Fatalf("%d attempts, want 3 digests", n)
		}
		digests, _ := p.calls()
		// The extras' digests are due together and run side by side.
		got := titlesOf(digests)
		if len(got) == 3 && len(got[1]) == 1 {
			got[1], got[2] = got[2], got[1]
		}
		want := [][]string{{"a", "b"}, {"c", "d"}, {"e"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("digests %v, want %v (the last two in any order)", titlesOf(digests), want)
		}
		ids := map[string]bool{}
		for _, d := range digests {
			ids[d.delivery.ID] = true
		}
		if len(ids) != 3 {
			t.Fatalf("digest ids %v, want three distinct", ids)
		}
	})
}

// A critical notification skips the digest and goes at once through
// PostProcess; a broadcast is not digested either.
func TestDigestCriticalAndBroadcastGoAtOnce(t *testing.T) {
	t.Parallel()
	p := &digester{}
	f := digestSetup(t, memoryStore(t), p, 0)
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "held"})
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "fire", Severity: notifications.SeverityCritical})
	f.send(t, notifications.Broadcast(), notifications.Payload{Title: "all"})
	if n := f.deliver(t); n != 2 {
		t.Fatalf("%d attempts at once, want the critical one and the broadcast", n)
	}
	digests, singles := p.calls()
	slices.Sort(singles)
	if len(digests) != 0 || !slices.Equal(singles, []string{"all", "fire"}) {
		t.Fatalf("digests %v singles %v, want the critical one and the broadcast alone", titlesOf(digests), singles)
	}
	f.clock.Advance(window)
	f.deliver(t)
	if digests, _ := p.calls(); len(digests) != 1 || !slices.Equal(digests[0].titles, []string{"held"}) {
		t.Fatalf("digests %v, want the held one alone", titlesOf(digests))
	}
}

// A failed digest is retried as one delivery: the same set under the same
// id, though a notification sent meanwhile went into a new digest.
func TestDigestRetrySendsFrozenSet(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		p := &digester{fail: []error{errors.New("smtp down")}}
		f := digestSetup(t, st, p, 0)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "one"})
		f.clock.Advance(time.Millisecond)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "two"})
		f.clock.Advance(window)
		f.deliver(t)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "later"})
		notificationstest.AdvanceUntilDelivered(t, f.svc, f.clock)
		digests, _ := p.calls()
		got := titlesOf(digests)
		want := [][]string{{"one", "two"}, {"one", "two"}, {"later"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("digests %v, want %v", got, want)
		}
		if a, b := digests[0].delivery, digests[1].delivery; a.ID != b.ID || b.Attempts != 2 || digests[2].delivery.ID == a.ID {
			t.Fatalf("attempts %+v and %+v, want the same delivery, second attempt, and another for later", a, b)
		}
	})
}

// A user who turns the channel off while notifications are held gets
// none of them: the digest is cancelled, and so are its members.
func TestDigestHonoursSettingsAtDelivery(t *testing.T) {
	t.Parallel()
	p := &digester{}
	f := digestSetup(t, memoryStore(t), p, 0)
	ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "one"})
	off := notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "Digest", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}}}}
	if _, err := f.svc.SaveSettings(f.ctx, mockUser, off); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(window)
	f.deliver(t)
	if digests, singles := p.calls(); len(digests)+len(singles) != 0 {
		t.Fatalf("digests %v singles %v, want nothing", titlesOf(digests), singles)
	}
	m := f.only(t, ns[0].ID)
	d, err := f.svc.Delivery(f.ctx, m.DigestID)
	if err != nil || d.Status != notifications.DeliveryCancelled || m.Status != notifications.DeliveryCancelled {
		t.Fatalf("digest %+v (%v) and member %+v, want both cancelled", d, err, m)
	}
}

// A notification deleted while held drops out of its digest; a digest
// left empty is cancelled.
func TestDigestDropsDeletedNotifications(t *testing.T) {
	t.Parallel()
	p := &digester{}
	f := digestSetup(t, memoryStore(t), p, 0)
	first := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "old"})
	held := f.only(t, first[0].ID)
	f.clock.Advance(time.Minute)
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "new"})
	if _, err := f.svc.DeleteOlderThan(f.ctx, time.Minute); err != nil { // old only
		t.Fatal(err)
	}
	f.clock.Advance(window)
	f.deliver(t)
	if digests, _ := p.calls(); len(digests) != 1 || !slices.Equal(digests[0].titles, []string{"new"}) {
		t.Fatalf("digests %v, want new alone", titlesOf(digests))
	}

	only := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "gone"})
	empty := f.only(t, only[0].ID).DigestID
	if empty == held.DigestID {
		t.Fatal("a send after the digest ran joined it")
	}
	f.clock.Advance(time.Millisecond)
	if _, err := f.svc.DeleteOlderThan(f.ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(window)
	f.deliver(t)
	if d, err := f.svc.Delivery(f.ctx, empty); err != nil || d.Status != notifications.DeliveryCancelled {
		t.Fatalf("the emptied digest %+v (%v), want cancelled", d, err)
	}
	if digests, _ := p.calls(); len(digests) != 1 {
		t.Fatalf("digests %v, want no second one", titlesOf(digests))
	}
}

// A restart inside the window keeps what was held: a new Service on the
// same SQLite file delivers it when the window ends.
func TestDigestSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	clock := notificationstest.NewClock(start)
	open := func(p *digester) (*store.Store, *notifications.Service) {
		st, err := store.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := notifications.New(notifications.Config{
			Store: st, Now: clock.Now, DeliveryWorkers: -1,
			Processors: []notifications.Processor{notifications.Digest(p, notifications.DigestConfig{Window: window})},
		})
		if err != nil {
			t.Fatal(err)
		}
		return st, svc
	}
	before := &digester{}
	st, svc := open(before)
	for _, title := range []string{"one", "two"} {
		if _, err := svc.Sender(origin).Send(t.Context(), notifications.Entity(mockUser), notifications.Payload{Title: title}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if n := notificationstest.DeliverAll(t, svc); n != 0 {
		t.Fatalf("%d attempts inside the window", n)
	}
	if err := svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	after := &digester{}
	st, svc = open(after)
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = st.Close() })
	clock.Set(start.Add(window))
	if n := notificationstest.DeliverAll(t, svc); n != 1 {
		t.Fatalf("%d attempts after the restart, want the digest", n)
	}
	if digests, _ := after.calls(); len(digests) != 1 || !slices.Equal(digests[0].titles, []string{"one", "two"}) {
		t.Fatalf("digests %v, want one of one and two", titlesOf(digests))
	}
	if digests, singles := before.calls(); len(digests)+len(singles) != 0 {
		t.Fatal("the first Service delivered something")
	}
}

// Two Services on one PostgreSQL database: sends through both join one
// digest, and it is delivered once, by one of them, though both run
// their due deliveries at once.
func TestDigestSharedByTwoServicesOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	clock := notificationstest.NewClock(start)
	p := &digester{}
	var svcs [2]*notifications.Service
	for i := range svcs {
		svc, err := notifications.New(notifications.Config{
			Store: postgresStore(t, dsn), Now: clock.Now, DeliveryWorkers: -1,
			Processors: []notifications.Processor{notifications.Digest(p, notifications.DigestConfig{Window: window})},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeService(t, svc) })
		svcs[i] = svc
	}
	const sends = 20
	var wg sync.WaitGroup
	for i := range sends {
		wg.Go(func() {
			if _, err := svcs[i%2].Sender(origin).Send(t.Context(), notifications.Entity(mockUser), notifications.Payload{Title: "t"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	clock.Advance(window)
	for _, svc := range svcs {
		wg.Go(func() {
			if _, err := svc.RunDueDeliveries(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	digests, singles := p.calls()
	if len(singles) != 0 || len(digests) != 1 || len(digests[0].titles) != sends {
		t.Fatalf("%d digests (%v), %d singles, want one digest of %d", len(digests), titlesOf(digests), len(singles), sends)
	}
}

// A scoped re-send of a held notification updates it in its digest: the
// digest delivers the new content, once. A critical re-send takes it out
// of the digest and delivers it at once.
func TestDigestScopedResend(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		p := &digester{}
		f := digestSetup(t, st, p, 0)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "v1", Scope: "build-1"})
		f.clock.Advance(time.Minute)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "v2", Scope: "build-1"})
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "w1", Scope: "build-2"})
		f.clock.Advance(time.Minute)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "w2", Scope: "build-2", Severity: notifications.SeverityCritical})
		if n := f.deliver(t); n != 1 {
			t.Fatalf("%d attempts at once, want the critical re-send", n)
		}
		f.clock.Set(start.Add(window))
		f.deliver(t)
		digests, singles := p.calls()
		if !slices.Equal(singles, []string{"w2"}) || len(digests) != 1 || !slices.Equal(digests[0].titles, []string{"v2"}) {
			t.Fatalf("digests %v singles %v, want w2 alone at once and a digest of v2", titlesOf(digests), singles)
		}
	})
}

// A user who turned the in-app channel off still gets the digest: the
// held notification travels as a snapshot.
func TestDigestOfSnapshots(t *testing.T) {
	t.Parallel()
	p := &digester{}
	f := digestSetup(t, memoryStore(t), p, 0)
	// setup's defaults turn Web off for external:test-service2.
	stored, err := f.svc.Sender("external:test-service2").Send(f.ctx, notifications.Entity(mockUser), notifications.Payload{Title: "quiet"})
	if err != nil || len(stored) != 0 {
		t.Fatalf("Send = %v, %v, want nothing stored in the inbox", stored, err)
	}
	f.clock.Advance(time.Millisecond)
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "loud"})
	f.clock.Advance(window)
	f.deliver(t)
	if digests, _ := p.calls(); len(digests) != 1 || !slices.Equal(digests[0].titles, []string{"quiet", "loud"}) {
		t.Fatalf("digests %v, want one of quiet and loud", titlesOf(digests))
	}
}
