package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// The group commit tests hold the database's write lock (holdWrites) while
// their calls arrive, so that the first call waits in the database and
// the others queue behind it, and wait (OnGroupCommit) until they have:
// the batches they then check are sure to form, whatever the machine's
// speed.

// groupKind is one kind of call a Store commits in groups.
type groupKind struct {
	name string // as OnGroupCommitQueued takes it
	// save stores a row titled title with id (a UUID, or "" for a new
	// one) for user, and reports whether it was stored; a broadcast
	// ignores user.
	save func(ctx context.Context, s *store.Store, id, user, title string) (notifications.Notification, bool, error)
}

var groupKinds = []groupKind{
	{"send", func(ctx context.Context, s *store.Store, id, user, title string) (notifications.Notification, bool, error) {
		return s.SaveUnlessSettings(ctx, notifications.Notification{ID: id, User: user, Origin: "plugin:ci",
			Payload: notifications.Payload{Title: title, Description: "main is red", Topic: "builds", Metadata: map[string]any{"title": title}}})
	}},
	{"broadcast", func(ctx context.Context, s *store.Store, id, _, title string) (notifications.Notification, bool, error) {
		n, err := s.SaveBroadcast(ctx, notifications.Notification{ID: id, Origin: "plugin:ci",
			Payload: notifications.Payload{Title: title, Description: "CI is down", Topic: "ops", Metadata: map[string]any{"title": title}}}, nil)
		return n, err == nil, err
	}},
}

// eachGroupKind runs test for each kind on each store.
func eachGroupKind(t *testing.T, test func(t *testing.T, s *store.Store, k groupKind)) {
	t.Helper()
	for _, k := range groupKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			eachStore(t, func(t *testing.T, s *store.Store) { test(t, s, k) })
		})
	}
}

// holdWrites takes the write lock of s's database (SQLite's, by BEGIN
// IMMEDIATE; on PostgreSQL a lock on the two tables that blocks every
// INSERT) and returns the function that releases it.
func holdWrites(t *testing.T, s *store.Store) (release func()) {
	t.Helper()
	ctx := t.Context()
	tx, err := s.DB().DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.DB().Dialect().Name().String() == "pg" {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE notification, broadcast IN SHARE MODE"); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if err := tx.Rollback(); err != nil {
				t.Errorf("releasing the write lock: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// queueWatch follows kind's queue on s.
type queueWatch struct {
	t       *testing.T
	queued  chan int      // how many calls have queued, each time one does
	writing chan struct{} // a call that found nothing running writes
}

func watchQueue(t *testing.T, s *store.Store, kind string) *queueWatch {
	t.Helper()
	w := &queueWatch{t: t, queued: make(chan int, 4096), writing: make(chan struct{}, 4096)}
	// Never full with fewer calls than the buffers hold.
	store.OnGroupCommit(s, kind, func(n int) {
		select {
		case w.queued <- n:
		default:
		}
	}, func() {
		select {
		case w.writing <- struct{}{}:
		default:
		}
	})
	return w
}

// until waits until n calls have queued.
func (w *queueWatch) until(n int) {
	w.t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case got := <-w.queued:
			if got >= n {
				return
			}
		case <-timeout:
			w.t.Fatalf("%d calls never queued", n)
		}
	}
}

// running waits until a call that found nothing running writes (past the
// point where it takes the calls queued meanwhile).
func (w *queueWatch) running() {
	w.t.Helper()
	select {
	case <-w.writing:
	case <-time.After(time.Minute):
		w.t.Fatal("no call ran")
	}
}

// warm stores one row of k for user, so the hot statement is prepared
// before the write lock is held (preparing PostgreSQL's INSERT waits for
// the lock too).
func warm(t *testing.T, s *store.Store, k groupKind, user string) notifications.Notification {
	t.Helper()
	n, ok, err := k.save(t.Context(), s, "", user, "warm")
	if err != nil || !ok {
		t.Fatalf("warming up: ok %v, %v", ok, err)
	}
	return n
}

type saveResult struct {
	n   notifications.Notification
	ok  bool
	err error
}

// Many concurrent sends (and broadcasts) queued behind one: every one is
// stored exactly once, in batches, each caller gets its own row back, and
// a user with settings rows is not stored and reports false.
func TestGroupCommitConcurrent(t *testing.T) {
	eachGroupKind(t, func(t *testing.T, s *store.Store, k groupKind) {
		ctx := t.Context()
		const calls, users = 200, 20
		user := func(i int) string { return fmt.Sprintf("user:default/gc%02d", i%users) }
		tuned := func(i int) bool { return k.name == "send" && i%users%2 == 0 }
		for i := range users {
			if tuned(i) {
				if err := s.ReplaceSettings(ctx, user(i), []notifications.SettingRow{{Channel: "Email", Origin: "svc", Enabled: false}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		warm(t, s, k, "user:default/warm")
		q := watchQueue(t, s, k.name)
		release := holdWrites(t, s)
		results := make([]saveResult, calls)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				r := &results[i]
				r.n, r.ok, r.err = k.save(ctx, s, "", user(i), fmt.Sprintf("row %d", i))
			})
		}
		q.until(calls - 1) // one waits in the database, the others behind it
		release()
		wg.Wait()

		ids := map[string]int{}
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("call %d: %v", i, r.err)
			}
			if r.ok == tuned(i) {
				t.Errorf("call %d for %s: stored %v, want %v", i, user(i), r.ok, !tuned(i))
			}
			if !r.ok {
				continue
			}
			if j, dup := ids[r.n.ID]; dup {
				t.Errorf("calls %d and %d both got id %s", j, i, r.n.ID)
			}
			ids[r.n.ID] = i
			if want := fmt.Sprintf("row %d", i); r.n.Payload.Title != want {
				t.Errorf("call %d got back %q, want its own row %q", i, r.n.Payload.Title, want)
			}
			got, err := s.Get(ctx, user(i), r.n.ID)
			if err != nil {
				t.Errorf("call %d: reading %s back: %v", i, r.n.ID, err)
			} else if got.Payload.Title != r.n.Payload.Title || got.Payload.Metadata["title"] != r.n.Payload.Title {
				t.Errorf("call %d: stored %q (metadata %v), want %q", i, got.Payload.Title, got.Payload.Metadata, r.n.Payload.Title)
			}
		}
		// Exactly once: the counts hold the rows the calls reported, no
		// more (a broadcast is in everybody's inbox, the warm-up's too).
		for i := range users {
			want := calls / users
			switch {
			case k.name == "broadcast":
				want = calls + 1
			case tuned(i):
				want = 0
			}
			if c, err := s.Count(ctx, user(i), notifications.Filter{}); err != nil || c != want {
				t.Errorf("Count(%s) = %d, %v; want %d", user(i), c, err, want)
			}
		}
		// The first call may have taken those queued by then into its
		// own batch.
		batched, retried := store.GroupCommitRows(s, k.name)
		if batched < calls-1 || retried != 0 {
			t.Errorf("%d rows committed in batches and %d run again alone; want at least the %d queued in batches, none alone", batched, retried, calls-1)
		}
	})
}

// A batch holding a row whose id is stored already fails as a whole; its
// rows then run one by one, so the duplicate alone gets ErrDuplicateID
// and every other row is stored once.
func TestGroupCommitPoisonedBatch(t *testing.T) {
	eachGroupKind(t, func(t *testing.T, s *store.Store, k groupKind) {
		ctx := t.Context()
		const good = 100
		u := "user:default/poison"
		stored := warm(t, s, k, u)
		q := watchQueue(t, s, k.name)
		release := holdWrites(t, s)
		results := make([]saveResult, good+1)
		var wg sync.WaitGroup
		start := func(i int, id string) {
			wg.Go(func() {
				r := &results[i]
				r.n, r.ok, r.err = k.save(ctx, s, id, u, fmt.Sprintf("row %d", i))
			})
		}
		// One call waits in the database; the duplicate queues first,
		// so it is in the next batch, then the others.
		start(0, "")
		q.running()
		poisoned := len(results) - 1
		start(poisoned, stored.ID)
		q.until(1)
		for i := 1; i < poisoned; i++ {
			start(i, "")
		}
		q.until(good)
		release()
		wg.Wait()

		if err := results[poisoned].err; !errors.Is(err, store.ErrDuplicateID) {
			t.Errorf("the duplicate: %v, want ErrDuplicateID", err)
		}
		for i, r := range results[:poisoned] {
			if r.err != nil || !r.ok {
				t.Errorf("call %d: stored %v, %v; want stored", i, r.ok, r.err)
				continue
			}
			if got, err := s.Get(ctx, u, r.n.ID); err != nil || got.Payload.Title != fmt.Sprintf("row %d", i) {
				t.Errorf("call %d: read back %q, %v", i, got.Payload.Title, err)
			}
		}
		if got, err := s.Get(ctx, u, stored.ID); err != nil || got.Payload.Title != "warm" {
			t.Errorf("the row first stored with the duplicate's id: %q, %v; want it unchanged", got.Payload.Title, err)
		}
		if c, err := s.Count(ctx, u, notifications.Filter{}); err != nil || c != good+1 {
			t.Errorf("Count = %d, %v; want %d: the warm-up and every good row once", c, err, good+1)
		}
		batched, retried := store.GroupCommitRows(s, k.name)
		if retried == 0 || batched == 0 {
			t.Errorf("%d rows committed in batches, %d run again alone: want the duplicate's batch run again alone and a later batch committed", batched, retried)
		}
	})
}

// A queued call whose context ends before its batch starts withdraws:
// context.Canceled, and nothing stored for it; the others are stored.
func TestGroupCommitCancelQueued(t *testing.T) {
	eachGroupKind(t, func(t *testing.T, s *store.Store, k groupKind) {
		ctx := t.Context()
		u := "user:default/cancel"
		warm(t, s, k, u)
		q := watchQueue(t, s, k.name)
		release := holdWrites(t, s)
		var wg sync.WaitGroup
		others := make([]saveResult, 2)
		start := func(i int) {
			wg.Go(func() {
				r := &others[i]
				r.n, r.ok, r.err = k.save(ctx, s, "", u, fmt.Sprintf("row %d", i))
			})
		}
		start(0)
		q.running() // in the database, past taking what queued
		start(1)
		q.until(1)
		cctx, cancel := context.WithCancel(ctx)
		id := uuid.New()
		cancelled := make(chan error, 1)
		go func() {
			_, _, err := k.save(cctx, s, id, u, "cancelled")
			cancelled <- err
		}()
		q.until(2)
		cancel()
		select {
		case err := <-cancelled:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled while queued: %v, want context.Canceled", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a queued call did not withdraw when its context ended")
		}
		release()
		wg.Wait()
		for i, r := range others {
			if r.err != nil || !r.ok {
				t.Errorf("call %d: stored %v, %v; want stored", i, r.ok, r.err)
			}
		}
		if _, err := s.Get(ctx, u, id); !errors.Is(err, notifications.ErrNotFound) {
			t.Errorf("the withdrawn call's row: %v, want ErrNotFound", err)
		}
		if c, err := s.Count(ctx, u, notifications.Filter{}); err != nil || c != 3 {
			t.Errorf("Count = %d, %v; want 3: the warm-up and the two others", c, err)
		}
	})
}
