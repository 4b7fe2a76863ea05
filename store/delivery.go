package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Deliveries: a delivery is leased by a lease_token with next_attempt in
// the future, so "due" is one range of the partial index delivery_due_idx:
// status pending or retrying, next_attempt at or before now. A lease that
// runs out is due again, and the next claim's token fences the old
// holder: FinishDelivery and RenewDeliveryLease take effect only WHERE
// the token still matches.
//
// Each claim's token is the claim call's random token followed by the
// generation it claimed ("<uuid>.<generation>"): a scoped re-send keeps
// the lease but raises the generation, and FinishDelivery, seeing the
// generation moved, drops the old attempt's outcome and makes the
// delivery pending instead, so the new content runs next.

// activeStatuses is the predicate of delivery_active_idx and
// delivery_due_idx, written exactly as there so both databases see that
// a query's condition implies the index's.
const activeStatuses = "status IN ('pending', 'retrying')"

// finishedStatuses is the predicate of delivery_finished_idx.
const finishedStatuses = "status IN ('sent', 'failed', 'cancelled')"

// maxClaim caps ClaimDeliveries' Limit: one claim reads its sends and
// notifications with one IN list each.
const maxClaim = 1000

// deliveryColumns are a delivery as reads return it, with its send's
// origin (fromDeliveries joins it).
const deliveryColumns = `d.id, d.notification_id, d."user", s.origin, d.processor, d.status, d.attempts, d.last_error, d.next_attempt, d.created, d.updated, d.digest_id`

const fromDeliveries = ` FROM delivery d JOIN herald_send s ON s.id = d.send_id`

// returningDelivery is deliveryColumns for an UPDATE's RETURNING clause,
// which may name only the updated table: the origin comes from a scalar
// subquery, so an update and its read are one statement.
const returningDelivery = ` RETURNING id, notification_id, "user", (SELECT origin FROM herald_send WHERE herald_send.id = delivery.send_id), ` +
	`processor, status, attempts, last_error, next_attempt, created, updated, digest_id`

// scanDelivery reads one row of deliveryColumns.
func scanDelivery(rows interface{ Scan(...any) error }) (notifications.Delivery, error) {
	var (
		d                      notifications.Delivery
		status                 string
		lastError, digestID    sql.NullString
		next, created, updated nullTime
	)
	if err := rows.Scan(&d.ID, &d.NotificationID, &d.User, &d.Origin, &d.Processor, &status, &d.Attempts,
		&lastError, &next, &created, &updated, &digestID); err != nil {
		return d, err
	}
	d.Status, d.LastError, d.DigestID = notifications.DeliveryStatus(status), lastError.String, strings.ToLower(digestID.String)
	d.NextAttempt, d.Created, d.Updated = next.ptr(), created.t, updated.t
	return d, nil
}

// getDelivery reads one delivery on db; sql.ErrNoRows when there is none.
func (s *Store) getDelivery(ctx context.Context, db bun.IDB, id string) (notifications.Delivery, error) {
	b := newStmt(s.d, 256)
	b.raw("SELECT ").raw(deliveryColumns).raw(fromDeliveries).raw(" WHERE d.id = ").str(id)
	text, err := b.sql(s.db.QueryGen())
	if err != nil {
		return notifications.Delivery{}, err
	}
	return scanDelivery(db.QueryRowContext(ctx, text))
}

// GetDelivery implements notifications.Store. An id that is not a UUID is
// not found.
func (s *Store) GetDelivery(ctx context.Context, id string) (notifications.Delivery, error) {
	return getByID(ctx, s, "delivery", id, func(id string) (notifications.Delivery, error) { return s.getDelivery(ctx, s.db, id) })
}

// getByID reads, with read, the row id names (lower-cased: the stores
// keep UUIDs in lower case), retried as reads are. An id that is not a
// UUID, like one that names no row, is ErrNotFound; what names the
// table's rows in errors.
func getByID[T any](ctx context.Context, s *Store, what, id string, read func(id string) (T, error)) (T, error) {
	var v T
	if !uuid.Valid(id) {
		return v, fmt.Errorf("store: get %s %q: %w", what, id, notifications.ErrNotFound)
	}
	err := s.read(ctx, func() (err error) { v, err = read(strings.ToLower(id)); return err })
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return v, fmt.Errorf("store: get %s %s: %w", what, id, notifications.ErrNotFound)
	case err != nil:
		return v, fmt.Errorf("store: get %s: %w", what, err)
	}
	return v, nil
}

// listLimit is the row limit of a delivery or schedule list: limit, or
// notifications.DefaultDeliveryLimit when it is 0 or less, at most
// notifications.MaxDeliveryLimit.
func listLimit(limit int) int {
	if limit <= 0 {
		limit = notifications.DefaultDeliveryLimit
	}
	return min(limit, notifications.MaxDeliveryLimit)
}

// conds writes a WHERE clause one condition at a time: WHERE before the
// first, AND before the others.
type conds struct {
	b *stmt
	n int
}

func (c *conds) add(cond string) *stmt {
	if c.n == 0 {
		c.b.raw(" WHERE ")
	} else {
		c.b.raw(" AND ")
	}
	c.n++
	return c.b.raw(cond)
}

// ListDeliveries implements notifications.Store. A NotificationID that is
// not a UUID selects nothing; a Limit of 0 or less means
// notifications.DefaultDeliveryLimit, and one above
// notifications.MaxDeliveryLimit is cut to it. An unknown Status is
// refused with ErrInvalid.
func (s *Store) ListDeliveries(ctx context.Context, f notifications.DeliveryFilter) ([]notifications.Delivery, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, fmt.Errorf("store: list deliveries: %w: unknown status %q", notifications.ErrInvalid, f.Status)
	}
	if f.NotificationID != "" && !uuid.Valid(f.NotificationID) {
		return []notifications.Delivery{}, nil
	}
	limit := listLimit(f.Limit)
	b := newStmt(s.d, 512)
	b.raw("SELECT ").raw(deliveryColumns).raw(fromDeliveries)
	where := conds{b: b}
	if f.NotificationID != "" {
		ofNotifications(where.add("d.id IN "), []string{strings.ToLower(f.NotificationID)})
	}
	if f.Processor != "" {
		where.add("d.processor = ").str(f.Processor)
	}
	if f.Status != "" {
		where.add("d.status = ").str(string(f.Status))
	}
	if f.Origin != "" {
		where.add("s.origin = ").str(f.Origin)
	}
	b.raw(" ORDER BY d.created DESC, d.id DESC LIMIT ").int(limit)
	out, err := readRows(ctx, s, b, limit, func(rows *sql.Rows) (notifications.Delivery, error) { return scanDelivery(rows) })
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries: %w", err)
	}
	return out, nil
}

// ofNotifications writes a subquery for the ids of the deliveries of the
// notifications ids, in two parts so each reads its partial index:
// active deliveries from delivery_active_idx, finished ones from
// delivery_notification_idx.
func ofNotifications(b *stmt, ids []string) {
	b.raw("(SELECT id FROM delivery WHERE notification_id IN ").strList(ids).raw(" AND ").raw(activeStatuses).
		raw(" UNION ALL SELECT id FROM delivery WHERE notification_id IN ").strList(ids).raw(" AND ").raw(finishedStatuses).raw(")")
}

// claimColumns are what a claim returns of each delivery it leased.
var claimColumns = []string{"id", "send_id", "notification_id", "broadcast", `"user"`, "processor", "status",
	"attempts", "last_error", "next_attempt", "lease_token", "snapshot", "created", "updated", "digest_id", "digest_max"}

// claimed is one row a claim leased, before its send and notification
// are read.
type claimed struct {
	claim     notifications.DeliveryClaim
	sendID    string
	broadcast bool
	snapshot  nullBytes
	digestMax int // a digest's max items
}

// claimWindow checks o for a claim with a positive Limit and returns its
// time (o.Now, or the clock when zero) to the millisecond, the lease's end
// rounded up, and the limit capped at maxClaim. Deliveries and schedules
// claim by the same rules.
func claimWindow(o notifications.ClaimOptions) (now, until time.Time, limit int, err error) {
	if o.Lease <= 0 {
		return now, until, 0, fmt.Errorf("%w: lease %s is not positive", notifications.ErrInvalid, o.Lease)
	}
	now = o.Now
	if now.IsZero() {
		now = time.Now()
	}
	until = now.Add(o.Lease)
	if err := errors.Join(checkTime("now", now), checkTime("lease end", until)); err != nil {
		return now, until, 0, err
	}
	return ms(now), ceilMS(until), min(o.Limit, maxClaim), nil
}

// ClaimDeliveries implements notifications.Store. A Limit of 0 or less
// claims nothing; one above 1000 is cut to 1000. A zero Now means the
// current time; Lease must be positive (ErrInvalid otherwise). The lease
// ends at Now+Lease rounded up to the millisecond. Claims come back in no
// particular order. The claim and the reads of its sends and
// notifications are one transaction: a claim that fails leases nothing.
//
// On a SQLite file, a claim first resumes the deliveries leased by a
// Store that is gone (see the package doc), at most every few seconds of
// o.Now.
//
// Options and Notification of claims from one send may share maps and
// slices (the send's metadata, its refs): treat them as read-only.
func (s *Store) ClaimDeliveries(ctx context.Context, o notifications.ClaimOptions) ([]notifications.DeliveryClaim, error) {
	if o.Limit <= 0 {
		return []notifications.DeliveryClaim{}, nil
	}
	now, until, limit, err := claimWindow(o)
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries: %w", err)
	}
	token := uuid.New()

	var (
		out  []notifications.DeliveryClaim
		dead []*ownerLock
	)
	err = s.inTx(ctx, func(tx bun.Tx) error {
		releaseLocks(dead, false)
		dead = nil
		if s.leases != nil {
			var err error
			if dead, err = s.leases.recoverDead(ctx, s, tx, now); err != nil {
				return err
			}
		}
		var err error
		out, err = s.claim(ctx, tx, token, now, until, limit)
		return err
	})
	// A dead owner's lock file goes once its rows are committed as due;
	// after a failure it stays, for the next claim to find.
	releaseLocks(dead, err == nil)
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries: %w", err)
	}
	return out, nil
}

// claim leases up to limit due deliveries on tx and reads what their
// attempts need.
func (s *Store) claim(ctx context.Context, tx bun.IDB, token string, now, until time.Time, limit int) ([]notifications.DeliveryClaim, error) {
	b := newStmt(s.d, 1024)
	due := func() {
		b.raw("SELECT id FROM delivery WHERE ").raw(activeStatuses).raw(" AND next_attempt <= ").time(now).
			raw(" ORDER BY next_attempt LIMIT ").int(limit)
	}
	// A digest's token says so ("<uuid>.d<generation>"), for
	// FinishDelivery; its claim freezes it.
	set := func(prefix string) {
		b.raw(" SET lease_token = ").str(token + ".").raw(" || CASE WHEN ").raw(prefix).raw("digest_state IS NULL THEN '' ELSE 'd' END || CAST(").
			raw(prefix).raw("generation AS TEXT), lease_owner = ").
			str(s.owner).raw(", next_attempt = ").time(until).raw(", attempts = ").raw(prefix).raw("attempts + 1, updated = ").time(now).
			raw(", digest_state = CASE WHEN ").raw(prefix).raw("digest_state IS NULL THEN NULL ELSE 'frozen' END")
	}
	prefix := ""
	if s.d.skipLocked() {
		// Rows another claimer has locked are skipped, not waited for;
		// rows it has claimed and committed are no longer due when
		// PostgreSQL checks them again under the lock.
		prefix = "d."
		b.raw("WITH due AS (")
		due()
		b.raw(" FOR UPDATE SKIP LOCKED) UPDATE delivery d")
		set(prefix)
		b.raw(" FROM due WHERE d.id = due.id")
	} else {
		// One writer at a time: the subquery's rows are the claim's.
		b.raw("UPDATE delivery")
		set(prefix)
		b.raw(" WHERE id IN (")
		due()
		b.raw(")")
	}
	b.raw(" RETURNING ")
	for i, c := range claimColumns {
		if i > 0 {
			b.raw(", ")
		}
		b.raw(prefix).raw(c)
	}

	rows, err := s.query(ctx, tx, b)
	if err != nil {
		return nil, err
	}
	var got []claimed
	for rows.Next() {
		var (
			c                      claimed
			d                      = &c.claim.Delivery
			status                 string
			lastError, digestID    sql.NullString
			digestMax              sql.NullInt64
			next, created, updated nullTime
		)
		if err := rows.Scan(&d.ID, &c.sendID, &d.NotificationID, &c.broadcast, &d.User, &d.Processor, &status,
			&d.Attempts, &lastError, &next, &c.claim.Token, &c.snapshot, &created, &updated, &digestID, &digestMax); err != nil {
			rows.Close()
			return nil, err
		}
		d.Status, d.LastError = notifications.DeliveryStatus(status), lastError.String
		d.DigestID, c.digestMax = strings.ToLower(digestID.String), int(digestMax.Int64)
		d.NextAttempt, d.Created, d.Updated = next.ptr(), created.t, updated.t
		got = append(got, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	out := make([]notifications.DeliveryClaim, len(got))
	if len(got) == 0 {
		return out, nil
	}
	sends, err := s.claimSends(ctx, tx, got)
	if err != nil {
		return nil, err
	}
	stored, err := s.claimNotifications(ctx, tx, got)
	if err != nil {
		return nil, err
	}
	if err := s.claimDigests(ctx, tx, got, now); err != nil {
		return nil, err
	}
	for i := range got {
		c := &got[i]
		if snd, ok := sends[c.sendID]; ok {
			c.claim.Delivery.Origin, c.claim.Options, c.claim.TraceParent = snd.origin, snd.options, snd.traceParent
		}
		switch {
		case c.snapshot.b != nil:
			var n notifications.Notification
			if err := json.Unmarshal(c.snapshot.b, &n); err != nil {
				return nil, fmt.Errorf("delivery %s: snapshot: %w", c.claim.Delivery.ID, err)
			}
			c.claim.Notification = &n
		default:
			if n, ok := stored[c.claim.Delivery.NotificationID]; ok {
				c.claim.Notification = &n
			}
		}
		out[i] = c.claim
	}
	return out, nil
}

// sendRecord is what a claim takes from a herald_send row.
type sendRecord struct {
	origin, traceParent string
	options             notifications.SendOptions
}

// claimSends reads the send rows of claimed deliveries, decoding each
// send's options once.
func (s *Store) claimSends(ctx context.Context, tx bun.IDB, got []claimed) (map[string]sendRecord, error) {
	ids := make([]string, 0, len(got))
	seen := make(map[string]struct{}, len(got))
	for i := range got {
		if _, ok := seen[got[i].sendID]; !ok {
			seen[got[i].sendID] = struct{}{}
			ids = append(ids, got[i].sendID)
		}
	}
	b := newStmt(s.d, 128)
	b.raw("SELECT id, origin, options, trace_parent FROM herald_send WHERE id IN ").strList(ids)
	rows, err := s.query(ctx, tx, b)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]sendRecord, len(ids))
	for rows.Next() {
		var (
			id      string
			r       sendRecord
			options nullBytes
			trace   sql.NullString
		)
		if err := rows.Scan(&id, &r.origin, &options, &trace); err != nil {
			return nil, err
		}
		if r.options, err = decodeOptions(options.b); err != nil {
			return nil, fmt.Errorf("send %s: options: %w", id, err)
		}
		r.options.Origin, r.traceParent = r.origin, trace.String
		out[id] = r
	}
	return out, rows.Err()
}

// decodeOptions decodes a send's options as SaveNotifications encoded
// them. Recipients and Payload decode strictly (internal/jsonvalue), so
// metadata numbers are json.Number with every digit; empty ref lists come
// back nil, as the send most likely had them.
func decodeOptions(js []byte) (notifications.SendOptions, error) {
	var o notifications.SendOptions
	if err := json.Unmarshal(js, &o); err != nil {
		return o, err
	}
	if len(o.Recipients.EntityRefs) == 0 {
		o.Recipients.EntityRefs = nil
	}
	if len(o.Recipients.ExcludeEntityRefs) == 0 {
		o.Recipients.ExcludeEntityRefs = nil
	}
	return o, nil
}

// claimNotifications reads the stored notifications and broadcasts of
// claimed deliveries that have no snapshot: a user notification as its
// user sees it, a broadcast as stored (no user's state). What is gone is
// absent.
func (s *Store) claimNotifications(ctx context.Context, tx bun.IDB, got []claimed) (map[string]notifications.Notification, error) {
	var own, broadcasts []string
	for i := range got {
		switch c := &got[i]; {
		case c.snapshot.b != nil, c.claim.Delivery.IsDigest():
		case c.broadcast:
			broadcasts = append(broadcasts, c.claim.Delivery.NotificationID)
		default:
			own = append(own, c.claim.Delivery.NotificationID)
		}
	}
	out := make(map[string]notifications.Notification, len(own)+len(broadcasts))
	read := func(b *stmt) error {
		rows, err := s.query(ctx, tx, b)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var user sql.NullString
			n, err := scanNotification(rows, "", &user)
			if err != nil {
				return err
			}
			n.User = user.String
			out[n.ID] = n
		}
		return rows.Err()
	}
	if len(own) > 0 {
		b := newStmt(s.d, 256)
		b.raw("SELECT ").raw(notificationColumns).raw(`, "user" FROM notification WHERE id IN `).strList(validIDs(own))
		if err := read(b); err != nil {
			return nil, err
		}
	}
	if len(broadcasts) > 0 {
		b := newStmt(s.d, 256)
		b.raw(`SELECT b.id, 1 AS kind, b.title, b.description, b.severity, b.link, b.origin, b.scope, b.topic, b.created, b.updated, `).
			raw(s.d.nullTime()).raw(", ").raw(s.d.nullTime()).raw(", b.icon, b.metadata, ").
			raw(s.d.nullTime()).raw(", ").raw(s.d.nullTime()).raw(", ").raw(s.d.nullTime()).raw(", NULL FROM broadcast b WHERE b.id IN ").
			strList(validIDs(broadcasts))
		if err := read(b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// leaseGeneration returns the generation a claim token was issued for,
// and whether it was a digest's; false for a token no claim issued.
func leaseGeneration(token string) (gen int, digest, ok bool) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return 0, false, false
	}
	tail := token[i+1:]
	if digest = strings.HasPrefix(tail, "d"); digest {
		tail = tail[1:]
	}
	g, err := strconv.Atoi(tail)
	return g, digest, err == nil && g >= 0 && !strings.HasPrefix(tail, "+") && uuid.Valid(token[:i])
}

// errLeaseLost is returned for a token that cannot hold id.
func errLeaseLost(what, id string) error {
	return fmt.Errorf("store: %s %s: %w", what, id, notifications.ErrLeaseLost)
}

// RenewDeliveryLease implements notifications.Store: the lease ends at
// until (rounded up to the millisecond) if token still holds the
// delivery, even if it had run out and nobody claimed the delivery since.
// A malformed id or token has lost its lease.
func (s *Store) RenewDeliveryLease(ctx context.Context, id, token string, until time.Time) error {
	if _, _, ok := leaseGeneration(token); !ok || !uuid.Valid(id) {
		return errLeaseLost("renew delivery lease", id)
	}
	if err := checkTime("lease end", until); err != nil {
		return fmt.Errorf("store: renew delivery lease: %w", err)
	}
	b := newStmt(s.d, 256)
	b.raw("UPDATE delivery SET next_attempt = ").time(ceilMS(until)).raw(" WHERE id = ").str(strings.ToLower(id)).
		raw(" AND lease_token = ").str(token).raw(" AND ").raw(activeStatuses)
	n, err := s.execAffected(ctx, b)
	switch {
	case err != nil:
		return fmt.Errorf("store: renew delivery lease: %w", err)
	case n == 0:
		return errLeaseLost("renew delivery lease", id)
	}
	return nil
}

// FinishDelivery implements notifications.Store. o.Status must be sent,
// retrying, failed or cancelled (ErrInvalid otherwise); a retrying
// delivery is due at o.NextAttempt, or at o.Now when that is nil. A zero
// Now means the current time. o.LastError replaces the stored error when
// it is not empty, cut to notifications.MaxDeliveryErrorLength bytes, its
// invalid UTF-8 and NUL bytes replaced: an outcome is never refused for
// its error text. A malformed id or token has lost its lease.
func (s *Store) FinishDelivery(ctx context.Context, o notifications.DeliveryOutcome) (notifications.Delivery, error) {
	gen, digest, ok := leaseGeneration(o.Token)
	if !ok || !uuid.Valid(o.ID) {
		return notifications.Delivery{}, errLeaseLost("finish delivery", o.ID)
	}
	id := strings.ToLower(o.ID)
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	var next *time.Time
	switch o.Status {
	case notifications.DeliveryRetrying:
		next = &now
		if o.NextAttempt != nil {
			next = o.NextAttempt
		}
	case notifications.DeliverySent, notifications.DeliveryFailed, notifications.DeliveryCancelled:
	default:
		return notifications.Delivery{}, fmt.Errorf("store: finish delivery: %w: status %q is not an outcome", notifications.ErrInvalid, o.Status)
	}
	if err := errors.Join(checkTime("now", now), checkOptTime("next attempt", next)); err != nil {
		return notifications.Delivery{}, fmt.Errorf("store: finish delivery: %w", err)
	}

	// The outcome applies while the generation is the claimed one;
	// otherwise a re-send replaced the content during the attempt, and
	// the delivery is pending again, due now (or held, when the re-send
	// put it in a digest), its attempts reset.
	b := newStmt(s.d, 512)
	same := "generation = " + strconv.Itoa(gen)
	b.raw("UPDATE delivery SET status = CASE WHEN ").raw(same).raw(" THEN ").str(string(o.Status)).raw(" ELSE 'pending' END").
		raw(", next_attempt = CASE WHEN ").raw(same).raw(" THEN ").optTime(next).
		raw(" WHEN digest_id IS NOT NULL AND digest_id <> id THEN NULL ELSE ").time(now).raw(" END").
		raw(", attempts = CASE WHEN ").raw(same).raw(" THEN attempts ELSE 0 END")
	if msg := cleanError(o.LastError); msg != "" {
		b.raw(", last_error = CASE WHEN ").raw(same).raw(" THEN ").str(msg).raw(" ELSE last_error END")
	}
	b.raw(", lease_token = NULL, lease_owner = NULL, updated = ").time(now).
		raw(" WHERE id = ").str(id).raw(" AND lease_token = ").str(o.Token).raw(" AND ").raw(activeStatuses).
		raw(returningDelivery)
	var d notifications.Delivery
	var err error
	if digest {
		d, err = s.finishDigest(ctx, b, o, now)
	} else {
		d, err = s.updateDelivery(ctx, b)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return d, errLeaseLost("finish delivery", o.ID)
	case err != nil:
		return d, fmt.Errorf("store: finish delivery: %w", err)
	}
	return d, nil
}

// HoldDelivery implements notifications.Store. A zero Now means the
// current time; Until is rounded up to the millisecond. A malformed id
// or token has lost its lease. A digest stays frozen with the members its
// claim gave it: sends during the hold open a new digest.
func (s *Store) HoldDelivery(ctx context.Context, h notifications.DeliveryHold) (notifications.Delivery, error) {
	gen, _, ok := leaseGeneration(h.Token)
	if !ok || !uuid.Valid(h.ID) {
		return notifications.Delivery{}, errLeaseLost("hold delivery", h.ID)
	}
	now := h.Now
	if now.IsZero() {
		now = time.Now()
	}
	if err := errors.Join(checkTime("now", now), checkTime("hold end", h.Until)); err != nil {
		return notifications.Delivery{}, fmt.Errorf("store: hold delivery: %w", err)
	}
	// While the generation is the claimed one, the claim is undone:
	// due at Until, its attempt uncounted. Otherwise a re-send replaced
	// the content since, and the delivery is pending again, due now (or
	// held, when the re-send put it in a digest), its attempts reset.
	same := "generation = " + strconv.Itoa(gen)
	b := newStmt(s.d, 512)
	b.raw("UPDATE delivery SET status = CASE WHEN ").raw(same).raw(" THEN status ELSE 'pending' END").
		raw(", next_attempt = CASE WHEN ").raw(same).raw(" THEN ").time(ceilMS(h.Until)).
		raw(" WHEN digest_id IS NOT NULL AND digest_id <> id THEN NULL ELSE ").time(now).raw(" END").
		raw(", attempts = CASE WHEN ").raw(same).raw(" AND attempts > 0 THEN attempts - 1 ELSE 0 END").
		raw(", lease_token = NULL, lease_owner = NULL, updated = ").time(now).
		raw(" WHERE id = ").str(strings.ToLower(h.ID)).raw(" AND lease_token = ").str(h.Token).raw(" AND ").raw(activeStatuses).
		raw(returningDelivery)
	d, err := s.updateDelivery(ctx, b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return d, errLeaseLost("hold delivery", h.ID)
	case err != nil:
		return d, fmt.Errorf("store: hold delivery: %w", err)
	}
	return d, nil
}

// updateDelivery runs b, an UPDATE of one delivery ending in
// returningDelivery, as one statement; sql.ErrNoRows when it updated
// none.
func (s *Store) updateDelivery(ctx context.Context, b *stmt) (notifications.Delivery, error) {
	var d notifications.Delivery
	err := s.writeOnce(ctx, func() error {
		text, err := b.sql(s.db.QueryGen())
		if err != nil {
			return err
		}
		d, err = scanDelivery(s.db.QueryRowContext(ctx, text))
		return err
	})
	return d, err
}

// cleanError makes an attempt's error text storable: valid UTF-8 without
// NUL bytes, at most notifications.MaxDeliveryErrorLength bytes, cut at a
// character boundary.
func cleanError(msg string) string {
	msg = strings.ReplaceAll(strings.ToValidUTF8(msg, "\uFFFD"), "\x00", "\uFFFD")
	if len(msg) <= notifications.MaxDeliveryErrorLength {
		return msg
	}
	cut := notifications.MaxDeliveryErrorLength
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}

// RequeueDelivery implements notifications.Store: the delivery is
// pending, due at now, with its attempts reset and its last error kept. A
// delivery whose notification has another active delivery for the same
// processor (a later scoped re-send made one) cannot run alongside it:
// that is refused with ErrInvalid.
func (s *Store) RequeueDelivery(ctx context.Context, id string, now time.Time) (notifications.Delivery, error) {
	if !uuid.Valid(id) {
		return notifications.Delivery{}, fmt.Errorf("store: requeue delivery %q: %w", id, notifications.ErrNotFound)
	}
	if now.IsZero() {
		now = time.Now()
	}
	if err := checkTime("now", now); err != nil {
		return notifications.Delivery{}, fmt.Errorf("store: requeue delivery: %w", err)
	}
	id = strings.ToLower(id)
	b := newStmt(s.d, 256)
	b.raw("UPDATE delivery SET status = 'pending', attempts = 0, next_attempt = ").time(now).
		raw(", lease_token = NULL, lease_owner = NULL, updated = ").time(now).
		raw(" WHERE id = ").str(id).raw(" AND status IN ('failed', 'cancelled')").raw(returningDelivery)
	d, err := s.updateDelivery(ctx, b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return d, fmt.Errorf("store: requeue delivery %s: %w (unknown, or neither failed nor cancelled)", id, notifications.ErrNotFound)
	case err != nil && s.d.isUniqueViolation(err):
		return d, fmt.Errorf("store: requeue delivery %s: %w: another delivery of its notification to the same processor is pending", id, notifications.ErrInvalid)
	case err != nil:
		return d, fmt.Errorf("store: requeue delivery: %w", err)
	}
	return d, nil
}

// DeleteFinishedDeliveries implements notifications.Store. A cutoff
// before year 1 deletes nothing, one after 9999 every finished delivery;
// batchSize <= 0 means 1000. Each batch is its own statement. A send is
// deleted once no delivery refers to it, it has no idempotency key, and
// it was created at or before cutoff. On error, the count so far is
// returned with it.
func (s *Store) DeleteFinishedDeliveries(ctx context.Context, cutoff time.Time, batchSize int) (int, error) {
	cutoff, batchSize, ok := cleanupWindow(cutoff, batchSize)
	if !ok {
		return 0, nil
	}
	deliveries := newStmt(s.d, 256)
	deliveries.raw("DELETE FROM delivery WHERE id IN (SELECT id FROM delivery WHERE ").raw(finishedStatuses).
		raw(" AND updated <= ").time(cutoff).raw(" LIMIT ").int(batchSize).raw(")")
	sends := newStmt(s.d, 256)
	sends.raw("DELETE FROM herald_send WHERE id IN (SELECT h.id FROM herald_send h WHERE h.created <= ").time(cutoff).
		raw(" AND h.idempotency_key IS NULL AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.send_id = h.id) LIMIT ").
		int(batchSize).raw(")")
	total, err := s.deleteBatches(ctx, deliveries, batchSize)
	if err == nil {
		_, err = s.deleteBatches(ctx, sends, batchSize)
	}
	if err != nil {
		return total, fmt.Errorf("store: delete finished deliveries: %w", err)
	}
	return total, nil
}

// deleteBatches runs b, a DELETE of at most batchSize rows, until it
// deletes fewer, and returns how many it deleted in all.
func (s *Store) deleteBatches(ctx context.Context, b *stmt, batchSize int) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.execAffected(ctx, b)
		if err != nil {
			return total, err
		}
		total += int(n)
		if int(n) < batchSize {
			return total, nil
		}
	}
}
