package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Writing a send's deliveries: the herald_send row and one delivery row
// per (notification, post-processor), in the transaction of the
// notification rows and batched like them, with their values written
// inline (sqlBuf) for the same reason.

const deliveryInsert = `INSERT INTO delivery (id, send_id, notification_id, broadcast, "user", processor, next_attempt, snapshot, created, updated, digest_id) VALUES `

// deliveryUpsert replaces the active delivery of the same (notification,
// processor) in place, for a scoped re-send: same id; the new send's
// options and snapshot; generation+1 so that an attempt running the old
// content leaves its outcome unrecorded (FinishDelivery); pending again
// with attempts reset, due now, unless a lease holds it, which is kept
// with its end, so the new content never runs alongside the old.
// last_error is kept. A delivery held for a digest follows the new
// send: into the user's open digest (held, no next_attempt), or out of
// digests for a critical re-send.
const deliveryUpsert = ` ON CONFLICT (notification_id, processor) WHERE status IN ('pending', 'retrying') DO UPDATE SET ` +
	`send_id = excluded.send_id, snapshot = excluded.snapshot, "user" = excluded."user", ` +
	`generation = delivery.generation + 1, attempts = 0, status = 'pending', updated = excluded.updated, ` +
	`digest_id = excluded.digest_id, ` +
	`next_attempt = CASE WHEN excluded.digest_id IS NOT NULL THEN NULL ` +
	`WHEN delivery.lease_token IS NOT NULL AND delivery.next_attempt > excluded.next_attempt ` +
	`THEN delivery.next_attempt ELSE excluded.next_attempt END`

// deliveryWrite is a notifications.DeliveryWrite checked and encoded
// once, before the transaction: a transaction run again only rebuilds
// SQL.
type deliveryWrite struct {
	send    sendWrite
	sendID  string
	created time.Time // the send's: each delivery's created, updated and first due time
	ds      []newDelivery
}

// newDelivery is one notifications.NewDelivery, checked.
type newDelivery struct {
	id, processor string
	index         int // into the saved notifications; -1 for a snapshot
	// The snapshot's id, user and JSON, when index is -1.
	snapID, snapUser, snapshot string
	// digest, when set, holds the delivery for a digest.
	digest *notifications.DigestConfig
}

// prepareDeliveries checks w for a send of count notifications (a
// broadcast is one): ids are UUIDs (made when empty), times in range,
// indexes in range, processors named. Nothing is written yet.
func prepareDeliveries(d dialect, w *notifications.DeliveryWrite, count int, now time.Time) (*deliveryWrite, error) {
	sendID, err := checkID("send", w.Send.ID)
	if err != nil {
		return nil, err
	}
	created := w.Send.Created
	if created.IsZero() {
		created = now
	}
	if err := checkTime("send created", created); err != nil {
		return nil, err
	}
	created = ms(created)
	origin := w.Send.Origin
	if origin == "" {
		origin = w.Send.Options.Origin
	}
	send, err := prepareSend(d, &w.Send, sendID, origin, created)
	if err != nil {
		return nil, err
	}

	out := &deliveryWrite{send: send, sendID: sendID, created: created, ds: make([]newDelivery, len(w.Deliveries))}
	for i, nd := range w.Deliveries {
		id, err := checkID("delivery", nd.ID)
		if err != nil {
			return nil, err
		}
		if nd.Processor == "" {
			return nil, fmt.Errorf("%w: delivery %d has no processor", notifications.ErrInvalid, i)
		}
		if err := checkText(nd.Processor); err != nil {
			return nil, fmt.Errorf("delivery %d processor: %w", i, err)
		}
		dv := newDelivery{id: id, processor: nd.Processor, index: nd.Index, digest: nd.Digest}
		if c := nd.Digest; c != nil && (c.Window <= 0 || c.MaxItems <= 0 || c.MaxItems > maxDigestItems ||
			checkTime("digest due", created.Add(c.Window)) != nil) {
			return nil, fmt.Errorf("%w: delivery %d: digest window %s and max items %d must be positive (items at most %d, due before year 10000)",
				notifications.ErrInvalid, i, c.Window, c.MaxItems, maxDigestItems)
		}
		switch {
		case nd.Snapshot != nil:
			n, err := normalize(*nd.Snapshot, created)
			if err != nil {
				return nil, fmt.Errorf("delivery %d snapshot: %w", i, err)
			}
			js, err := json.Marshal(n)
			if err != nil {
				return nil, fmt.Errorf("%w: delivery %d snapshot: %w", notifications.ErrInvalid, i, err)
			}
			if err := checkText(n.User); err != nil {
				return nil, fmt.Errorf("delivery %d snapshot user: %w", i, err)
			}
			dv.index, dv.snapID, dv.snapUser, dv.snapshot = -1, n.ID, n.User, string(js)
		case nd.Index < 0 || nd.Index >= count:
			return nil, fmt.Errorf("%w: delivery %d has index %d, but the send saves %d notifications",
				notifications.ErrInvalid, i, nd.Index, count)
		}
		out.ds[i] = dv
	}
	return out, nil
}

// checkID returns id lower-cased, or a new UUID for "", or ErrInvalid.
func checkID(what, id string) (string, error) {
	switch {
	case id == "":
		return uuid.New(), nil
	case !uuid.Valid(id):
		return "", fmt.Errorf("%w: %s id %q is not a UUID", notifications.ErrInvalid, what, id)
	}
	return strings.ToLower(id), nil
}

// deliveryRow is one delivery row to insert, its notification resolved.
type deliveryRow struct {
	d         *newDelivery
	notifID   string
	user      string
	broadcast bool
	// upsert: the row may meet an active delivery of the same
	// (notification, processor): its notification is scoped (a re-send
	// may have updated a stored one), or the pair repeats in this send.
	upsert bool
	// digestID is the digest the row is held for, "" when it is due.
	digestID string
}

func (r *deliveryRow) key() deliveryKey { return deliveryKey{r.notifID, r.d.processor} }

type deliveryKey struct{ notification, processor string }

// write inserts the deliveries on tx, after the send row (writeSend).
// saved holds the stored notifications (for a broadcast, the stored
// broadcast), with the ids the store kept, so a delivery of a scoped
// notification points at the row it updated.
func (w *deliveryWrite) write(ctx context.Context, s *Store, tx bun.IDB, saved []notifications.Notification, broadcast bool) error {
	if err := w.send.writeResult(ctx, s, tx, saved); err != nil {
		return err
	}
	if len(w.ds) == 0 {
		return nil
	}
	rows := make([]deliveryRow, len(w.ds))
	for i := range w.ds {
		d := &w.ds[i]
		r := &rows[i]
		r.d = d
		if d.index < 0 {
			r.notifID, r.user = d.snapID, d.snapUser
		} else {
			n := &saved[d.index]
			r.notifID, r.user, r.broadcast = n.ID, n.User, broadcast
			r.upsert = n.Payload.Scope != ""
		}
	}
	if err := w.openDigests(ctx, s, tx, rows, broadcast); err != nil {
		return err
	}
	// A pair that repeats goes through the upsert, after its first
	// occurrence, like a re-send. One delivery per processor per
	// notification, the usual case, needs one map probe each.
	seen := make(map[deliveryKey]struct{}, len(rows))
	for i := range rows {
		r := &rows[i]
		if _, dup := seen[r.key()]; dup {
			r.upsert = true
		} else {
			seen[r.key()] = struct{}{}
		}
	}
	// Plain rows first, in id order: the primary key's index takes them
	// as one sweep rather than at random places (delivery ids are random),
	// which is fewer pages written. Then the upserts sorted by key, so
	// concurrent scoped sends to the same users lock the active rows in
	// one order and never deadlock (PostgreSQL), stable so a repeated pair
	// is applied in input order.
	order := make([]*deliveryRow, 0, len(rows))
	for i := range rows {
		if !rows[i].upsert {
			order = append(order, &rows[i])
		}
	}
	plain := len(order)
	slices.SortFunc(order, func(a, b *deliveryRow) int { return strings.Compare(a.d.id, b.d.id) })
	for i := range rows {
		if rows[i].upsert {
			order = append(order, &rows[i])
		}
	}
	slices.SortStableFunc(order[plain:], func(a, b *deliveryRow) int {
		return cmp.Or(strings.Compare(a.notifID, b.notifID), strings.Compare(a.d.processor, b.d.processor))
	})

	for start := 0; start < len(order); {
		upsert := start >= plain
		end := plain
		if upsert {
			end = len(order)
		}
		b, next := w.batch(s.d, order, start, end, upsert)
		if err := s.exec(ctx, tx, b); err != nil {
			return err
		}
		start = next
	}
	return nil
}

// batch builds one INSERT of order[start:end], all plain or all upserts,
// up to maxBatchRows rows or maxBatchBytes of text, and returns where the
// next one starts. The same pair twice in one upsert is an error on
// PostgreSQL, so a repeat ends the statement.
func (w *deliveryWrite) batch(d dialect, order []*deliveryRow, start, end int, upsert bool) (*sqlBuf, int) {
	b := newSQL(d, w.capacity(order[start], min(end-start, maxBatchRows)))
	b.raw(deliveryInsert)
	var keys map[deliveryKey]struct{}
	if upsert {
		keys = make(map[deliveryKey]struct{})
	}
	i := start
	for ; i < end && i-start < maxBatchRows && len(b.b) < maxBatchBytes; i++ {
		r := order[i]
		if upsert {
			if _, dup := keys[r.key()]; dup {
				break
			}
			keys[r.key()] = struct{}{}
		}
		if i > start {
			b.raw(", ")
		}
		due := &w.created
		if r.digestID != "" {
			due = nil // held for its digest
		}
		b.raw("(").str(r.d.id).raw(", ").str(w.sendID).raw(", ").str(r.notifID).raw(", ").bool(r.broadcast).
			raw(", ").str(r.user).raw(", ").str(r.d.processor).raw(", ").optTime(due).
			raw(", ").json(r.d.snapshot).raw(", ").time(w.created).raw(", ").time(w.created).raw(", ").optStr(r.digestID).raw(")")
	}
	if upsert {
		b.raw(deliveryUpsert)
	}
	return b, i
}

// capacity sizes a batch's buffer from its first row.
func (w *deliveryWrite) capacity(r *deliveryRow, rows int) int {
	// Quotes, separators, the booleans, three times and a digest id
	// take under 200 bytes a row.
	row := 200 + len(r.d.id) + len(w.sendID) + len(r.notifID) + len(r.user) + len(r.d.processor) + len(r.d.snapshot)
	rows = min(rows, maxBatchBytes/row+1)
	return len(deliveryInsert) + len(deliveryUpsert) + rows*row
}
