package store

// The slack_message_timestamps table stays in the store's migrations (see
// the package doc): these three methods are slack.TimestampStore.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SlackTimestamp returns the Slack message timestamp stored for a scoped
// notification's (origin, scope) in a Slack channel, so the Slack
// processor can update that message instead of posting a new one. ok is
// false when none is stored.
func (s *Store) SlackTimestamp(ctx context.Context, origin, scope, channel string) (ts string, ok bool, err error) {
	b := newStmt(s.d, 128)
	b.raw("SELECT ts FROM slack_message_timestamps WHERE origin = ").str(origin).
		raw(" AND scope = ").str(scope).raw(" AND channel = ").str(channel)
	err = s.read(ctx, func() error { return s.queryRow(ctx, b, &ts) })
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("store: slack timestamp: %w", err)
	}
	return ts, true, nil
}

// PutSlackTimestamp stores (or replaces) the message timestamp ts of
// (origin, scope) in channel, recorded at at.
func (s *Store) PutSlackTimestamp(ctx context.Context, origin, scope, channel, ts string, at time.Time) error {
	if err := checkTime("slack timestamp time", at); err != nil {
		return fmt.Errorf("store: put slack timestamp: %w", err)
	}
	b := newStmt(s.d, 256)
	b.raw("INSERT INTO slack_message_timestamps (origin, scope, channel, ts, created_at) VALUES (").
		str(origin).raw(", ").str(scope).raw(", ").str(channel).raw(", ").str(ts).raw(", ").time(at).
		raw(") ON CONFLICT (origin, scope, channel) DO UPDATE SET ts = excluded.ts, created_at = excluded.created_at")
	if err := s.writeOnce(ctx, func() error { return s.exec(ctx, s.db, b) }); err != nil {
		return fmt.Errorf("store: put slack timestamp: %w", err)
	}
	return nil
}

// DeleteSlackTimestampsBefore deletes the timestamps recorded strictly
// before before and returns how many it deleted.
func (s *Store) DeleteSlackTimestampsBefore(ctx context.Context, before time.Time) (int, error) {
	if !before.After(minTime) {
		return 0, nil // nothing kept is before year 1
	}
	// created_at < ceilMS(before), in the kept range.
	last := maxTime
	if !before.After(maxTime) {
		last = ceilMS(before).Add(-time.Millisecond)
	}
	b := newStmt(s.d, 128)
	b.raw("DELETE FROM slack_message_timestamps WHERE created_at <= ").time(last)
	n, err := s.execAffected(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("store: delete slack timestamps: %w", err)
	}
	return int(n), nil
}
