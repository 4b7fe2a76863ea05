package slack

import (
	"context"
	"sync"
	"time"
)

// TimestampStore remembers the Slack message a scoped notification was
// posted as, so a scoped re-send edits that message instead of posting a
// new one. Keys are (origin, scope, channel), channel being the target the
// processor posted to (a channel id or name, or a Slack user id for a
// direct message). Values are opaque to the store.
//
// The processor also records there, under an empty origin and a scope
// "herald-delivery:" and the delivery's message id, each post a delivery
// made, so that a retried delivery does not post twice (a scoped
// notification's own keys always have an origin). Those entries expire
// with the others, after TimestampTTL.
//
// Herald's bun store, [github.com/heraldhq/herald/store.Store], implements
// it durably, shared by every instance on one database; NewMemoryTimestamps
// is the in-process default. Implementations are safe for concurrent use,
// and package slacktest checks one against this contract.
type TimestampStore interface {
	// SlackTimestamp returns the stored value, ok false when there is none.
	SlackTimestamp(ctx context.Context, origin, scope, channel string) (ts string, ok bool, err error)
	// PutSlackTimestamp stores ts for the key, replacing an older value,
	// with at as its time.
	PutSlackTimestamp(ctx context.Context, origin, scope, channel, ts string, at time.Time) error
	// DeleteSlackTimestampsBefore removes values stored before before and
	// returns how many it removed.
	DeleteSlackTimestampsBefore(ctx context.Context, before time.Time) (int, error)
}

// MemoryTimestamps is a TimestampStore in memory: scoped updates work
// within one process and are forgotten on restart. The zero value is not
// usable; call NewMemoryTimestamps.
type MemoryTimestamps struct {
	mu sync.Mutex
	m  map[timestampKey]storedTimestamp
}

type timestampKey struct{ origin, scope, channel string }

type storedTimestamp struct {
	ts string
	at time.Time
}

var _ TimestampStore = (*MemoryTimestamps)(nil)

// NewMemoryTimestamps returns an empty in-memory store.
func NewMemoryTimestamps() *MemoryTimestamps {
	return &MemoryTimestamps{m: make(map[timestampKey]storedTimestamp)}
}

// SlackTimestamp implements TimestampStore.
func (s *MemoryTimestamps) SlackTimestamp(ctx context.Context, origin, scope, channel string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[timestampKey{origin, scope, channel}]
	return v.ts, ok, nil
}

// PutSlackTimestamp implements TimestampStore.
func (s *MemoryTimestamps) PutSlackTimestamp(ctx context.Context, origin, scope, channel, ts string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[timestampKey{origin, scope, channel}] = storedTimestamp{ts: ts, at: at}
	return nil
}

// DeleteSlackTimestampsBefore implements TimestampStore.
func (s *MemoryTimestamps) DeleteSlackTimestampsBefore(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.m {
		if v.at.Before(before) {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}
