package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// sendWithDeliveries stores n notifications to distinct users, created at
// at, each with one delivery to processor "email".
func sendWithDeliveries(t testing.TB, s *store.Store, n int, at time.Time) []notifications.Notification {
	t.Helper()
	ns := make([]notifications.Notification, n)
	w := &notifications.DeliveryWrite{Send: notifications.SendRecord{Origin: "plugin:ci", Created: at,
		Options: notifications.SendOptions{Origin: "plugin:ci", Recipients: notifications.Entity("group:default/all"),
			Payload: notifications.Payload{Title: "t"}}}}
	for i := range ns {
		ns[i] = notifications.Notification{User: fmt.Sprintf("user:default/u%05d", i), Origin: "plugin:ci", Created: at,
			Payload: notifications.Payload{Title: "t"}}
		w.Deliveries = append(w.Deliveries, notifications.NewDelivery{ID: uuid.New(), Processor: "email", Index: i})
	}
	out, err := s.SaveNotifications(t.Context(), ns, w)
	if err != nil {
		t.Fatalf("SaveNotifications: %v", err)
	}
	return out
}

func claim(t testing.TB, s *store.Store, now time.Time, lease time.Duration, limit int) []notifications.DeliveryClaim {
	t.Helper()
	cs, err := s.ClaimDeliveries(t.Context(), notifications.ClaimOptions{Now: now, Lease: lease, Limit: limit})
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	return cs
}

// openSQLiteToClose opens a Store on path for a test that closes it
// itself, as a process that dies drops its lock; closeNow closes it (once)
// and a Store still open when the test ends is closed then.
func openSQLiteToClose(t *testing.T, path string) (s *store.Store, closeNow func()) {
	t.Helper()
	s, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeNow = func() {
		once.Do(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(closeNow)
	return s, closeNow
}

// eachStore runs test in parallel subtests on a fresh SQLite Store and a
// fresh PostgreSQL one.
func eachStore(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Helper()
	for name, open := range map[string]func(testing.TB) *store.Store{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "postgres" {
				testdb.PostgresDSN(t)
			}
			test(t, open(t))
		})
	}
}

// lockFiles returns the names of the Herald lock files beside path.
func lockFiles(t *testing.T, path string) []string {
	t.Helper()
	got, err := filepath.Glob(path + "-herald-*.lock")
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	return got
}

// TestSQLiteDeadOwnerRecovery runs two Stores on one file: while both
// live, neither takes the other's leases, however often it claims; once
// one closes (which drops its lock as a dead process's would), the other
// resumes that one's deliveries at once, long before their lease ends,
// and the closed one's tokens are fenced off.
func TestSQLiteDeadOwnerRecovery(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	a, closeA := openSQLiteToClose(t, path)
	b := openSQLitePath(t, path)
	if n := len(lockFiles(t, path)); n != 2 {
		t.Fatalf("%d lock files beside the database, want one per Store", n)
	}

	t0 := time.Now().UTC().Truncate(time.Millisecond)
	sendWithDeliveries(t, a, 5, t0)
	const lease = time.Hour
	held := claim(t, a, t0, lease, 3)
	if len(held) != 3 {
		t.Fatalf("a claimed %d, want 3", len(held))
	}
	// b, at several times within a's lease, each past the recovery
	// interval: a is alive, so only the two a left are b's.
	var bGot []string
	for i := range 4 {
		for _, c := range claim(t, b, t0.Add(time.Duration(i)*time.Minute), lease, 10) {
			bGot = append(bGot, c.Delivery.ID)
		}
	}
	if len(bGot) != 2 {
		t.Fatalf("b claimed %d deliveries while a lived, want the 2 a left", len(bGot))
	}
	for _, c := range held {
		if slices.Contains(bGot, c.Delivery.ID) {
			t.Errorf("b took %s, leased by a live Store", c.Delivery.ID)
		}
	}

	closeA()
	if n := len(lockFiles(t, path)); n != 2 {
		t.Errorf("%d lock files after a closed holding leases, want 2: a's stays for the next claim to find", n)
	}
	t1 := t0.Add(10 * time.Minute)
	resumed := claim(t, b, t1, lease, 10)
	if len(resumed) != 3 {
		t.Fatalf("b claimed %d after a closed, want a's 3 at once", len(resumed))
	}
	for _, c := range resumed {
		if c.Delivery.Attempts != 2 {
			t.Errorf("resumed %s: attempts %d, want 2 (a's attempt counts)", c.Delivery.ID, c.Delivery.Attempts)
		}
	}
	if n := len(lockFiles(t, path)); n != 1 {
		t.Errorf("%d lock files after recovery, want b's alone", n)
	}
	for _, c := range held {
		_, err := b.FinishDelivery(t.Context(), notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token,
			Status: notifications.DeliverySent, Now: t1})
		if !errors.Is(err, notifications.ErrLeaseLost) {
			t.Errorf("FinishDelivery with a's token after recovery = %v, want ErrLeaseLost", err)
		}
	}
	for _, c := range resumed {
		if _, err := b.FinishDelivery(t.Context(), notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token,
			Status: notifications.DeliverySent, Now: t1}); err != nil {
			t.Errorf("FinishDelivery with b's token: %v", err)
		}
	}
}

// TestSQLiteRecoveryWaitsForItsInterval checks that a claim looks for
// dead owners at most every few seconds of its clock: right after a
// check, a dead owner's leases wait for the next one.
func TestSQLiteRecoveryWaitsForItsInterval(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	a, closeA := openSQLiteToClose(t, path)
	b := openSQLitePath(t, path)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	sendWithDeliveries(t, a, 1, t0)
	if len(claim(t, a, t0, time.Hour, 1)) != 1 {
		t.Fatal("a claimed nothing")
	}
	if len(claim(t, b, t0, time.Hour, 1)) != 0 { // checks, a alive
		t.Fatal("b claimed a's delivery")
	}
	closeA()
	if n := len(claim(t, b, t0.Add(time.Second), time.Hour, 1)); n != 0 {
		t.Errorf("b claimed %d a second after its last check, want 0 until the interval passes", n)
	}
	if n := len(claim(t, b, t0.Add(time.Minute), time.Hour, 1)); n != 1 {
		t.Errorf("b claimed %d once the interval passed, want a's delivery", n)
	}
}

// TestSQLiteLockFilesCleanUp checks that lock files do not pile up: a
// Store closing with no lease removes its own, and opening a Store
// removes those of dead owners that hold none, but keeps a dead owner's
// with leases (for a claim to resume them) and files not Herald's.
func TestSQLiteLockFilesCleanUp(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	_, closeS := openSQLiteToClose(t, path)
	if got := lockFiles(t, path); len(got) != 1 {
		t.Fatalf("lock files %v, want the Store's own", got)
	}
	closeS()
	if got := lockFiles(t, path); len(got) != 0 {
		t.Fatalf("lock files %v after a Close with no lease, want none", got)
	}

	// A dead owner with a lease: its file stays.
	s, closeS := openSQLiteToClose(t, path)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	sendWithDeliveries(t, s, 1, t0)
	claim(t, s, t0, time.Hour, 1)
	withLease := lockFiles(t, path)
	closeS()
	// A crashed owner without leases, and files that only look alike.
	crashed := filepath.Base(path) + "-herald-" + uuid.New() + ".lock"
	for _, name := range []string{crashed, filepath.Base(path) + "-herald-not-a-uuid.lock"} {
		if err := os.WriteFile(filepath.Join(filepath.Dir(path), name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = openSQLitePath(t, path)
	got := lockFiles(t, path)
	if slices.Contains(got, crashed) || !slices.Contains(got, withLease[0]) || !slices.Contains(got, filepath.Base(path)+"-herald-not-a-uuid.lock") {
		t.Errorf("lock files after opening %v; want the crashed owner's gone, the owner with a lease's (%s) and the foreign one kept", got, withLease[0])
	}
	if n := len(claim(t, s, t0.Add(time.Minute), time.Hour, 1)); n != 1 {
		t.Errorf("claimed %d, want the dead owner's delivery", n)
	}
	if slices.Contains(lockFiles(t, path), withLease[0]) {
		t.Errorf("the dead owner's lock file survived the claim that resumed its delivery")
	}
}

// TestSQLiteMemoryHasNoLockFile checks that an in-memory Store makes no
// lock file (there is no database file to put one beside), and claims all
// the same.
func TestSQLiteMemoryHasNoLockFile(t *testing.T) {
	t.Parallel()
	s := openSQLitePath(t, ":memory:")
	t0 := time.Now().UTC()
	sendWithDeliveries(t, s, 2, t0)
	if n := len(claim(t, s, t0, time.Minute, 10)); n != 2 {
		t.Errorf("claimed %d, want 2", n)
	}
	if got, _ := filepath.Glob("*-herald-*.lock"); len(got) != 0 {
		t.Errorf("lock files in the working directory: %v", got)
	}
}

// TestOrphanedSendsDeleted checks, in the tables, what the interface
// cannot show: finished-delivery retention deletes the sends it leaves
// without deliveries, and keeps sends still referred to, newer than the
// cutoff, or holding an idempotency key.
func TestOrphanedSendsDeleted(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		old := time.Now().UTC().Add(-60 * 24 * time.Hour).Truncate(time.Millisecond)
		cutoff := old.Add(24 * time.Hour)
		sendWithDeliveries(t, s, 2, old)                     // both finish: orphaned
		sendWithDeliveries(t, s, 1, old.Add(time.Minute))    // stays pending
		sendWithDeliveries(t, s, 1, cutoff.Add(time.Minute)) // finishes, but the send is newer than the cutoff
		keyed := &notifications.DeliveryWrite{Send: notifications.SendRecord{Origin: "o", IdempotencyKey: "k1", Created: old}}
		if _, err := s.SaveNotifications(ctx, nil, keyed); err != nil {
			t.Fatal(err)
		}
		for _, c := range claim(t, s, cutoff.Add(time.Hour), time.Minute, 10) {
			if c.Delivery.Created.Equal(old.Add(time.Minute)) {
				continue
			}
			if _, err := s.FinishDelivery(ctx, notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token,
				Status: notifications.DeliveryFailed, Now: old}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.DeleteFinishedDeliveries(ctx, cutoff, 1); err != nil || n != 3 {
			t.Fatalf("DeleteFinishedDeliveries = %d, %v; want 3", n, err)
		}
		var sends int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM herald_send").Scan(&sends); err != nil {
			t.Fatal(err)
		}
		if sends != 3 {
			t.Errorf("%d sends left, want 3 (the pending one's, the newer one, the keyed one)", sends)
		}
	})
}

// TestPostgresClaimsAcrossStores runs three Stores on one schema, two
// claimers each, taking 1,000 deliveries at once: every delivery is
// claimed exactly once while the leases hold.
func TestPostgresClaimsAcrossStores(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	stores := []*store.Store{openPostgresDSN(t, dsn), openPostgresDSN(t, dsn), openPostgresDSN(t, dsn)}
	const total = 1000
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	sendWithDeliveries(t, stores[0], total, t0)

	var (
		mu     sync.Mutex
		seen   = map[string]int{}
		claims = make([]int, len(stores))
		wg     sync.WaitGroup
		errs   = make(chan error, 2*len(stores))
		start  = make(chan struct{})
	)
	for i, s := range stores {
		for range 2 {
			wg.Go(func() {
				<-start
				// Bounded: a store that handed leased deliveries out again
				// would never run dry.
				for range total/5 + 10 {
					cs, err := s.ClaimDeliveries(t.Context(), notifications.ClaimOptions{Now: t0.Add(time.Second), Lease: time.Hour, Limit: 10})
					if err != nil {
						errs <- err
						return
					}
					if len(cs) == 0 {
						return
					}
					mu.Lock()
					claims[i] += len(cs)
					for _, c := range cs {
						seen[c.Delivery.ID]++
					}
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Errorf("%d deliveries claimed, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times while its lease held", id, n)
		}
	}
	t.Logf("claims per store: %v", claims)
	if n := len(claim(t, stores[2], t0.Add(time.Minute), time.Hour, 10)); n != 0 {
		t.Errorf("a claim after all were leased got %d", n)
	}
	// Once the leases run out, another store takes them over.
	if n := len(claim(t, stores[1], t0.Add(time.Second+time.Hour), time.Hour, total)); n != total {
		t.Errorf("after the leases ran out a claim got %d, want all %d", n, total)
	}
}

// TestClaimOfVanishedNotification checks that a claim whose notification
// or broadcast row is gone (deleted outside the Store: DeleteOlderThan
// takes the deliveries too) carries a nil Notification, for the Service
// to cancel, rather than failing the claim.
func TestClaimOfVanishedNotification(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now().UTC().Truncate(time.Millisecond)
		ns := sendWithDeliveries(t, s, 2, now)
		b, err := s.SaveBroadcast(ctx, notifications.Notification{Origin: "o", Created: now, Payload: notifications.Payload{Title: "b"}},
			&notifications.DeliveryWrite{Send: notifications.SendRecord{Origin: "o", Created: now},
				Deliveries: []notifications.NewDelivery{{Processor: "email"}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"DELETE FROM notification WHERE id = '" + ns[0].ID + "'", "DELETE FROM broadcast WHERE id = '" + b.ID + "'"} {
			if _, err := s.DB().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		cs := claim(t, s, now, time.Minute, 10)
		if len(cs) != 3 {
			t.Fatalf("claimed %d, want 3", len(cs))
		}
		for _, c := range cs {
			gone := c.Delivery.NotificationID == ns[0].ID || c.Delivery.NotificationID == b.ID
			if gone != (c.Notification == nil) {
				t.Errorf("claim of %s: notification %v; want nil exactly when its row is gone (%v)", c.Delivery.NotificationID, c.Notification, gone)
			}
		}
	})
}
