package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/uuid"
)

// Dead-owner recovery on SQLite. A Store on a SQLite file holds, for its
// lifetime, an exclusive lock (flock) on a file beside the database,
// "<database>-herald-<owner>.lock", where owner is the Store's own random
// id, written into lease_owner by each claim. The operating system drops
// the lock when the process dies, however it dies. A claim looks, at most
// every recoverEvery of its clock, at the owners of the deliveries leased
// now: an owner other than itself whose lock file it can lock is gone, so
// its deliveries are made due at once (their lease tokens cleared, which
// fences the dead attempts) and its lock file removed. A live owner's
// lock cannot be taken, so its leases are never touched; an owner without
// a lock file (removed by hand) keeps its leases until they run out.
//
// PostgreSQL needs none of this: there, several instances share the
// database and take over one another's deliveries when leases run out.

// recoverEvery is how often, by the claimer's clock, a claim looks for
// dead owners.
const recoverEvery = 5 * time.Second

// leaseLocks is a SQLite file Store's lock file and recovery state.
type leaseLocks struct {
	dbPath string
	owner  string
	own    *os.File // flocked for the Store's lifetime

	mu        sync.Mutex
	lastCheck time.Time // of the claimer's clock; zero before the first
}

func lockPath(dbPath, owner string) string { return dbPath + "-herald-" + owner + ".lock" }

// openLeaseLocks takes the Store's lock file beside its SQLite database
// file, and removes the lock files of dead owners that hold no lease. It
// returns nil for an in-memory database, or where the platform has no
// flock.
func openLeaseLocks(ctx context.Context, s *Store) (*leaseLocks, error) {
	if !flockSupported {
		return nil, nil
	}
	path, err := sqliteFile(ctx, s.db)
	if err != nil || path == "" {
		return nil, err
	}
	own, err := lockOwn(lockPath(path, s.owner))
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	l := &leaseLocks{dbPath: path, owner: s.owner, own: own}
	l.sweep(ctx, s)
	return l, nil
}

// sqliteFile returns the file of the main database, "" when it has none
// (in memory).
func sqliteFile(ctx context.Context, db *bun.DB) (string, error) {
	rows, err := db.DB.QueryContext(ctx, "PRAGMA database_list")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq        int
			name, file string
		)
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return "", err
		}
		if name == "main" {
			return file, rows.Err()
		}
	}
	return "", rows.Err()
}

// lockOwn creates and locks the Store's own lock file. Only this Store
// ever creates that path, but another Store's sweep may lock it for a
// moment, or remove it between our open and our lock: then try again.
func lockOwn(path string) (*os.File, error) {
	for attempt := 1; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		locked, err := tryLock(f)
		if err == nil && locked {
			fi, ferr := f.Stat()
			pi, perr := os.Stat(path)
			if ferr == nil && perr == nil && os.SameFile(fi, pi) {
				return f, nil
			}
		}
		f.Close()
		if err != nil {
			return nil, err
		}
		if attempt == 20 {
			return nil, errors.New("another process keeps locking " + path)
		}
		time.Sleep(time.Millisecond)
	}
}

// ownerLock is a dead owner's lock file, held while its deliveries are
// made due.
type ownerLock struct {
	path string
	f    *os.File
}

// releaseLocks unlocks locks, removing their files first when remove is
// set (the dead owners' deliveries are committed as due).
func releaseLocks(locks []*ownerLock, remove bool) {
	for _, l := range locks {
		if remove {
			os.Remove(l.path)
		}
		l.f.Close()
	}
}

// tryOwner locks owner's lock file if its holder is gone: nil when the
// file is missing or a live Store holds it.
func (l *leaseLocks) tryOwner(owner string) *ownerLock {
	path := lockPath(l.dbPath, owner)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	if locked, err := tryLock(f); err != nil || !locked {
		f.Close()
		return nil
	}
	return &ownerLock{path: path, f: f}
}

// recoverDead makes the deliveries leased by dead owners due at now, on
// tx, at most every recoverEvery of now. It returns the dead owners'
// locks, still held: the caller removes the files once tx has committed.
func (l *leaseLocks) recoverDead(ctx context.Context, s *Store, tx bun.IDB, now time.Time) ([]*ownerLock, error) {
	l.mu.Lock()
	if !l.lastCheck.IsZero() && !now.Before(l.lastCheck) && now.Sub(l.lastCheck) < recoverEvery {
		l.mu.Unlock()
		return nil, nil
	}
	l.lastCheck = now
	l.mu.Unlock()

	q := newStmt(s.d, 256)
	q.raw("SELECT DISTINCT lease_owner FROM delivery WHERE ").raw(activeStatuses).raw(" AND next_attempt > ").time(now).
		raw(" AND lease_token IS NOT NULL AND lease_owner IS NOT NULL")
	rows, err := s.query(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	var owners []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return nil, err
		}
		if o != l.owner && uuid.Valid(o) {
			owners = append(owners, o)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	var dead []*ownerLock
	for _, o := range owners {
		lock := l.tryOwner(o)
		if lock == nil {
			continue
		}
		dead = append(dead, lock)
		b := newStmt(s.d, 256)
		b.raw("UPDATE delivery SET next_attempt = ").time(now).raw(", lease_token = NULL, lease_owner = NULL WHERE ").
			raw(activeStatuses).raw(" AND next_attempt > ").time(now).raw(" AND lease_owner = ").str(o)
		if err := s.exec(ctx, tx, b); err != nil {
			releaseLocks(dead, false)
			return nil, err
		}
	}
	return dead, nil
}

// sweep removes the lock files of dead owners that hold no lease any
// more (a process that crashed with nothing in flight), so they do not
// pile up. Those of dead owners with leases are left for recoverDead,
// which runs on the claimer's clock. Errors only leave files behind.
func (l *leaseLocks) sweep(ctx context.Context, s *Store) {
	dir, base := filepath.Split(l.dbPath)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return
	}
	prefix := base + "-herald-"
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".lock") || e.Type()&fs.ModeType != 0 {
			continue
		}
		owner := strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".lock")
		if owner == l.owner || !uuid.Valid(owner) {
			continue
		}
		lock := l.tryOwner(owner)
		if lock == nil {
			continue
		}
		leased, err := s.holdsLeases(ctx, owner)
		releaseLocks([]*ownerLock{lock}, err == nil && !leased)
	}
}

// holdsLeases reports whether owner holds the lease token of an active
// delivery, expired or not.
func (s *Store) holdsLeases(ctx context.Context, owner string) (bool, error) {
	b := newStmt(s.d, 256)
	b.raw("SELECT COUNT(*) FROM (SELECT 1 FROM delivery WHERE ").raw(activeStatuses).
		raw(" AND lease_token IS NOT NULL AND lease_owner = ").str(owner).raw(" LIMIT 1) t")
	var n int
	err := s.read(ctx, func() error { return s.queryRow(ctx, b, &n) })
	return n > 0, err
}

// close releases the Store's lock. Its file is removed when the Store
// holds no lease; otherwise it stays, unlocked, so the next claim on the
// database resumes those deliveries at once, as after a crash.
func (l *leaseLocks) close(ctx context.Context, s *Store) error {
	leased, err := s.holdsLeases(ctx, l.owner)
	if err == nil && !leased {
		os.Remove(l.own.Name())
	}
	return l.own.Close()
}
