package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/casefold"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// ErrDuplicateID is returned (wrapped) by SaveNotifications and
// SaveBroadcast when a notification's, send's or delivery's id is already
// stored, or appears twice in one call. Nothing of that call was written.
var ErrDuplicateID = errors.New("store: duplicate notification id")

// Batch bounds of one multi-row INSERT. Values are written inline (see
// sqlBuf), so neither SQLite's 32766 nor PostgreSQL's 65535 bound-parameter
// limit applies; the bounds keep each statement's text and the database's
// work per statement moderate.
const (
	maxBatchRows  = 1000
	maxBatchBytes = 1 << 20
)

// defaultDeleteBatch is DeleteOlderThan's batch when given none.
const defaultDeleteBatch = 1000

const notificationInsert = `INSERT INTO notification (id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, title_fold, description_fold) VALUES `

// notificationUpsert restores the existing row of a scoped notification
// (same user, origin and scope): content replaced and unread, unseen,
// un-archived and un-snoozed again; id, created, icon and saved kept. The conflict target is the partial unique
// index, so this one statement is the whole de-duplication, race-free.
const notificationUpsert = ` ON CONFLICT ("user", origin, scope) WHERE scope IS NOT NULL DO UPDATE SET ` +
	`title = excluded.title, description = excluded.description, link = excluded.link, topic = excluded.topic, ` +
	`severity = excluded.severity, metadata = excluded.metadata, updated = excluded.created, read = NULL, ` +
	`seen = NULL, archived = NULL, snoozed_until = NULL, ` +
	`title_fold = excluded.title_fold, description_fold = excluded.description_fold ` +
	`RETURNING id, "user", origin, scope, created, updated, read, saved, icon`

const (
	broadcastInsert = `INSERT INTO broadcast (id, title, description, severity, link, origin, scope, topic, created, updated, icon, metadata, title_fold, description_fold) VALUES `
	broadcastUpsert = ` ON CONFLICT (origin, scope) WHERE scope IS NOT NULL DO UPDATE SET ` +
		`title = excluded.title, description = excluded.description, link = excluded.link, topic = excluded.topic, ` +
		`severity = excluded.severity, metadata = excluded.metadata, updated = excluded.created, ` +
		`title_fold = excluded.title_fold, description_fold = excluded.description_fold ` +
		`RETURNING id, created, updated, icon`
)

// normalizeSeverity is Backstage's: lower-cased, and normal unless one of
// the four.
func normalizeSeverity(s notifications.Severity) notifications.Severity {
	if s.Valid() {
		return s
	}
	if l := notifications.Severity(strings.ToLower(string(s))); l.Valid() {
		return l
	}
	return notifications.SeverityNormal
}

// normalize prepares n for storing: id checked and lower-cased (or made),
// times checked (checkTime) and truncated to the millisecond, severity
// normalised.
func normalize(n notifications.Notification, now time.Time) (notifications.Notification, error) {
	switch {
	case n.ID == "":
		n.ID = uuid.New()
	case !uuid.Valid(n.ID):
		return n, fmt.Errorf("%w: id %q is not a UUID", notifications.ErrInvalid, n.ID)
	default:
		n.ID = strings.ToLower(n.ID)
	}
	if n.Created.IsZero() {
		n.Created = now
	}
	// One by one: a loop over their addresses would move n to the heap,
	// an allocation per row of a fan-out.
	if err := errors.Join(checkTime("created", n.Created), checkOptTime("updated", n.Updated),
		checkOptTime("read", n.Read), checkOptTime("saved", n.Saved)); err != nil {
		return n, err
	}
	n.Created = ms(n.Created)
	n.Updated, n.Read, n.Saved = msPtr(n.Updated), msPtr(n.Read), msPtr(n.Saved)
	n.Payload.Severity = normalizeSeverity(n.Payload.Severity)
	return n, nil
}

func msPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ms(*t)
	return &v
}

// metadataEncoder encodes each distinct metadata map once: a fan-out send
// shares one map across every recipient's notification, so maps are
// recognised by identity. The encoding is kept as a string, the form the
// statement text takes, so rows sharing a map share one string too. ""
// stands for a nil map (an encoded map is at least "{}").
type metadataEncoder struct {
	last    unsafe.Pointer
	lastJS  string
	encoded map[unsafe.Pointer]string
}

func (e *metadataEncoder) encode(m map[string]any) (string, error) {
	if m == nil {
		return "", nil
	}
	p := reflect.ValueOf(m).UnsafePointer()
	if p == e.last {
		return e.lastJS, nil
	}
	js, ok := e.encoded[p]
	if !ok {
		b, err := json.Marshal(m)
		if err != nil {
			return "", fmt.Errorf("%w: metadata: %w", notifications.ErrInvalid, err)
		}
		js = string(b)
		if e.encoded == nil {
			e.encoded = make(map[unsafe.Pointer]string)
		}
		e.encoded[p] = js
	}
	e.last, e.lastJS = p, js
	return js, nil
}

// SaveNotifications implements notifications.Store. A notification with
// no ID gets a new one and one with a zero Created gets the current time;
// one without a User is refused with notifications.ErrInvalid. Rows are
// written in multi-row INSERTs of up to 1000 rows, all in one transaction
// (a lone INSERT's own, without BEGIN and COMMIT).
//
// With w, the send row and the deliveries follow the notification rows
// in the same transaction, batched the same way. A send, delivery or
// snapshot id that is empty is made; one that is not a UUID, an Index
// out of range, or an empty Processor is refused with ErrInvalid. w may
// come with no notifications at all (every recipient had the in-app
// channel off): then only the send and its snapshot deliveries are
// written.
func (s *Store) SaveNotifications(ctx context.Context, ns []notifications.Notification, w *notifications.DeliveryWrite) ([]notifications.Notification, error) {
	out, err := s.saveNotifications(ctx, ns, w)
	if err != nil {
		return nil, fmt.Errorf("store: save notifications: %w", err)
	}
	return out, nil
}

func (s *Store) saveNotifications(ctx context.Context, ns []notifications.Notification, dw *notifications.DeliveryWrite) ([]notifications.Notification, error) {
	if len(ns) == 0 && dw == nil {
		return []notifications.Notification{}, nil
	}
	now := ms(time.Now())
	out := make([]notifications.Notification, len(ns))
	metas := make([]string, len(ns))
	var enc metadataEncoder
	for i, n := range ns {
		if n.User == "" {
			return nil, fmt.Errorf("%w: notification %d has no user", notifications.ErrInvalid, i)
		}
		n, err := normalize(n, now)
		if err != nil {
			return nil, err
		}
		if metas[i], err = enc.encode(n.Payload.Metadata); err != nil {
			return nil, err
		}
		out[i] = n
	}
	var deliveries *deliveryWrite
	if dw != nil {
		var err error
		if deliveries, err = prepareDeliveries(s.d, dw, len(out), now); err != nil {
			return nil, err
		}
	}

	// One row without a scope nor deliveries, what a send to one user
	// writes: the prepared INSERT, where the dialect prepares it.
	if len(out) == 1 && out[0].Payload.Scope == "" && deliveries == nil {
		if stmt := s.hotStmt(ctx, &s.insertOne, insertOneSQL); stmt != nil {
			args, err := insertOneArgs(s.d, &out[0], metas[0])
			if err != nil {
				return nil, err
			}
			err = s.writeOnce(ctx, func() error {
				_, err := stmt.ExecContext(ctx, args...)
				return err
			})
			if err != nil {
				return nil, s.translate(err)
			}
			return out, nil
		}
	}

	// Statements are built one at a time, each run before the next is
	// built. A send that fits in one plain INSERT needs no BEGIN and
	// COMMIT around it: a single statement is atomic on both databases.
	// The upsert keeps its transaction: its RETURNING rows are read after
	// the statement has done its writes, and a failure reading them must
	// still undo them. Deliveries come last, in the same transaction: a
	// delivery of a scoped notification takes the id the upsert kept.
	w := &batchWriter{d: s.d, out: out, metas: metas, order: writeOrder(out)}
	var (
		b      *sqlBuf
		scoped map[string]int
	)
	if !w.done() {
		b, scoped = w.next()
	}
	if w.done() && scoped == nil && deliveries == nil {
		if err := s.writeOnce(ctx, func() error { return s.exec(ctx, s.db, b) }); err != nil {
			return nil, s.translate(err)
		}
		return out, nil
	}
	// restoreScoped writes the stored state of scoped rows into out; a
	// transaction run again must start from the rows as they were.
	var pristine []notifications.Notification
	if slices.ContainsFunc(out, func(n notifications.Notification) bool { return n.Payload.Scope != "" }) {
		pristine = slices.Clone(out)
	} else if deliveries != nil {
		// Without scoped rows, what is stored is out: a keyed send's
		// result goes in its send row's INSERT.
		if err := deliveries.send.presetResult(out); err != nil {
			return nil, err
		}
	}
	attempt := 0
	err := s.inTx(ctx, func(tx bun.Tx) error {
		// The send row first: a concurrent send with the same
		// idempotency key waits for this transaction on it.
		if deliveries != nil {
			if err := deliveries.send.writeSend(ctx, s, tx); err != nil {
				return err
			}
		}
		if attempt++; attempt > 1 {
			copy(out, pristine)
			w = &batchWriter{d: s.d, out: out, metas: metas, order: w.order}
			if !w.done() {
				b, scoped = w.next()
			}
		}
		for b != nil {
			if err := s.runBatch(ctx, tx, b, out, scoped); err != nil {
				return err
			}
			if w.done() {
				break
			}
			b, scoped = w.next()
		}
		if deliveries != nil {
			return deliveries.write(ctx, s, tx, out, false)
		}
		return nil
	})
	if err != nil {
		return nil, s.translate(err)
	}
	return out, nil
}

// batchWriter cuts one SaveNotifications call into statements.
type batchWriter struct {
	d     dialect
	out   []notifications.Notification
	metas []string
	order []int // writeOrder(out)
	pos   int   // next index into order
	// titles and descriptions fold the rows' text for search.
	titles, descriptions folder
}

func (w *batchWriter) done() bool { return w.pos == len(w.order) }

// next builds the statement for the rows from w.pos on: up to
// maxBatchRows rows, or until the text reaches maxBatchBytes. The same
// scope twice in one statement is an error on PostgreSQL, so a repeated
// scope ends the statement and goes in the next one, restoring the first.
// scoped maps each scoped row's key to its index in out; it is nil when
// the statement has none, and then the statement is a plain INSERT.
func (w *batchWriter) next() (b *sqlBuf, scoped map[string]int) {
	b = newSQL(w.d, w.capacity())
	b.raw(notificationInsert)
	for rows := 0; !w.done() && rows < maxBatchRows && len(b.b) < maxBatchBytes; rows++ {
		i := w.order[w.pos]
		n := &w.out[i]
		if n.Payload.Scope != "" {
			key := scopeKey(n.User, n.Origin, n.Payload.Scope)
			if _, dup := scoped[key]; dup {
				break
			}
			if scoped == nil {
				scoped = make(map[string]int)
			}
			scoped[key] = i
		}
		if rows > 0 {
			b.raw(", ")
		}
		appendNotification(b, n, w.metas[i], w.titles.of(n.Payload.Title), w.descriptions.of(n.Payload.Description))
		w.pos++
	}
	if scoped != nil {
		b.raw(notificationUpsert)
	}
	return b, scoped
}

// capacity sizes the next statement's buffer from its first row, so that
// one-row sends do not allocate a batch's worth and a batch's buffer
// rarely grows (rows of one send share most of their text).
func (w *batchWriter) capacity() int {
	n := &w.out[w.order[w.pos]]
	p := &n.Payload
	// Quotes, separators, times and NULLs take under 170 bytes a row;
	// title and description come twice, as written and folded.
	row := 170 + len(n.ID) + len(n.User) + len(n.Origin) + 2*(len(p.Title)+len(p.Description)) +
		len(p.Severity) + len(p.Link) + len(p.Scope) + len(p.Topic) + len(p.Icon) + len(w.metas[w.order[w.pos]])
	rows := min(len(w.order)-w.pos, maxBatchRows, maxBatchBytes/row+1)
	return len(notificationInsert) + len(notificationUpsert) + rows*row
}

// runBatch runs one statement of next: a plain INSERT, or the upsert whose
// returned rows restoreScoped copies into out.
func (s *Store) runBatch(ctx context.Context, db bun.IDB, b *sqlBuf, out []notifications.Notification, scoped map[string]int) error {
	if scoped == nil {
		return s.exec(ctx, db, b)
	}
	return s.restoreScoped(ctx, db, b, out, scoped)
}

// writeOrder is the order rows are inserted in: the rows without a scope
// first, then the scoped ones sorted by scope key, and, when the rows
// take more than one statement, the unscoped ones sorted by user.
// Every write takes locks in user order: a scoped row may update (and
// lock) an existing one, and each statement's trigger updates (and
// locks) the counter row of each of its users, in user order within
// the statement (migration 20261206000001). Two concurrent sends to
// the same users that took those locks in different orders, across
// statements of one transaction, would deadlock on PostgreSQL; in user
// order they cannot. Results are still returned in input order.
func writeOrder(ns []notifications.Notification) []int {
	order := make([]int, len(ns))
	for i := range ns {
		order[i] = i
	}
	multi := len(ns) > maxBatchRows
	if !multi && !slices.ContainsFunc(order, func(i int) bool { return ns[i].Payload.Scope != "" }) {
		return order // one statement: its trigger orders its own locks
	}
	// Stable: a scope repeated in one call is applied in input order.
	// Comparing (user, origin, scope) field by field orders as their
	// scopeKey does, without building one per row.
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := &ns[a], &ns[b]
		xs, ys := x.Payload.Scope != "", y.Payload.Scope != ""
		switch {
		case xs != ys:
			if xs {
				return 1
			}
			return -1
		case !xs && !multi:
			return 0
		case !xs:
			return strings.Compare(x.User, y.User)
		}
		return cmp.Or(strings.Compare(x.User, y.User), strings.Compare(x.Origin, y.Origin),
			strings.Compare(x.Payload.Scope, y.Payload.Scope))
	})
	return order
}

func scopeKey(user, origin, scope string) string {
	return user + "\x00" + origin + "\x00" + scope
}

// appendNotification writes n's row of notificationInsert: meta is its
// encoded metadata, titleFold and descriptionFold its folded text.
func appendNotification(b *sqlBuf, n *notifications.Notification, meta, titleFold, descriptionFold string) {
	b.raw("(")
	appendNotificationValues(b, n, meta, titleFold, descriptionFold)
	b.raw(")")
}

// appendNotificationValues writes the values of n's row, without the
// parentheses around them.
func appendNotificationValues(b *sqlBuf, n *notifications.Notification, meta, titleFold, descriptionFold string) {
	p := &n.Payload
	b.str(n.ID).raw(", ").str(n.User).raw(", ").str(p.Title).raw(", ").optStr(p.Description).
		raw(", ").str(string(p.Severity)).raw(", ").optStr(p.Link).raw(", ").str(n.Origin).
		raw(", ").optStr(p.Scope).raw(", ").optStr(p.Topic).raw(", ").time(n.Created).
		raw(", ").optTime(n.Updated).raw(", ").optTime(n.Read).raw(", ").optTime(n.Saved).
		raw(", ").optStr(p.Icon).raw(", ").json(meta).raw(", ").str(titleFold).raw(", ").optStr(descriptionFold)
}

// restoreScoped runs a batch with the upsert and copies the stored state of
// each scoped row (a restored row keeps its id, created, icon and saved)
// into out. RETURNING's order is unspecified, so rows are matched by
// scope key.
func (s *Store) restoreScoped(ctx context.Context, db bun.IDB, b *sqlBuf, out []notifications.Notification, scoped map[string]int) error {
	rows, err := s.query(ctx, db, b)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, user, origin              string
			scope, icon                   sql.NullString
			created, updated, read, saved nullTime
		)
		if err := rows.Scan(&id, &user, &origin, &scope, &created, &updated, &read, &saved, &icon); err != nil {
			return err
		}
		if !scope.Valid {
			continue
		}
		i, ok := scoped[scopeKey(user, origin, scope.String)]
		if !ok {
			continue
		}
		n := &out[i]
		n.ID, n.Created = id, created.t
		n.Updated, n.Read, n.Saved = updated.ptr(), read.ptr(), saved.ptr()
		n.Payload.Icon = icon.String
	}
	return rows.Err()
}

// SaveBroadcast implements notifications.Store. The broadcast is stored
// for everybody: n.User, n.Read and n.Saved are ignored, and the result
// has none. Like SaveNotifications, an empty ID or zero Created is filled
// in, and w is written in the same transaction (every delivery's Index
// is 0, or it has a Snapshot).
func (s *Store) SaveBroadcast(ctx context.Context, n notifications.Notification, w *notifications.DeliveryWrite) (notifications.Notification, error) {
	n, err := s.saveBroadcast(ctx, n, w)
	if err != nil {
		return notifications.Notification{}, fmt.Errorf("store: save broadcast: %w", err)
	}
	return n, nil
}

func (s *Store) saveBroadcast(ctx context.Context, n notifications.Notification, dw *notifications.DeliveryWrite) (notifications.Notification, error) {
	n.User, n.Read, n.Saved = "", nil, nil
	now := ms(time.Now())
	n, err := normalize(n, now)
	if err != nil {
		return n, err
	}
	var enc metadataEncoder
	meta, err := enc.encode(n.Payload.Metadata)
	if err != nil {
		return n, err
	}
	var deliveries *deliveryWrite
	if dw != nil {
		if deliveries, err = prepareDeliveries(s.d, dw, 1, now); err != nil {
			return n, err
		}
		if n.Payload.Scope == "" { // stored as given: the result is known
			if err := deliveries.send.presetResult([]notifications.Notification{n}); err != nil {
				return n, err
			}
		}
	}
	p := &n.Payload
	// The statement as text, unless the prepared one runs.
	text := func() *stmt {
		b := newStmt(s.d, 1024) // the upsert's text alone is over 500 bytes
		return b.raw(broadcastInsert).raw("(").str(n.ID).raw(", ").str(p.Title).raw(", ").optStr(p.Description).
			raw(", ").str(string(p.Severity)).raw(", ").optStr(p.Link).raw(", ").str(n.Origin).
			raw(", ").optStr(p.Scope).raw(", ").optStr(p.Topic).raw(", ").time(n.Created).
			raw(", ").optTime(n.Updated).raw(", ").optStr(p.Icon).raw(", ").json(meta).
			raw(", ").str(casefold.String(p.Title)).raw(", ").optStr(casefold.String(p.Description)).raw(")").raw(broadcastUpsert)
	}
	var (
		id               string
		icon             sql.NullString
		created, updated nullTime
	)
	if deliveries == nil && p.Scope == "" {
		// Stored as given (see broadcastPlainSQL): one INSERT, as the
		// floor runs, nothing read back.
		if stmt := s.hotStmt(ctx, &s.broadcastPlain, broadcastPlainSQL); stmt != nil {
			args, aerr := broadcastOneArgs(s.d, &n, meta)
			if aerr != nil {
				return n, aerr
			}
			// With other broadcasts in flight, this one shares their
			// commit (groupcommit.go).
			if _, err := s.groups.broadcast.do(ctx, s, batchBroadcast, stmt, args); err != nil {
				return n, err
			}
			return n, nil
		}
	}
	if deliveries == nil {
		if stmt := s.hotStmt(ctx, &s.broadcastOne, broadcastOneSQL); stmt != nil {
			args, aerr := broadcastOneArgs(s.d, &n, meta)
			if aerr != nil {
				return n, aerr
			}
			err = s.writeOnce(ctx, func() error { return stmt.QueryRowContext(ctx, args...).Scan(&id, &created, &updated, &icon) })
		} else {
			b := text()
			err = s.writeOnce(ctx, func() error { return s.queryRowOn(ctx, s.db, b, &id, &created, &updated, &icon) })
		}
	} else {
		b := text()
		err = s.inTx(ctx, func(tx bun.Tx) error {
			if err := deliveries.send.writeSend(ctx, s, tx); err != nil {
				return err
			}
			if err := s.queryRowOn(ctx, tx, b, &id, &created, &updated, &icon); err != nil {
				return err
			}
			stored := n
			stored.ID, stored.Created, stored.Updated, stored.Payload.Icon = id, created.t, updated.ptr(), icon.String
			return deliveries.write(ctx, s, tx, []notifications.Notification{stored}, true)
		})
	}
	if err != nil {
		return n, s.translate(err)
	}
	n.ID, n.Created, n.Updated, n.Payload.Icon = id, created.t, updated.ptr(), icon.String
	return n, nil
}

// SetRead implements notifications.Store: the user's own notifications
// with these ids are updated, and for broadcasts the user's status row is
// created or updated, in one transaction. Malformed ids are skipped.
func (s *Store) SetRead(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error {
	if err := s.setState(ctx, "read", user, ids, at, now); err != nil {
		return fmt.Errorf("store: set read: %w", err)
	}
	return nil
}

// SetSaved implements notifications.Store.
func (s *Store) SetSaved(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error {
	if err := s.setState(ctx, "saved", user, ids, at, now); err != nil {
		return fmt.Errorf("store: set saved: %w", err)
	}
	return nil
}

// MarkAllRead implements notifications.Store (see markAll). The ids come
// back in no particular order.
func (s *Store) MarkAllRead(ctx context.Context, user string, nf notifications.Filter, at time.Time) ([]string, error) {
	ids, err := s.markAll(ctx, "read", user, nf, at)
	if err != nil {
		return nil, fmt.Errorf("store: mark all read: %w", err)
	}
	return ids, nil
}

// DeleteOlderThan implements notifications.Store. A cutoff before year 1
// deletes nothing, one after year 9999 everything. Each batch is its own
// transaction, so readers and writers interleave with a long purge;
// batchSize <= 0 means 1000. Broadcast statuses go with their broadcast
// (ON DELETE CASCADE), and the deliveries of each batch's notifications
// and broadcasts with it, whatever their status (an attempt running then
// loses its lease). On error, the count so far is returned with it.
func (s *Store) DeleteOlderThan(ctx context.Context, cutoff time.Time, batchSize int) (int, error) {
	if batchSize <= 0 {
		batchSize = defaultDeleteBatch
	}
	cutoff, b := atOrBefore(cutoff)
	switch b {
	case boundNone:
		return 0, nil
	case boundAll:
		cutoff = maxTime
	}
	total := 0
	for _, table := range []string{"notification", "broadcast"} {
		b := newStmt(s.d, 256)
		b.raw("DELETE FROM ").raw(table).raw(" WHERE id IN (SELECT id FROM ").raw(table).
			raw(" WHERE COALESCE(updated, created) <= ").time(cutoff).raw(" LIMIT ").int(batchSize).raw(") RETURNING id")
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("store: delete older than: %w", err)
			}
			var ids []string
			err := s.inTx(ctx, func(tx bun.Tx) error {
				var err error
				if ids, err = s.queryStringsOn(ctx, tx, b); err != nil || len(ids) == 0 {
					return err
				}
				d := newStmt(s.d, 128+80*len(ids))
				d.raw("DELETE FROM delivery WHERE id IN ")
				ofNotifications(d, ids)
				return s.exec(ctx, tx, d)
			})
			if err != nil {
				return total, fmt.Errorf("store: delete older than: %w", err)
			}
			total += len(ids)
			if len(ids) < batchSize {
				break
			}
		}
	}
	return total, nil
}
