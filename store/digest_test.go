package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// heldSends sends rounds notifications to each of users users, one send
// per round a second apart, each delivery held for a digest.
func heldSends(t testing.TB, s *store.Store, users, rounds int, at time.Time, c *notifications.DigestConfig) {
	t.Helper()
	for r := range rounds {
		created := at.Add(time.Duration(r) * time.Second)
		ns := make([]notifications.Notification, users)
		w := &notifications.DeliveryWrite{Send: notifications.SendRecord{Origin: "plugin:ci", Created: created,
			Options: notifications.SendOptions{Origin: "plugin:ci", Recipients: notifications.Entity("group:default/all"),
				Payload: notifications.Payload{Title: "t"}}}}
		for i := range ns {
			ns[i] = notifications.Notification{User: fmt.Sprintf("user:default/u%05d", i), Origin: "plugin:ci", Created: created,
				Payload: notifications.Payload{Title: "t"}}
			w.Deliveries = append(w.Deliveries, notifications.NewDelivery{ID: uuid.New(), Processor: "email", Index: i, Digest: c})
		}
		if _, err := s.SaveNotifications(t.Context(), ns, w); err != nil {
			t.Fatalf("SaveNotifications: %v", err)
		}
	}
}

// Every statement of the digest path reads an index on SQLite: joining
// the open digest, the claim (delivery_due_idx) with its members
// (delivery_digest_idx) and split, and the outcome applied to members.
func TestSQLiteDigestPlansUseIndexes(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := &notifications.DigestConfig{Window: time.Minute, MaxItems: 2}
	heldSends(t, s, 200, 3, now, c)
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses

	heldSends(t, s, 1, 1, now.Add(10*time.Second), c)
	queries := map[string][]string{"join": log.take()}
	cs := claim(t, s, now.Add(time.Minute), time.Minute, 5)
	queries["claim"] = log.take()
	if len(cs) != 5 || !cs[0].Delivery.IsDigest() {
		t.Fatalf("claimed %d, want 5 digests", len(cs))
	}
	if _, err := s.FinishDelivery(t.Context(), notifications.DeliveryOutcome{ID: cs[0].Delivery.ID, Token: cs[0].Token,
		Status: notifications.DeliverySent, Now: now.Add(time.Minute), Skipped: []string{cs[0].Digest[0].DeliveryID}}); err != nil {
		t.Fatal(err)
	}
	queries["finish"] = log.take()
	usedMembers := false
	for name, qs := range queries {
		for _, q := range qs {
			if q == "BEGIN" || q == "COMMIT" || strings.HasPrefix(q, "INSERT") {
				continue
			}
			plan := explainSQLite(t, s, q)
			for _, line := range plan {
				if (line == "SCAN delivery" || strings.HasPrefix(line, "SCAN delivery ") || line == "SCAN d") && !strings.Contains(line, " USING ") {
					t.Errorf("%s scans delivery without an index:\n%s\nplan:\n  %s", name, q, strings.Join(plan, "\n  "))
				}
				if strings.Contains(line, "delivery_digest_idx") {
					usedMembers = true
				}
			}
		}
	}
	if !usedMembers {
		t.Errorf("no statement reads delivery_digest_idx:\n%s", strings.Join(queries["claim"], "\n"))
	}
}

// BenchmarkDigestFanOut measures a 1,000-user send whose deliveries are
// held for digests (users with an open digest already, after the first
// round) against the floor of the same send with plain deliveries, in
// the same run, on a SQLite file: held/plain is the ratio.
func BenchmarkDigestFanOut(b *testing.B) {
	s := openSQLite(b)
	const users = 1000
	c := &notifications.DigestConfig{Window: time.Hour, MaxItems: notifications.MaxDigestItems}
	at := time.Now().UTC().Truncate(time.Millisecond)
	var plain, held time.Duration
	for b.Loop() {
		start := time.Now()
		heldSends(b, s, users, 1, at, nil)
		plain += time.Since(start)
		start = time.Now()
		heldSends(b, s, users, 1, at, c)
		held += time.Since(start)
	}
	b.ReportMetric(float64(held)/float64(plain), "held/plain")
}
