package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Digests: a digest is a delivery row of its processor for its user whose
// digest_id is its own id and whose notification_id is its own id too (it
// delivers several); digest_state is 'open' while sends may join it and
// 'frozen' from its first claim on. A notification held for it is an
// ordinary delivery row with digest_id pointing at it, pending with a
// NULL next_attempt, which the claim's range on delivery_due_idx never
// reaches. So leases, retries, RequeueDelivery, listing and retention
// apply to a digest as to any delivery, and DeleteOlderThan deletes a
// held member with its notification.
//
// Joining is one upsert on delivery_digest_open_idx (at most one open
// digest per user and processor), in the send's transaction: it returns
// the open digest's id, or opens one due at the send's Created plus the
// window. Claiming a digest freezes it, so later sends open a new one,
// and moves the members beyond its max items, newest first, to new
// frozen digests due at once, all in the claim's transaction. Its outcome
// is applied to its members in FinishDelivery's transaction.

// maxDigestItems caps DigestConfig.MaxItems: a claim reads a digest's
// members in one statement.
const maxDigestItems = notifications.MaxDigestItems

// digestKey is the (user, processor) of one open digest.
type digestKey struct{ user, processor string }

// openDigests joins each held row of rows to its user's open digest of
// its processor, opening the digests that do not exist, and sets its
// digestID. Digests are upserted in (user, processor) order, before any
// member row, so concurrent sends to the same users lock them in one
// order (PostgreSQL), and a claim, which skips locked rows, never freezes
// a digest that a send in flight is joining.
func (w *deliveryWrite) openDigests(ctx context.Context, s *Store, tx bun.IDB, rows []deliveryRow, broadcast bool) error {
	var keys []digestKey
	cfg := map[digestKey]*notifications.DigestConfig{}
	for i := range rows {
		r := &rows[i]
		if r.d.digest == nil {
			continue
		}
		if broadcast || r.user == "" {
			return fmt.Errorf("%w: a broadcast's delivery cannot be held for a digest", notifications.ErrInvalid)
		}
		k := digestKey{r.user, r.d.processor}
		if _, ok := cfg[k]; !ok {
			cfg[k] = r.d.digest
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b digestKey) int {
		return cmp.Or(strings.Compare(a.user, b.user), strings.Compare(a.processor, b.processor))
	})
	ids := make(map[digestKey]string, len(keys))
	var err error
	for start := 0; start < len(keys); start += maxBatchRows {
		batch := keys[start:min(start+maxBatchRows, len(keys))]
		b := newStmt(s.d, 128+len(batch)*256)
		b.raw(`INSERT INTO delivery (id, send_id, notification_id, "user", processor, next_attempt, created, updated, digest_id, digest_state, digest_max) VALUES `)
		for i, k := range batch {
			c := cfg[k]
			id := uuid.New()
			if i > 0 {
				b.raw(", ")
			}
			b.raw("(").str(id).raw(", ").str(w.sendID).raw(", ").str(id).raw(", ").str(k.user).raw(", ").str(k.processor).
				raw(", ").time(ceilMS(w.created.Add(c.Window))).raw(", ").time(w.created).raw(", ").time(w.created).
				raw(", ").str(id).raw(", 'open', ").int(c.MaxItems).raw(")")
		}
		var rs *sql.Rows
		if s.d.skipLocked() {
			// The no-op update takes the open digest's row lock, so no
			// claim freezes it before this send commits, and returns its
			// id.
			b.raw(` ON CONFLICT ("user", processor) WHERE digest_state = 'open' DO UPDATE SET updated = delivery.updated RETURNING id, "user", processor`)
			rs, err = s.query(ctx, tx, b)
		} else {
			// One writer at a time: no claim runs before this send
			// commits, and a read finds the open digests without writing
			// them again.
			b.raw(` ON CONFLICT ("user", processor) WHERE digest_state = 'open' DO NOTHING`)
			if err = s.exec(ctx, tx, b); err == nil {
				q := newStmt(s.d, 128+len(batch)*64)
				q.raw(`SELECT id, "user", processor FROM delivery WHERE digest_state = 'open' AND ("user", processor) IN (VALUES `)
				for i, k := range batch {
					if i > 0 {
						q.raw(", ")
					}
					q.raw("(").str(k.user).raw(", ").str(k.processor).raw(")")
				}
				q.raw(")")
				rs, err = s.query(ctx, tx, q)
			}
		}
		if err != nil {
			return err
		}
		for rs.Next() {
			var id string
			var k digestKey
			if err := rs.Scan(&id, &k.user, &k.processor); err != nil {
				rs.Close()
				return err
			}
			ids[k] = strings.ToLower(id)
		}
		if err := errors.Join(rs.Err(), rs.Close()); err != nil {
			return err
		}
	}
	for i := range rows {
		if r := &rows[i]; r.d.digest != nil {
			if r.digestID = ids[digestKey{r.user, r.d.processor}]; r.digestID == "" {
				return fmt.Errorf("digest of %s for %s: not returned by its upsert", r.d.processor, r.user)
			}
		}
	}
	return nil
}

// digestMember is one member row a claim read.
type digestMember struct {
	id, digestID, notifID string
	snapshot              nullBytes
}

// claimDigests completes the claims of the digests in got, which the
// claim's UPDATE froze: it moves each one's members beyond its max items
// to new frozen digests due at now, and reads the members' notifications
// into the claims.
func (s *Store) claimDigests(ctx context.Context, tx bun.IDB, got []claimed, now time.Time) error {
	var ids []string
	byID := map[string]*claimed{}
	for i := range got {
		if c := &got[i]; c.claim.Delivery.IsDigest() {
			ids = append(ids, c.claim.Delivery.ID)
			byID[c.claim.Delivery.ID] = c
			c.claim.Digest = []notifications.DigestMember{}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// The members: held ones, and those of a requeued digest that took
	// its failure (or cancellation, which the status leaves out), never
	// one that runs, or ran, on its own.
	b := newStmt(s.d, 512)
	b.raw("SELECT id, digest_id, notification_id, snapshot FROM delivery WHERE digest_id IS NOT NULL AND digest_id IN ").strList(ids).
		raw(" AND id <> digest_id AND next_attempt IS NULL AND lease_token IS NULL AND status IN ('pending', 'failed')").
		raw(" ORDER BY digest_id, created, id")
	rows, err := s.query(ctx, tx, b)
	if err != nil {
		return err
	}
	members := map[string][]digestMember{}
	for rows.Next() {
		var m digestMember
		if err := rows.Scan(&m.id, &m.digestID, &m.notifID, &m.snapshot); err != nil {
			rows.Close()
			return err
		}
		m.id, m.digestID = strings.ToLower(m.id), strings.ToLower(m.digestID)
		members[m.digestID] = append(members[m.digestID], m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	var read []claimed
	for _, id := range ids {
		c := byID[id]
		ms := members[id]
		if max := c.digestMax; max > 0 && len(ms) > max {
			if err := s.splitDigest(ctx, tx, c, ms[max:], max, now); err != nil {
				return err
			}
			ms = ms[:max]
			members[id] = ms
		}
		for _, m := range ms {
			var mc claimed
			mc.claim.Delivery.NotificationID, mc.snapshot = m.notifID, m.snapshot
			read = append(read, mc)
		}
	}
	stored, err := s.claimNotifications(ctx, tx, read)
	if err != nil {
		return err
	}
	for _, id := range ids {
		c := byID[id]
		for _, m := range members[id] {
			dm := notifications.DigestMember{DeliveryID: m.id}
			switch {
			case m.snapshot.b != nil:
				var n notifications.Notification
				if err := json.Unmarshal(m.snapshot.b, &n); err != nil {
					return fmt.Errorf("delivery %s: snapshot: %w", m.id, err)
				}
				dm.Notification = &n
			default:
				if n, ok := stored[m.notifID]; ok {
					dm.Notification = &n
				}
			}
			c.claim.Digest = append(c.claim.Digest, dm)
		}
	}
	return nil
}

// splitDigest moves extra, the members of c beyond its max items, to
// new frozen digests of at most max members each, due at now.
func (s *Store) splitDigest(ctx context.Context, tx bun.IDB, c *claimed, extra []digestMember, max int, now time.Time) error {
	d := c.claim.Delivery
	for start := 0; start < len(extra); start += max {
		chunk := extra[start:min(start+max, len(extra))]
		id := uuid.New()
		ins := newStmt(s.d, 512)
		ins.raw(`INSERT INTO delivery (id, send_id, notification_id, "user", processor, next_attempt, created, updated, digest_id, digest_state, digest_max) VALUES (`).
			str(id).raw(", ").str(c.sendID).raw(", ").str(id).raw(", ").str(d.User).raw(", ").str(d.Processor).raw(", ").
			time(now).raw(", ").time(now).raw(", ").time(now).raw(", ").str(id).raw(", 'frozen', ").int(max).raw(")")
		if err := s.exec(ctx, tx, ins); err != nil {
			return err
		}
		memberIDs := make([]string, len(chunk))
		for i, m := range chunk {
			memberIDs[i] = m.id
		}
		mv := newStmt(s.d, 128+40*len(chunk))
		mv.raw("UPDATE delivery SET digest_id = ").str(id).raw(", updated = ").time(now).raw(" WHERE id IN ").strList(memberIDs)
		if err := s.exec(ctx, tx, mv); err != nil {
			return err
		}
	}
	return nil
}

// finishDigest records a digest's outcome on tx, then applies it to its
// members: the skipped ones cancelled, the others given a final status
// (with the digest's attempts and error), or left held while it retries.
func (s *Store) finishDigest(ctx context.Context, b *stmt, o notifications.DeliveryOutcome, now time.Time) (notifications.Delivery, error) {
	var d notifications.Delivery
	skipped := validIDs(o.Skipped)
	err := s.inTx(ctx, func(tx bun.Tx) error {
		text, err := b.sql(s.db.QueryGen())
		if err != nil {
			return err
		}
		if d, err = scanDelivery(tx.QueryRowContext(ctx, text)); err != nil {
			return err
		}
		members := func(m *stmt) {
			m.raw(" WHERE digest_id = ").str(d.ID).raw(" AND id <> digest_id AND next_attempt IS NULL AND lease_token IS NULL").
				raw(" AND status IN ('pending', 'failed')")
		}
		if len(skipped) > 0 {
			m := newStmt(s.d, 256+40*len(skipped))
			m.raw("UPDATE delivery SET status = 'cancelled', updated = ").time(now)
			members(m)
			m.raw(" AND id IN ").strList(skipped)
			if err := s.exec(ctx, tx, m); err != nil {
				return err
			}
		}
		if !d.Status.Final() {
			return nil
		}
		m := newStmt(s.d, 512)
		m.raw("UPDATE delivery SET status = ").str(string(d.Status)).raw(", attempts = ").int(d.Attempts).
			raw(", last_error = ").optStr(cleanError(d.LastError)).raw(", updated = ").time(now)
		members(m)
		return s.exec(ctx, tx, m)
	})
	return d, err
}
