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

// Idempotent sends: a send record with a key is unique per (origin, key)
// while it holds it, written first in the send's transaction; a second
// save with the key writes nothing and is ErrIdempotencyKeyUsed; the
// send's result is kept for KeyedSend; an expired holder gives the key up.

const keyHash = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

// keyedWrite is a send record with key (and no deliveries), created at.
func keyedWrite(send int, origin, key string, at time.Time) *notifications.DeliveryWrite {
	return &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: sendID(send), Origin: origin,
		Options: options(origin, "keyed"), IdempotencyKey: key, RequestHash: keyHash, Created: at}}
}

func (e *env) keyed(origin, key string) (notifications.KeyedSend, error) {
	e.t.Helper()
	return e.s.KeyedSend(e.ctx, origin, key)
}

func testKeyedSendResult(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	ns := userNotes(3, 10, e.now, "keyed")
	ns[1].Payload.Metadata = map[string]any{"build": "42"}
	saved := e.saveWith(ns, keyedWrite(1, "plugin:ci", "job-1", e.now))
	got, err := e.keyed("plugin:ci", "job-1")
	if err != nil {
		t.Fatalf("KeyedSend: %v", err)
	}
	if got.SendID != sendID(1) || got.RequestHash != keyHash || !got.Created.Equal(e.now) {
		t.Errorf("KeyedSend = %s %s %s, want %s %s %s", got.SendID, got.RequestHash, got.Created, sendID(1), keyHash, e.now)
	}
	if len(got.Result) != len(saved) {
		t.Fatalf("result has %d notifications, want %d", len(got.Result), len(saved))
	}
	for i := range saved {
		g, w := got.Result[i], saved[i]
		if g.ID != w.ID || g.User != w.User || g.Origin != w.Origin || !g.Created.Equal(w.Created) || g.Payload.Title != w.Payload.Title {
			t.Errorf("result %d = %+v, want %+v", i, g, w)
		}
	}
	if got.Result[1].Payload.Metadata["build"] != "42" {
		t.Errorf("result metadata %v", got.Result[1].Payload.Metadata)
	}
	for _, k := range [][2]string{{"plugin:other", "job-1"}, {"plugin:ci", "job-2"}, {"plugin:ci", ""}, {"plugin:ci", "bad\x00key"}} {
		if _, err := e.keyed(k[0], k[1]); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("KeyedSend(%q, %q): %v, want ErrNotFound", k[0], k[1], err)
		}
	}
	// Notifications that are exactly the send's options (no pre-processor
	// changed them), the usual case, come back whole too.
	w := keyedWrite(4, "plugin:ci", "plain", e.now)
	plain := userNotes(2, 60, e.now, "")
	for i := range plain {
		plain[i].Payload = w.Send.Options.Payload
	}
	savedPlain := e.saveWith(plain, w)
	if got, err := e.keyed("plugin:ci", "plain"); err != nil || len(got.Result) != 2 {
		t.Fatalf("KeyedSend(plain) = %+v, %v", got, err)
	} else {
		for i, g := range got.Result {
			want := savedPlain[i]
			if g.ID != want.ID || g.User != want.User || g.Origin != want.Origin || !g.Created.Equal(want.Created) ||
				g.Payload.Title != want.Payload.Title || g.Payload.Severity != want.Payload.Severity || g.Payload.Topic != want.Payload.Topic ||
				g.Read != nil || g.Saved != nil || g.Updated != nil || fmt.Sprint(g.Payload.Metadata) != fmt.Sprint(want.Payload.Metadata) {
				t.Errorf("plain result %d = %+v, want %+v", i, g, want)
			}
		}
	}
	// A send that stored nothing keeps its key with an empty result.
	if _, err := s.SaveNotifications(e.ctx, nil, keyedWrite(2, "plugin:ci", "empty", e.now)); err != nil {
		t.Fatalf("empty keyed send: %v", err)
	}
	if got, err := e.keyed("plugin:ci", "empty"); err != nil || got.Result == nil || len(got.Result) != 0 {
		t.Errorf("empty send's KeyedSend = %+v, %v; want an empty result", got, err)
	}
	// A broadcast's result is the broadcast.
	b, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(20), Origin: "plugin:ci", Created: e.now,
		Payload: notifications.Payload{Title: "b"}}, keyedWrite(3, "plugin:ci", "bc", e.now))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.keyed("plugin:ci", "bc"); err != nil || len(got.Result) != 1 || got.Result[0].ID != b.ID || got.Result[0].User != "" {
		t.Errorf("broadcast KeyedSend = %+v, %v", got, err)
	}
}

// A scoped send's result holds the ids the store kept.
func testKeyedScopedResult(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	first := e.save(e.f[2])
	again := e.f[2]
	again.ID, again.Created = id(30), e.now.Add(time.Second)
	again.Payload.Title = "updated"
	saved := e.saveWith([]notifications.Notification{again}, keyedWrite(1, again.Origin, "scoped", again.Created))
	if saved[0].ID != first[0].ID {
		t.Fatalf("scoped re-send got id %s, want %s", saved[0].ID, first[0].ID)
	}
	got, err := e.keyed(again.Origin, "scoped")
	if err != nil || len(got.Result) != 1 || got.Result[0].ID != first[0].ID || got.Result[0].Updated == nil || got.Result[0].Payload.Title != "updated" {
		t.Fatalf("KeyedSend = %+v, %v; want the restored row", got, err)
	}
	bc := notifications.Notification{ID: id(31), Origin: "plugin:ci", Created: e.now, Payload: notifications.Payload{Title: "b", Scope: "s"}}
	b1, err := s.SaveBroadcast(e.ctx, bc, nil)
	if err != nil {
		t.Fatal(err)
	}
	bc.ID, bc.Created = id(32), e.now.Add(time.Second)
	if _, err := s.SaveBroadcast(e.ctx, bc, keyedWrite(2, "plugin:ci", "scoped-bc", bc.Created)); err != nil {
		t.Fatal(err)
	}
	if got, err := e.keyed("plugin:ci", "scoped-bc"); err != nil || len(got.Result) != 1 || got.Result[0].ID != b1.ID || !got.Result[0].Created.Equal(e.now) {
		t.Fatalf("scoped broadcast KeyedSend = %+v, %v; want %s created %s", got, err, b1.ID, e.now)
	}
}

func testKeyedSendUsed(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.saveWith(userNotes(1, 10, e.now, "first"), keyedWrite(1, "plugin:ci", "k", e.now))
	_, err := s.SaveNotifications(e.ctx, userNotes(2, 20, e.now, "second"), keyedWrite(2, "plugin:ci", "k", e.now))
	if !errors.Is(err, notifications.ErrIdempotencyKeyUsed) {
		t.Fatalf("second save with the key: %v, want ErrIdempotencyKeyUsed", err)
	}
	if _, err := s.SaveBroadcast(e.ctx, notifications.Notification{ID: id(40), Origin: "plugin:ci", Created: e.now,
		Payload: notifications.Payload{Title: "b"}}, keyedWrite(3, "plugin:ci", "k", e.now)); !errors.Is(err, notifications.ErrIdempotencyKeyUsed) {
		t.Fatalf("broadcast with a used key: %v, want ErrIdempotencyKeyUsed", err)
	}
	// Nothing of either was written.
	for _, u := range []string{"user:default/u0000", "user:default/u0001"} {
		n, err := s.Count(e.ctx, u, notifications.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"user:default/u0000": 1, "user:default/u0001": 0}[u]; n != want {
			t.Errorf("%s has %d notifications (broadcast included), want %d", u, n, want)
		}
	}
	// Another origin's key is its own.
	e.saveWith(userNotes(1, 50, e.now, "other"), keyedWrite(4, "plugin:other", "k", e.now))
	// An expired holder gives the key up.
	w := keyedWrite(5, "plugin:ci", "k", e.now.Add(time.Hour))
	w.Send.KeyExpiredBefore = e.now.Add(time.Millisecond)
	e.saveWith(userNotes(1, 60, e.now.Add(time.Hour), "after expiry"), w)
	if got, err := e.keyed("plugin:ci", "k"); err != nil || got.SendID != sendID(5) {
		t.Fatalf("after expiry KeyedSend = %+v, %v; want send %s", got, err, sendID(5))
	}
	// A holder not yet expired keeps it.
	w = keyedWrite(6, "plugin:ci", "k", e.now.Add(2*time.Hour))
	w.Send.KeyExpiredBefore = e.now.Add(time.Hour)
	if _, err := s.SaveNotifications(e.ctx, userNotes(1, 70, e.now, "t"), w); !errors.Is(err, notifications.ErrIdempotencyKeyUsed) {
		t.Fatalf("holder created at the cutoff: %v, want ErrIdempotencyKeyUsed", err)
	}
}

func testConcurrentKeyedSends(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const senders = 8
	errs := make([]error, senders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range senders {
		wg.Go(func() {
			<-start
			_, errs[i] = s.SaveNotifications(e.ctx, userNotes(1, 100+i, e.now, "t"), keyedWrite(10+i, "plugin:ci", "race", e.now))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, notifications.ErrIdempotencyKeyUsed):
			t.Errorf("sender %d: %v", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d saves with one key succeeded, want 1", ok)
	}
	if n, err := s.Count(e.ctx, "user:default/u0000", notifications.Filter{}); err != nil || n != 1 {
		t.Errorf("%d notifications stored, %v; want 1", n, err)
	}
}

func testDeleteExpiredKeys(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	for i := range 5 {
		e.saveWith(nil, keyedWrite(i, "plugin:ci", "k"+string(rune('a'+i)), e.now.Add(time.Duration(i)*time.Minute)))
	}
	n, err := s.DeleteExpiredIdempotencyKeys(e.ctx, e.now.Add(3*time.Minute), 2)
	if err != nil || n != 3 {
		t.Fatalf("DeleteExpiredIdempotencyKeys = %d, %v; want 3 (created before the cutoff)", n, err)
	}
	var left []string
	for i := range 5 {
		if _, err := e.keyed("plugin:ci", "k"+string(rune('a'+i))); err == nil {
			left = append(left, "k"+string(rune('a'+i)))
		}
	}
	if !slices.Equal(left, []string{"kd", "ke"}) {
		t.Errorf("keys left %v, want kd ke", left)
	}
	if n, err := s.DeleteExpiredIdempotencyKeys(e.ctx, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), 0); err != nil || n != 0 {
		t.Errorf("cutoff before year 1: %d, %v", n, err)
	}
	if n, err := s.DeleteExpiredIdempotencyKeys(e.ctx, time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), 0); err != nil || n != 2 {
		t.Errorf("cutoff after 9999: %d, %v; want the 2 left", n, err)
	}
	// A send record with neither key nor delivery goes with the finished
	// deliveries' retention.
	if _, err := s.DeleteFinishedDeliveries(e.ctx, e.now.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
}
