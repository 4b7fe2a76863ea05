package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/notifications"
)

// Inbox states: read, saved, seen, archived and snoozed, each a nullable
// time on the user's notification row or on the user's status row of a
// broadcast, and changed, the time of the last state change, which
// ChangedSince compares. The visibility rule (hidden iff archived or
// snoozed) is in query.go (visible, hidden).

// SetSeen implements notifications.Store.
func (s *Store) SetSeen(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error {
	if err := s.setState(ctx, "seen", user, ids, at, now); err != nil {
		return fmt.Errorf("store: set seen: %w", err)
	}
	return nil
}

// SetArchived implements notifications.Store.
func (s *Store) SetArchived(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error {
	if err := s.setState(ctx, "archived", user, ids, at, now); err != nil {
		return fmt.Errorf("store: set archived: %w", err)
	}
	return nil
}

// SetSnoozed implements notifications.Store.
func (s *Store) SetSnoozed(ctx context.Context, user string, ids []string, until *time.Time, now time.Time) error {
	if err := s.setState(ctx, "snoozed_until", user, ids, until, now); err != nil {
		return fmt.Errorf("store: set snoozed: %w", err)
	}
	return nil
}

// setState sets one state column for ids, and changed to now: on the
// user's own notifications, and on the user's status rows of broadcasts,
// creating them as needed (the other columns stay as they were, NULL for
// a new row). Setting read sets seen too where it is not set.
func (s *Store) setState(ctx context.Context, column, user string, ids []string, at *time.Time, now time.Time) error {
	if at != nil {
		if err := checkTime(column, *at); err != nil {
			return err
		}
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	ids = validIDs(ids)
	if len(ids) == 0 {
		return nil
	}
	impliesSeen := column == "read" && at != nil
	own := newStmt(s.d, 256)
	own.raw("UPDATE notification SET ").raw(column).raw(" = ").optTime(at)
	if impliesSeen {
		own.raw(", seen = COALESCE(seen, ").optTime(at).raw(")")
	}
	own.raw(", changed = ").time(now).raw(` WHERE "user" = `).str(user).raw(" AND id IN ").strList(ids)
	bc := newStmt(s.d, 384)
	if at == nil {
		bc.raw("UPDATE broadcast_user_status SET ").raw(column).raw(" = NULL, changed = ").time(now).
			raw(` WHERE "user" = `).str(user).raw(" AND broadcast_id IN ").strList(ids)
	} else {
		bc.raw(`INSERT INTO broadcast_user_status ("user", broadcast_id, `).raw(column)
		if impliesSeen {
			bc.raw(", seen")
		}
		bc.raw(", changed) SELECT ").str(user).raw(", b.id, ").optTime(at)
		if impliesSeen {
			bc.raw(", ").optTime(at)
		}
		bc.raw(", ").time(now).raw(" FROM broadcast b WHERE b.id IN ").strList(ids).
			raw(s.d.keyShare("b")).
			raw(` ON CONFLICT ("user", broadcast_id) DO UPDATE SET `).raw(column).raw(" = excluded.").raw(column)
		if impliesSeen {
			bc.raw(", seen = COALESCE(broadcast_user_status.seen, excluded.seen)")
		}
		bc.raw(", changed = excluded.changed")
	}
	return s.inTx(ctx, func(tx bun.Tx) error {
		if err := s.exec(ctx, tx, own); err != nil {
			return err
		}
		return s.exec(ctx, tx, bc)
	})
}

// MarkAllSeen implements notifications.Store. The ids come back in no
// particular order.
func (s *Store) MarkAllSeen(ctx context.Context, user string, nf notifications.Filter, at time.Time) ([]string, error) {
	ids, err := s.markAll(ctx, "seen", user, nf, at)
	if err != nil {
		return nil, fmt.Errorf("store: mark all seen: %w", err)
	}
	return ids, nil
}

// markAll sets column (read or seen), and changed, to at on every row of
// user that nf selects and whose column is not set, in one statement per
// table, and returns their ids. Setting read sets seen too where it is
// not set.
func (s *Store) markAll(ctx context.Context, column, user string, nf notifications.Filter, at time.Time) ([]string, error) {
	f := newFilter(nf)
	ids := []string{}
	state := &f.Read
	if column == "seen" {
		state = &f.Seen
	}
	if f.none || (*state != nil && **state) {
		return ids, nil
	}
	*state = nil // not set is the point
	if err := checkTime(column, at); err != nil {
		return nil, err
	}
	at = ms(at)
	impliesSeen := column == "read"

	own := newStmt(s.d, 512)
	own.raw("UPDATE notification SET ").raw(column).raw(" = ").time(at)
	if impliesSeen {
		own.raw(", seen = COALESCE(seen, ").time(at).raw(")")
	}
	own.raw(", changed = ").time(at)
	unset := column + " IS NULL"
	if column == "seen" { // reading implies seeing
		unset = "seen IS NULL AND read IS NULL"
	}
	s.where(own, whereOptions{side: sideNotification, user: user, filter: f, extra: []string{unset}})
	own.raw(" RETURNING id")

	bc := newStmt(s.d, 512)
	bc.raw(`INSERT INTO broadcast_user_status ("user", broadcast_id, `).raw(column)
	if impliesSeen {
		bc.raw(", seen")
	}
	bc.raw(", changed) SELECT ").str(user).raw(", b.id, ").time(at)
	if impliesSeen {
		bc.raw(", COALESCE(s.seen, ").time(at).raw(")")
	}
	bc.raw(", ").time(at)
	fromBroadcast(bc, user)
	bcUnset := "s." + column + " IS NULL"
	if column == "seen" {
		bcUnset = "s.seen IS NULL AND s.read IS NULL"
	}
	s.where(bc, whereOptions{side: sideBroadcast, user: user, filter: f, extra: []string{bcUnset}})
	bc.raw(s.d.keyShare("b")).
		raw(` ON CONFLICT ("user", broadcast_id) DO UPDATE SET `).raw(column).raw(" = excluded.").raw(column)
	if impliesSeen {
		bc.raw(", seen = excluded.seen")
	}
	bc.raw(", changed = excluded.changed WHERE broadcast_user_status.").raw(column).raw(" IS NULL")
	if column == "seen" {
		bc.raw(" AND broadcast_user_status.read IS NULL")
	}
	bc.raw(" RETURNING broadcast_id")

	err := s.inTx(ctx, func(tx bun.Tx) error {
		ids = ids[:0]
		for _, q := range []*stmt{own, bc} {
			got, err := s.queryStringsOn(ctx, tx, q)
			if err != nil {
				return err
			}
			ids = append(ids, got...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// WakeSnoozed implements notifications.Store: one conditional UPDATE per
// table, of at most limit due rows each (limit <= 0 means 1000). The
// snooze test is in the UPDATE's own WHERE, so that on PostgreSQL a
// concurrent waker that locked a row first leaves it not due when this
// one gets it (PostgreSQL re-checks the WHERE of a row it waited for),
// and the RETURNING rows are exactly the ones this statement woke;
// SKIP LOCKED lets concurrent wakers take different rows rather than
// queue. SQLite runs one writer at a time.
func (s *Store) WakeSnoozed(ctx context.Context, now time.Time, limit int) ([]notifications.Woken, error) {
	if err := checkTime("now", now); err != nil {
		return nil, fmt.Errorf("store: wake snoozed: %w", err)
	}
	if limit <= 0 {
		limit = defaultDeleteBatch
	}
	now = ms(now)
	lock := ""
	if s.d.skipLocked() {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	wake := func(b *stmt, table, key string) {
		b.raw("UPDATE ").raw(table).raw(" SET snoozed_until = NULL, read = NULL, seen = NULL, changed = ").time(now).
			raw(" WHERE (").raw(key).raw(") IN (SELECT ").raw(key).raw(" FROM ").raw(table).
			raw(" WHERE snoozed_until <= ").time(now).raw(" ORDER BY snoozed_until LIMIT ").int(limit).raw(lock).
			raw(") AND snoozed_until <= ").time(now)
	}
	own := newStmt(s.d, 384)
	wake(own, "notification", "id")
	own.raw(` RETURNING "user", id, archived`)
	bc := newStmt(s.d, 384)
	wake(bc, "broadcast_user_status", `"user", broadcast_id`)
	bc.raw(` RETURNING "user", broadcast_id, archived`)

	var out []notifications.Woken
	err := s.inTx(ctx, func(tx bun.Tx) error {
		out = out[:0]
		for i, q := range []*stmt{own, bc} {
			rows, err := s.query(ctx, tx, q)
			if err != nil {
				return err
			}
			for rows.Next() {
				var (
					w        notifications.Woken
					archived nullTime
				)
				if err := rows.Scan(&w.User, &w.ID, &archived); err != nil {
					rows.Close()
					return err
				}
				if !archived.valid {
					w.Broadcast = i == 1
					out = append(out, w)
				}
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: wake snoozed: %w", err)
	}
	if out == nil {
		out = []notifications.Woken{}
	}
	return out, nil
}

// NextSnoozeDue implements notifications.Store, off the snooze indexes.
func (s *Store) NextSnoozeDue(ctx context.Context) (time.Time, bool, error) {
	b := newStmt(s.d, 192)
	b.raw("SELECT (SELECT MIN(snoozed_until) FROM notification WHERE snoozed_until IS NOT NULL), " +
		"(SELECT MIN(snoozed_until) FROM broadcast_user_status WHERE snoozed_until IS NOT NULL)")
	var own, bc nullTime
	if err := s.read(ctx, func() error { return s.queryRow(ctx, b, &own, &bc) }); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next snooze due: %w", err)
	}
	switch {
	case own.valid && bc.valid && bc.t.Before(own.t):
		return bc.t, true, nil
	case own.valid:
		return own.t, true, nil
	case bc.valid:
		return bc.t, true, nil
	}
	return time.Time{}, false, nil
}
