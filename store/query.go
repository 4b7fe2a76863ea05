package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/internal/casefold"
	"github.com/heraldhq/herald/internal/jsonvalue"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Reads run on the union of the two tables:
//
//	notification rows of the user (kind 0)
//	UNION ALL
//	broadcast LEFT JOIN that user's broadcast_user_status (kind 1)
//
// with the filters applied inside each side, so each uses its own indexes.
// With a limit, each side is also sorted and cut to offset+limit rows
// before the union, so a page of 20 reads about 20 index entries per side
// however many rows the tables hold. Where the dialect says so (SQLite), a
// page in created order reads the sides as two statements and merges them
// here instead (listByCreated).

// side says which part of the union a column reference is written for.
type side int

const (
	sideNotification side = iota // the notification table, unqualified
	sideBroadcast                // broadcast b LEFT JOIN broadcast_user_status s
	sideUnion                    // the union's output columns
)

const (
	notificationColumns = `id, 0 AS kind, title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, COALESCE(seen, read) AS seen, archived, snoozed_until`
	broadcastColumns    = `b.id, 1 AS kind, b.title, b.description, b.severity, b.link, b.origin, b.scope, b.topic, b.created, b.updated, s.read, s.saved, b.icon, b.metadata, COALESCE(s.seen, s.read) AS seen, s.archived, s.snoozed_until`
	unionColumns        = `id, kind, title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, seen, archived, snoozed_until`
)

func col(sd side, name string) string {
	if sd != sideBroadcast {
		return name
	}
	switch name {
	case "read", "saved", "seen", "archived", "snoozed_until", "changed":
		return "s." + name // the user's state
	}
	return "b." + name
}

// The visibility rule, in this one place: a row (a user's notification,
// or a broadcast with the user's state) is hidden iff it is archived or
// snoozed. Counts and pages test it as written here, term for term as
// the partial indexes of migration 20261205000001 spell it: SQLite uses
// a partial index only for a query that repeats its WHERE terms.

// visible writes the test that keeps the visible rows of side sd: two
// AND-ed terms (as notification_unseen_idx has them). A broadcast without a
// status row is visible (the LEFT JOIN's NULLs).
func visible(q *stmt, sd side) {
	q.raw(col(sd, "archived")).raw(" IS NULL AND ").raw(col(sd, "snoozed_until")).raw(" IS NULL")
}

// hidden writes the test that keeps the hidden rows of side sd, one
// parenthesised term (notification_hidden_idx's).
func hidden(q *stmt, sd side) *stmt {
	return q.raw("(").raw(col(sd, "archived")).raw(" IS NOT NULL OR ").raw(col(sd, "snoozed_until")).raw(" IS NOT NULL)")
}

// seen writes the test that keeps the seen rows (on) or the unseen ones
// of side sd. Reading implies seeing, rows stored read included: a row is
// unseen iff it is neither seen nor read, two AND-ed terms
// (notification_unseen_idx's).
func seen(q *stmt, sd side, on bool) *stmt {
	if on {
		return q.raw("(").raw(col(sd, "seen")).raw(" IS NOT NULL OR ").raw(col(sd, "read")).raw(" IS NOT NULL)")
	}
	return q.raw(col(sd, "seen")).raw(" IS NULL AND ").raw(col(sd, "read")).raw(" IS NULL")
}

// visibility writes f's visibility condition for side sd, after and():
// the visible rows by default; the archived ones (hidden, and not
// snoozed) for Archived true; none with ChangedSince and Archived nil,
// so that a catch-up sees rows leave the inbox.
func visibility(and func() *stmt, sd side, f filter) {
	switch {
	case f.Archived != nil && *f.Archived:
		hidden(and(), sd)
		and().raw(col(sd, "archived")).raw(" IS NOT NULL AND ").raw(col(sd, "snoozed_until")).raw(" IS NULL")
	case f.Archived == nil && f.ChangedSince != nil:
	default:
		visible(and(), sd)
	}
}

// fromBroadcast joins the caller's status rows.
func fromBroadcast(q *stmt, user string) {
	q.raw(` FROM broadcast b LEFT JOIN broadcast_user_status s ON s."user" = `).str(user).raw(` AND s.broadcast_id = b.id`)
}

// filter is a notifications.Filter checked and normalised once per call.
type filter struct {
	notifications.Filter
	ids        []string                 // valid ids, lower case; nil: no id condition
	severities []notifications.Severity // nil: no severity condition
	// The time bounds, clamped to the kept range (atOrAfter, atOrBefore)
	// and rounded to the millisecond; nil: no condition.
	createdAfter, createdBefore, changedSince *time.Time
	none                                      bool // matches nothing
}

func newFilter(f notifications.Filter) filter {
	out := filter{Filter: f}
	clamp := func(t *time.Time, clampTo func(time.Time) (time.Time, bound)) *time.Time {
		if t == nil {
			return nil
		}
		c, b := clampTo(*t)
		switch b {
		case boundAll:
			return nil
		case boundNone:
			out.none = true
			return nil
		}
		return &c
	}
	out.createdAfter = clamp(f.CreatedAfter, atOrAfter)
	out.createdBefore = clamp(f.CreatedBefore, atOrBefore)
	out.changedSince = clamp(f.ChangedSince, atOrAfter)
	if f.IDs != nil {
		out.ids = validIDs(f.IDs)
		if len(out.ids) == 0 {
			out.none = true
		}
	}
	if f.MinimumSeverity != "" {
		switch sev := f.MinimumSeverity.AndAbove(); len(sev) {
		case 0: // unknown severity: nothing is that severe
			out.none = true
		case len(notifications.Severities()): // low: everything
		default:
			out.severities = sev
		}
	}
	return out
}

// validIDs keeps the well-formed ids, lower-cased (PostgreSQL's uuid form),
// without duplicates. Malformed ids can never match and must not reach
// PostgreSQL, which would fail the uuid cast.
func validIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if !uuid.Valid(id) {
			continue
		}
		id = strings.ToLower(id)
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// whereOptions says what where writes for one side of a read.
type whereOptions struct {
	side side
	// user owns the notification side's rows (broadcasts are everyone's;
	// fromBroadcast joins the user's status).
	user   string
	filter filter
	// after, when set, keeps the rows after this position in created
	// order, descending when desc; its time is in the kept range
	// (clampPosition).
	after *notifications.Position
	desc  bool
	// createdAhead, when set, keeps the rows whose created time sorts
	// strictly before it in that order: newer when desc, older otherwise.
	createdAhead *time.Time
	// extra are more conditions, without values, on columns named for the
	// side with col.
	extra []string
	// anyVisibility drops the visibility condition (visibility): the
	// rows are counted hidden or not.
	anyVisibility bool
}

// where writes one side's WHERE clause.
func (s *Store) where(q *stmt, o whereOptions) {
	sd, f := o.side, o.filter
	first := true
	and := func() *stmt {
		if first {
			first = false
			return q.raw(" WHERE ")
		}
		return q.raw(" AND ")
	}
	if sd == sideNotification {
		and().raw(`"user" = `).str(o.user)
	}
	if f.ids != nil {
		and().raw(col(sd, "id")).raw(" IN ").strList(f.ids)
	}
	if f.Search != "" {
		// A substring test, not LIKE: nothing in the term is a wildcard,
		// and no pattern length limit applies (SQLite refuses LIKE
		// patterns over 50,000 bytes). Both sides are folded in Go (see
		// search_fold.go).
		term := casefold.String(f.Search)
		and().raw("(")
		s.d.contains(q, col(sd, "title_fold"), term)
		q.raw(" OR ")
		s.d.contains(q, col(sd, "description_fold"), term)
		q.raw(")")
	}
	if f.Read != nil {
		and().raw(col(sd, "read")).raw(nullTest(*f.Read))
	}
	if f.Saved != nil {
		and().raw(col(sd, "saved")).raw(nullTest(*f.Saved))
	}
	if f.Seen != nil {
		seen(and(), sd, *f.Seen)
	}
	if !o.anyVisibility {
		visibility(and, sd, f)
	}
	if f.createdAfter != nil {
		and().raw(col(sd, "created")).raw(" >= ").time(*f.createdAfter)
	}
	if f.createdBefore != nil {
		and().raw(col(sd, "created")).raw(" <= ").time(*f.createdBefore)
	}
	if since := f.changedSince; since != nil {
		and().raw("(")
		// Every state change sets changed (reads and saves from before
		// it existed were copied into it by its migration).
		for i, c := range [...]string{"created", "updated", "changed"} {
			if i > 0 {
				q.raw(" OR ")
			}
			q.raw(col(sd, c)).raw(" >= ").time(*since)
		}
		q.raw(")")
	}
	if f.severities != nil {
		sevs := make([]string, len(f.severities))
		for i, sev := range f.severities {
			sevs[i] = string(sev)
		}
		and().raw(col(sd, "severity")).raw(" IN ").strList(sevs)
	}
	if f.Topic != "" {
		and().raw(col(sd, "topic")).raw(" = ").str(f.Topic)
	}
	if after := o.after; after != nil {
		// Sort key: created (asc or desc), kind asc, id asc. The first
		// comparison is a plain range on created so the index bounds the
		// scan; the rest breaks ties at the cursor's own millisecond.
		created := col(sd, "created")
		at := ms(after.Created)
		lt, le := " > ", " >= "
		if o.desc {
			lt, le = " < ", " <= "
		}
		rowKind := sd == sideBroadcast
		switch {
		case rowKind == after.Broadcast: // same side as the cursor: ties by id
			and().raw(created).raw(le).time(at).raw(" AND (").raw(created).raw(lt).time(at).
				raw(" OR ").raw(col(sd, "id")).raw(" > ").str(strings.ToLower(after.ID)).raw(")")
		case after.Broadcast: // notifications tie-sort before the broadcast cursor
			and().raw(created).raw(lt).time(at)
		default: // broadcasts tie-sort after the notification cursor
			and().raw(created).raw(le).time(at)
		}
	}
	if o.createdAhead != nil {
		cmp := " < "
		if o.desc {
			cmp = " > "
		}
		and().raw(col(sd, "created")).raw(cmp).time(*o.createdAhead)
	}
	for _, cond := range o.extra {
		and().raw(cond)
	}
}

func nullTest(notNull bool) string {
	if notNull {
		return " IS NOT NULL"
	}
	return " IS NULL"
}

// orderBy writes the ORDER BY terms for one side, then the tie-break.
func (s *Store) orderBy(q *stmt, sd side, order []notifications.Order) {
	q.raw(" ORDER BY ")
	s.orderTerms(q, sd, order)
}

// orderByIndex is orderBy for the notification side of a page, with one
// more leading term where it lets PostgreSQL read the page off the inbox
// index ("user", read, created DESC, id) instead of sorting all of the
// user's matching rows: a page of unread notifications in created order
// sorts by read first. Every such row has read NULL, so the order is the
// same; but PostgreSQL does not take read IS NULL as fixing the index's
// read column, so without the term the index order does not match.
func (s *Store) orderByIndex(q *stmt, f filter, order []notifications.Order) {
	q.raw(" ORDER BY ")
	if f.Read != nil && !*f.Read && len(order) == 1 && order[0].Field == notifications.OrderCreated && order[0].Desc {
		q.raw("read, ")
	}
	s.orderTerms(q, sideNotification, order)
}

// orderTerms writes orderBy's terms.
func (s *Store) orderTerms(q *stmt, sd side, order []notifications.Order) {
	for _, o := range order {
		c := col(sd, string(o.Field))
		nullable := false
		switch o.Field {
		case notifications.OrderSeverity:
			c = "CASE " + c + " WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 4 END"
		case notifications.OrderTitle, notifications.OrderOrigin:
			c = s.d.orderText(c)
		case notifications.OrderTopic:
			c = s.d.orderText(c)
			nullable = true
		case notifications.OrderUpdated, notifications.OrderRead, notifications.OrderSaved:
			nullable = true
		}
		q.raw(c)
		switch {
		case o.Desc && nullable:
			q.raw(" DESC NULLS LAST")
		case o.Desc:
			q.raw(" DESC")
		case nullable:
			q.raw(" NULLS FIRST")
		}
		q.raw(", ")
	}
	if sd == sideUnion {
		q.raw("kind, ")
	}
	q.raw(col(sd, "id"))
}

// checkQuery validates what only a programming error can get wrong.
func checkQuery(q notifications.Query) error {
	for _, o := range q.Order {
		if !o.Field.Valid() {
			return fmt.Errorf("%w: unknown order field %q", notifications.ErrInvalid, o.Field)
		}
	}
	if q.After != nil {
		if q.Order != nil && (len(q.Order) != 1 || q.Order[0].Field != notifications.OrderCreated) {
			return fmt.Errorf("%w: a position needs created order", notifications.ErrInvalid)
		}
		if !uuid.Valid(q.After.ID) {
			return fmt.Errorf("%w: position id %q is not a UUID", notifications.ErrInvalid, q.After.ID)
		}
	}
	if q.Offset < 0 || q.Limit < 0 {
		return fmt.Errorf("%w: negative offset or limit", notifications.ErrInvalid)
	}
	return nil
}

// clampPosition clamps a position's time to the kept range: a position
// before every keepable time is past the end of a descending list and
// before the start of an ascending one, and the other way round for a
// position after them. boundAll drops the position (nil).
func clampPosition(p *notifications.Position, desc bool) (*notifications.Position, bound) {
	if p == nil || inRange(p.Created) {
		return p, boundAt
	}
	if p.Created.Before(minTime) == desc {
		return nil, boundNone
	}
	return nil, boundAll
}

var defaultOrder = []notifications.Order{{Field: notifications.OrderCreated, Desc: true}}

// List implements notifications.Store. Text fields sort by code point on
// both databases. Search matches the title or description literally, of
// any length, with Unicode simple case folding, the same on both
// databases whatever their collation or locale: "ÄRGER" finds "ärger" and
// "STRAẞE" finds "Straße", but "STRASSE" does not. An unknown Order
// field, a negative Offset or Limit, or an After with another order is
// refused with notifications.ErrInvalid.
func (s *Store) List(ctx context.Context, q notifications.Query) ([]notifications.Notification, error) {
	ns, _, err := s.list(ctx, q, false)
	return ns, err
}

// ListPage implements notifications.PageCounter: List's page and Count's
// total for q.User and q.Filter, the total read by the page's own
// statement, a scalar subquery the database answers once, so a page
// costs one round trip where List and Count cost two (on PostgreSQL a
// tenth of a page's CPU under BenchmarkServer's load), and the two agree
// as of one moment. A page with no rows carries no total, which is then
// counted apart.
func (s *Store) ListPage(ctx context.Context, q notifications.Query) ([]notifications.Notification, int, error) {
	ns, total, err := s.list(ctx, q, true)
	if err != nil || total >= 0 {
		return ns, total, err
	}
	if total, err = s.Count(ctx, q.User, q.Filter); err != nil {
		return nil, 0, err
	}
	return ns, total, nil
}

// list is List, and with counted the total as ListPage wants it: -1
// when no statement carried it (no rows, or none run).
func (s *Store) list(ctx context.Context, q notifications.Query, counted bool) ([]notifications.Notification, int, error) {
	if err := checkQuery(q); err != nil {
		return nil, 0, fmt.Errorf("store: list: %w", err)
	}
	f := newFilter(q.Filter)
	if f.none {
		return []notifications.Notification{}, 0, nil
	}
	order := q.Order
	if order == nil {
		order = defaultOrder
	}
	desc := len(order) == 1 && order[0].Desc
	var pos bound
	if q.After, pos = clampPosition(q.After, desc); pos == boundNone {
		return []notifications.Notification{}, -1, nil
	}
	// total receives the count column that counted adds to a statement.
	total := nullInt{n: -1}
	var extra []any
	if counted {
		extra = []any{&total}
	}

	if q.Limit > 0 && len(order) == 1 && order[0].Field == notifications.OrderCreated && s.d.mergePages() {
		ns, err := s.listByCreated(ctx, q, f, desc, counted, &total)
		return ns, total.n, err
	}

	// The general case: one UNION ALL. With a limit, each side is sorted and
	// cut to offset+limit rows first, so each can use its indexes and stop
	// early.
	b := newStmt(s.d, 1024)
	pushed := q.Limit > 0
	k := pageEnd(q)
	b.raw("SELECT ").raw(unionColumns)
	if counted {
		s.totalColumn(b, q.User, f)
	}
	b.raw(" FROM (")
	if pushed {
		b.raw("SELECT * FROM (")
	}
	b.raw("SELECT ").raw(notificationColumns).raw(" FROM notification")
	s.where(b, whereOptions{side: sideNotification, user: q.User, filter: f, after: q.After, desc: desc})
	if pushed {
		s.orderByIndex(b, f, order)
		limit(b, k, q.Offset).raw(") n_")
	}
	b.raw(" UNION ALL ")
	if pushed {
		b.raw("SELECT * FROM (")
	}
	b.raw("SELECT ").raw(broadcastColumns)
	fromBroadcast(b, q.User)
	s.where(b, whereOptions{side: sideBroadcast, user: q.User, filter: f, after: q.After, desc: desc})
	if pushed {
		s.orderBy(b, sideBroadcast, order)
		limit(b, k, q.Offset).raw(") b_")
	}
	b.raw(") u")
	s.orderBy(b, sideUnion, order)
	switch {
	case pushed:
		limit(b, q.Limit, q.Offset)
	case q.Offset > 0:
		b.raw(" LIMIT ").raw(s.d.noLimit())
	}
	if q.Offset > 0 {
		b.raw(" OFFSET ").int(q.Offset)
	}
	out, err := s.queryNotifications(ctx, b, q.User, q.Limit, extra...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list: %w", err)
	}
	return out, total.n, nil
}

// totalColumn appends to b, a select list, the column that carries the
// count of what f selects for user: Count's expression, uncorrelated, so
// the database evaluates it once per statement.
func (s *Store) totalColumn(b *stmt, user string, f filter) {
	b.raw(", (")
	s.countTerms(b, user, f)
	b.raw(")")
}

// nullInt scans an integer column that may be NULL (kept as is).
type nullInt struct{ n int }

func (v *nullInt) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil || !n.Valid {
		return err
	}
	v.n = int(n.Int64)
	return nil
}

// listByCreated is List for a page in created order, the inbox's own
// query. It reads the two sides separately and merges them here: the
// notification side first (offset+limit rows, straight off the inbox
// index), then only those broadcasts that sort before its last row, which
// usually means none. A UNION ALL would make the database sort and merge
// both sides even when no broadcast can make the page, at several times
// the cost of the indexed read. The two reads are two statements: a row
// committed between them can show up on one side only, as between two
// page requests.
//
// With counted, the first statement also carries the total (see
// ListPage) into total.
func (s *Store) listByCreated(ctx context.Context, q notifications.Query, f filter, desc, counted bool, total *nullInt) ([]notifications.Notification, error) {
	k := pageEnd(q)
	order := []notifications.Order{{Field: notifications.OrderCreated, Desc: desc}}

	// Each notification row also carries the newest (oldest, ascending)
	// broadcast's created time, a constant subquery answered off the
	// broadcast index: when no broadcast sorts before the last row, the
	// broadcast statement is not run at all.
	edge := "MAX"
	if !desc {
		edge = "MIN"
	}
	nb := newStmt(s.d, 512)
	nb.raw("SELECT ").raw(notificationColumns).raw(", (SELECT ").raw(edge).raw("(created) FROM broadcast)")
	extra := []any{new(nullTime)}
	edgeBroadcast := extra[0].(*nullTime)
	if counted {
		s.totalColumn(nb, q.User, f)
		extra = append(extra, total)
	}
	nb.raw(" FROM notification")
	s.where(nb, whereOptions{side: sideNotification, user: q.User, filter: f, after: q.After, desc: desc})
	s.orderBy(nb, sideNotification, order)
	limit(nb, k, q.Offset)
	own, err := s.queryNotifications(ctx, nb, q.User, k, extra...)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	if len(own) > 0 && !edgeBroadcast.valid {
		return pageOf(own, q.Offset), nil // no broadcasts at all
	}
	bo := whereOptions{side: sideBroadcast, user: q.User, filter: f, after: q.After, desc: desc}
	if len(own) == k {
		// A broadcast at the last row's millisecond sorts after it.
		last := own[k-1].Created
		if c := edgeBroadcast.t.Compare(last); c == 0 || (c < 0) == desc {
			return pageOf(own, q.Offset), nil
		}
		bo.createdAhead = &last
	}

	bb := newStmt(s.d, 512)
	bb.raw("SELECT ").raw(broadcastColumns)
	fromBroadcast(bb, q.User)
	s.where(bb, bo)
	s.orderBy(bb, sideBroadcast, order)
	limit(bb, k, q.Offset)
	broadcasts, err := s.queryNotifications(ctx, bb, q.User, 0)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	if len(broadcasts) == 0 {
		return pageOf(own, q.Offset), nil
	}

	merged := make([]notifications.Notification, 0, min(k, len(own)+len(broadcasts)))
	i, j := 0, 0
	for len(merged) < k && (i < len(own) || j < len(broadcasts)) {
		// Ties on created: the notification first (kind, then id, which
		// never ties across kinds).
		takeOwn := j == len(broadcasts)
		if !takeOwn && i < len(own) {
			c := own[i].Created.Compare(broadcasts[j].Created)
			takeOwn = c == 0 || (c > 0) == desc
		}
		if takeOwn {
			merged = append(merged, own[i])
			i++
		} else {
			merged = append(merged, broadcasts[j])
			j++
		}
	}
	return pageOf(merged, q.Offset), nil
}

// pageEnd is offset+limit, the rows each side must supply, saturated
// rather than overflowing for absurd values.
// limit writes a page's LIMIT n. On a first page (no offset) n is
// written into the text: the statement is prepared (readstmt.go), and
// PostgreSQL's generic plan for a LIMIT it cannot see sorts and merges
// both sides of the inbox where the plan for LIMIT 20 reads the first
// rows off the indexes (0.38 against 0.17 ms, EXPLAIN ANALYZE of the
// unread page of BenchmarkList's inbox). A page past an offset keeps n
// bound, so that paging through an inbox does not prepare a statement
// per page.
func limit(b *stmt, n, offset int) *stmt {
	b.raw(" LIMIT ")
	if offset == 0 {
		return b.raw(strconv.Itoa(n))
	}
	return b.int(n)
}

func pageEnd(q notifications.Query) int {
	if q.Limit > math.MaxInt-q.Offset {
		return math.MaxInt
	}
	return q.Offset + q.Limit
}

// pageOf drops the first offset rows.
func pageOf(ns []notifications.Notification, offset int) []notifications.Notification {
	if offset >= len(ns) {
		return []notifications.Notification{}
	}
	return ns[offset:]
}

// queryNotifications runs b and scans rows of unionColumns, followed by
// extra columns, whose value is the first row's.
func (s *Store) queryNotifications(ctx context.Context, b statement, user string, capacity int, extra ...any) ([]notifications.Notification, error) {
	var out []notifications.Notification
	err := s.read(ctx, func() error {
		rows, err := s.readQuery(ctx, b)
		if err != nil {
			return err
		}
		defer rows.Close()
		// capacity comes from the caller's limit: a hint, never trusted
		// for more than a page's worth, so a huge limit cannot allocate
		// huge memory.
		out = make([]notifications.Notification, 0, min(capacity, maxPreallocRows))
		r := newRowScanner(extra...)
		for rows.Next() {
			n, err := r.scan(rows, user)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// scanNotification reads one row of unionColumns.
func scanNotification(rows *sql.Rows, user string, extra ...any) (notifications.Notification, error) {
	return newRowScanner(extra...).scan(rows, user)
}

// rowScanner holds the scan targets of a row of unionColumns, followed
// by extra columns, reused for every row of a statement: a target handed
// to Scan escapes, and as the locals of a function per row they were a
// dozen allocations a row (a tenth of a page's allocations).
type rowScanner struct {
	kind                           int
	severity                       string
	desc, link, scope, topic, icon sql.NullString
	created, updated, read, saved  nullTime
	seen, archived, snoozed        nullTime
	// meta is the driver's own bytes, valid until the next row: decoded
	// before then (jsonvalue copies what it keeps), never copied.
	meta sql.RawBytes
	n    notifications.Notification
	dest []any
}

func newRowScanner(extra ...any) *rowScanner {
	r := &rowScanner{}
	r.dest = append(make([]any, 0, 18+len(extra)), &r.n.ID, &r.kind, &r.n.Payload.Title, &r.desc, &r.severity, &r.link, &r.n.Origin,
		&r.scope, &r.topic, &r.created, &r.updated, &r.read, &r.saved, &r.icon, &r.meta, &r.seen, &r.archived, &r.snoozed)
	r.dest = append(r.dest, extra...)
	return r
}

// scan reads the current row; the notification it returns shares nothing
// with the next row's.
func (r *rowScanner) scan(rows *sql.Rows, user string) (notifications.Notification, error) {
	r.n = notifications.Notification{}
	if err := rows.Scan(r.dest...); err != nil {
		return notifications.Notification{}, err
	}
	n := r.n
	if r.kind == 0 {
		n.User = user
	}
	n.Created = r.created.t
	n.Updated, n.Read, n.Saved = r.updated.ptr(), r.read.ptr(), r.saved.ptr()
	n.Seen, n.Archived, n.SnoozedUntil = r.seen.ptr(), r.archived.ptr(), r.snoozed.ptr()
	n.Payload.Severity = notifications.Severity(r.severity)
	n.Payload.Description, n.Payload.Link, n.Payload.Scope = r.desc.String, r.link.String, r.scope.String
	n.Payload.Topic, n.Payload.Icon = r.topic.String, r.icon.String
	if r.meta != nil {
		var err error
		if n.Payload.Metadata, err = jsonvalue.DecodeObject(r.meta); err != nil {
			return n, fmt.Errorf("notification %s: metadata: %w", n.ID, err)
		}
	}
	return n, nil
}

// Get implements notifications.Store. An id that is not a UUID is simply
// not found; upper-case UUIDs match. Archived and snoozed ones are found.
func (s *Store) Get(ctx context.Context, user, id string) (notifications.Notification, error) {
	if !uuid.Valid(id) {
		return notifications.Notification{}, fmt.Errorf("store: get %q: %w", id, notifications.ErrNotFound)
	}
	// Any change time with Archived nil: hidden ones too.
	ns, err := s.List(ctx, notifications.Query{
		User: user, Filter: notifications.Filter{IDs: []string{id}, ChangedSince: &time.Time{}}, Order: []notifications.Order{}, Limit: 1,
	})
	if err != nil {
		return notifications.Notification{}, err
	}
	if len(ns) == 0 {
		return notifications.Notification{}, fmt.Errorf("store: get %s: %w", id, notifications.ErrNotFound)
	}
	return ns[0], nil
}

// Count implements notifications.Store. A common view (see commonView)
// is read off the user's maintained counters, one row, whatever the size
// of the inbox; any other filter is counted off the tables.
func (s *Store) Count(ctx context.Context, user string, nf notifications.Filter) (int, error) {
	f := newFilter(nf)
	if f.none {
		return 0, nil
	}
	b := newStmt(s.d, 512)
	b.raw("SELECT ")
	s.countTerms(b, user, f)
	var n int
	if err := s.read(ctx, func() error { return s.readRow(ctx, b, &n) }); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// countTerms appends to b an expression of its own that counts what f
// selects for user, Count's answer: a scalar subquery of the counters
// for a common view, the table counts otherwise.
func (s *Store) countTerms(b *stmt, user string, f filter) {
	if v := commonView(f); v != viewNone {
		b.raw("(SELECT ")
		counterTerm(b, v)
		counterFrom(b, user)
		b.raw(")")
		return
	}
	s.countOwn(b, user, f)
	s.countBroadcasts(b, user, f)
}

// defaultVisibility reports whether f keeps the visible rows only.
func defaultVisibility(f filter) bool {
	return (f.Archived == nil || !*f.Archived) && (f.Archived != nil || f.ChangedSince == nil)
}

// The maintained counters (migration 20261206000001): inbox_count holds,
// per user, the visible, visible unread, visible saved and visible
// unseen notifications, and of the user's broadcast status rows the
// hidden, the read or hidden, the visible read, the visible saved and
// the seen, read or hidden ones; broadcast_count holds the number of
// broadcasts (B). Triggers keep both in the transaction of every write,
// so they are as exact as the rows. A broadcast without a status row is
// visible, unread, unsaved and unseen, so each view's broadcasts are B
// less the status rows that leave it, or the status rows that enter it.

// countView is a view of the inbox whose count the counters give.
type countView int

const (
	viewNone    countView = iota // not one: counted off the tables
	viewAll                      // no state condition
	viewUnread                   // Read false
	viewRead                     // Read true
	viewSaved                    // Saved true
	viewUnsaved                  // Saved false
	viewUnseen                   // Seen false
	viewSeen                     // Seen true
)

// commonView returns the view f is, or viewNone when f has a condition
// the counters cannot answer: ids, search, time bounds, change times,
// severity, topic, the archived view, or two state conditions at once
// (read and saved together cannot be derived from per-state counts).
// Every field of notifications.Filter must be considered here; a test
// (TestCommonViewKnowsEveryFilterField) fails when one is added.
func commonView(f filter) countView {
	if f.ids != nil || f.Search != "" || f.createdAfter != nil || f.createdBefore != nil || f.ChangedSince != nil ||
		f.severities != nil || f.Topic != "" || (f.Archived != nil && *f.Archived) {
		return viewNone
	}
	set := 0
	for _, p := range []*bool{f.Read, f.Saved, f.Seen} {
		if p != nil {
			set++
		}
	}
	switch {
	case set == 0:
		return viewAll
	case set > 1:
		return viewNone
	case f.Read != nil && *f.Read:
		return viewRead
	case f.Read != nil:
		return viewUnread
	case f.Saved != nil && *f.Saved:
		return viewSaved
	case f.Saved != nil:
		return viewUnsaved
	case *f.Seen:
		return viewSeen
	}
	return viewUnseen
}

// counterTerm writes view v's count, over the columns counterFrom joins:
// the user's own notifications in it, then its broadcasts.
func counterTerm(b *stmt, v countView) {
	c := func(name string) string { return "COALESCE(c." + name + ", 0)" }
	const all = "bc.n"
	var own, broadcasts string
	switch v {
	case viewAll:
		own, broadcasts = c("visible"), all+" - "+c("b_hidden")
	case viewUnread:
		own, broadcasts = c("unread"), all+" - "+c("b_not_unread")
	case viewRead:
		own, broadcasts = c("visible")+" - "+c("unread"), c("b_read")
	case viewSaved:
		own, broadcasts = c("saved"), c("b_saved")
	case viewUnsaved:
		own, broadcasts = c("visible")+" - "+c("saved"), all+" - "+c("b_hidden")+" - "+c("b_saved")
	case viewUnseen:
		own, broadcasts = c("unseen"), all+" - "+c("b_not_unseen")
	case viewSeen: // the visible ones less the unseen, on each side
		own, broadcasts = c("visible")+" - "+c("unseen"), c("b_not_unseen")+" - "+c("b_hidden")
	default:
		b.fail(fmt.Errorf("store: no counter for view %d", v))
		return
	}
	b.raw("(").raw(own).raw(") + (").raw(broadcasts).raw(")")
}

// counterFrom writes the FROM clause counterTerm reads: the number of
// broadcasts, the sum of broadcast_count's rows (one on SQLite, 16 on
// PostgreSQL so that concurrent broadcast sends do not queue on one
// row), and the user's counters, read by their key, NULL (0) for a user
// without a row.
func counterFrom(b *stmt, user string) {
	b.raw(` FROM (SELECT SUM(n) AS n FROM broadcast_count) bc LEFT JOIN inbox_count c ON c."user" = `).str(user)
}

// countOwn appends to b the term that counts the user's notifications f
// selects, for the filters the counters cannot answer (commonView is
// viewNone; Count and Counts read the counters for the others). The
// visible ones are counted as all of them less the hidden
// ones: the first count reads the inbox index alone where f asks only
// for read state, the second the few hidden rows off
// notification_hidden_idx, where a count of the visible rows would
// fetch every row to test it. The unseen ones are read off
// notification_unseen_idx directly.
func (s *Store) countOwn(b *stmt, user string, f filter) {
	if !defaultVisibility(f) || (f.Seen != nil && !*f.Seen) {
		b.raw("(SELECT COUNT(*) FROM notification")
		s.where(b, whereOptions{side: sideNotification, user: user, filter: f})
		b.raw(")")
		return
	}
	b.raw("((SELECT COUNT(*) FROM notification")
	s.where(b, whereOptions{side: sideNotification, user: user, filter: f, anyVisibility: true})
	b.raw(") - (SELECT COUNT(*) FROM notification")
	s.where(b, whereOptions{side: sideNotification, user: user, filter: f, anyVisibility: true})
	b.raw(" AND ")
	hidden(b, sideNotification).raw("))")
}

// countBroadcasts appends to b the terms that count the broadcasts f
// selects for user, for the filters the counters cannot answer (as for
// countOwn). Every page of such a filter counts them, so the common views avoid
// probing a status row for every broadcast. A broadcast without a status
// row for user is unread, unsaved and visible; so when f asks of the
// user's state only read and saved (not seen, archive or change times),
// the broadcasts it selects are the user's visible status rows that pass
// those tests, when a missing row fails them (read, saved), or all the
// broadcasts f's other conditions select less the status rows that fail
// them or are hidden, when a missing row passes (unread, unsaved, no
// test). Both are exact: a status row is deleted with its broadcast (ON
// DELETE CASCADE), so every row names one that exists, and without
// conditions on the broadcast's own columns the status rows are counted
// alone, one range of their key, with no probe of broadcast per row.
// Other filters take the join.
func (s *Store) countBroadcasts(b *stmt, user string, f filter) {
	if f.Seen != nil || !defaultVisibility(f) || f.changedSince != nil {
		b.raw(" + (SELECT COUNT(*)")
		fromBroadcast(b, user)
		s.where(b, whereOptions{side: sideBroadcast, user: user, filter: f})
		b.raw(")")
		return
	}
	g := f
	g.Read, g.Saved = nil, nil
	probe := newStmt(s.d, 0)
	s.where(probe, whereOptions{side: sideBroadcast, user: user, filter: g, anyVisibility: true})
	// statuses counts the user's status rows that pass cond.
	statuses := func(cond func()) {
		if len(probe.b) == 0 {
			b.raw(`(SELECT COUNT(*) FROM broadcast_user_status s WHERE s."user" = `).str(user).raw(" AND ")
			cond()
			b.raw(")")
			return
		}
		b.raw(`(SELECT COUNT(*) FROM broadcast_user_status s JOIN broadcast b ON b.id = s.broadcast_id AND s."user" = `).
			str(user).raw(" AND ")
		cond()
		s.where(b, whereOptions{side: sideBroadcast, user: user, filter: g, anyVisibility: true})
		b.raw(")")
	}
	// The state tests, and whether a missing status row passes them all.
	var tests []string
	missingPasses := true
	for _, t := range []struct {
		column string
		set    *bool
	}{{"s.read", f.Read}, {"s.saved", f.Saved}} {
		if t.set != nil {
			tests = append(tests, t.column+nullTest(*t.set))
			missingPasses = missingPasses && !*t.set
		}
	}
	b.raw(" + ")
	if !missingPasses { // e.g. read, saved, read and unsaved: visible rows passing every test
		statuses(func() { visible(b.raw(strings.Join(tests, " AND ")+" AND "), sideBroadcast) })
		return
	}
	b.raw("(SELECT COUNT(*) FROM broadcast b")
	s.where(b, whereOptions{side: sideBroadcast, user: user, filter: g, anyVisibility: true})
	b.raw(") - ")
	// Less the rows failing a test (every test is IS NULL) or hidden.
	statuses(func() {
		b.raw("(")
		for _, t := range tests {
			b.raw(strings.Replace(t, " IS NULL", " IS NOT NULL", 1) + " OR ")
		}
		hidden(b, sideBroadcast).raw(")")
	})
}

// Counts implements notifications.Store in one statement. The common
// views (commonView) are read off the user's counters; the user's
// notifications are read once for all the other filters, each one's
// count an aggregate FILTER over that one pass, rather than one count
// (and one scan of the user's rows) per filter, and each such filter's
// broadcasts are counted as Count counts them. A filter that matches
// nothing is the constant 0.
func (s *Store) Counts(ctx context.Context, user string, nfs []notifications.Filter) ([]int, error) {
	out := make([]int, len(nfs))
	fs := make([]filter, 0, len(nfs))
	at := make([]int, 0, len(nfs)) // fs[k] answers out[at[k]]
	for i, nf := range nfs {
		if f := newFilter(nf); !f.none {
			fs, at = append(fs, f), append(at, i)
		}
	}
	if len(fs) == 0 {
		return out, nil
	}
	views := make([]countView, len(fs))
	scanned := 0 // filters counted off the tables
	for k, f := range fs {
		if views[k] = commonView(f); views[k] == viewNone {
			scanned++
		}
	}
	b := newStmt(s.d, 512*scanned+256*(len(fs)-scanned+1))
	b.raw("SELECT ")
	for k, f := range fs {
		if k > 0 {
			b.raw(", ")
		}
		if views[k] != viewNone {
			counterTerm(b, views[k])
			continue
		}
		b.raw("n.c" + strconv.Itoa(k))
		s.countBroadcasts(b, user, f)
	}
	counterFrom(b, user)
	if scanned > 0 {
		b.raw(" CROSS JOIN (SELECT ")
		first := true
		for k, f := range fs {
			if views[k] != viewNone {
				continue
			}
			if !first {
				b.raw(", ")
			}
			first = false
			// where writes "WHERE "user" = ... AND ...": the user test is
			// the outer one's again, the rest this filter's conditions.
			b.raw("COUNT(*) FILTER (")
			s.where(b, whereOptions{side: sideNotification, user: user, filter: f})
			b.raw(") AS c" + strconv.Itoa(k))
		}
		b.raw(` FROM notification WHERE "user" = `).str(user).raw(") n")
	}
	dest := make([]any, len(fs))
	for k := range fs {
		dest[k] = &out[at[k]]
	}
	if err := s.read(ctx, func() error { return s.readRow(ctx, b, dest...) }); err != nil {
		return nil, fmt.Errorf("store: counts: %w", err)
	}
	return out, nil
}

// Status implements notifications.Store off the user's counters (see
// counterTerm): one row of inbox_count and broadcast_count's one row,
// whatever the size of the inbox.
func (s *Store) Status(ctx context.Context, user string) (notifications.Status, error) {
	b := newStmt(s.d, 512)
	b.raw("SELECT ")
	counterTerm(b, viewUnread)
	b.raw(", ")
	counterTerm(b, viewRead)
	b.raw(", ")
	counterTerm(b, viewUnseen)
	counterFrom(b, user)
	var st notifications.Status
	if err := s.read(ctx, func() error { return s.readRow(ctx, b, &st.Unread, &st.Read, &st.Unseen) }); err != nil {
		return notifications.Status{}, fmt.Errorf("store: status: %w", err)
	}
	return st, nil
}

// Topics implements notifications.Store; every Filter field applies.
func (s *Store) Topics(ctx context.Context, user string, nf notifications.Filter) ([]string, error) {
	f := newFilter(nf)
	if f.none {
		return []string{}, nil
	}
	b := newStmt(s.d, 512)
	b.raw("SELECT topic FROM notification")
	s.where(b, whereOptions{side: sideNotification, user: user, filter: f, extra: []string{"topic IS NOT NULL"}})
	b.raw(" UNION SELECT b.topic")
	fromBroadcast(b, user)
	s.where(b, whereOptions{side: sideBroadcast, user: user, filter: f, extra: []string{"b.topic IS NOT NULL"}})
	topics, err := s.queryStrings(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("store: topics: %w", err)
	}
	slices.Sort(topics)
	return topics, nil
}

func (s *Store) queryStrings(ctx context.Context, b statement) ([]string, error) {
	var out []string
	err := s.read(ctx, func() (err error) {
		out, err = s.queryStringsOn(ctx, s.db, b)
		return err
	})
	return out, err
}

// queryStringsOn runs b, which returns one text column, on db.
func (s *Store) queryStringsOn(ctx context.Context, db bun.IDB, b statement) ([]string, error) {
	rows, err := s.query(ctx, db, b)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// OriginTopics implements notifications.Store, sorted by origin, then
// topic.
func (s *Store) OriginTopics(ctx context.Context, user string) ([]notifications.OriginTopic, error) {
	b := newStmt(s.d, 128)
	b.raw(`SELECT DISTINCT origin, topic FROM notification WHERE "user" = `).str(user)
	var out []notifications.OriginTopic
	err := s.read(ctx, func() error {
		rows, err := s.query(ctx, s.db, b)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = []notifications.OriginTopic{}
		for rows.Next() {
			var ot notifications.OriginTopic
			var topic sql.NullString
			if err := rows.Scan(&ot.Origin, &topic); err != nil {
				return err
			}
			ot.Topic = topic.String
			out = append(out, ot)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: origin topics: %w", err)
	}
	slices.SortFunc(out, func(a, b notifications.OriginTopic) int {
		if c := strings.Compare(a.Origin, b.Origin); c != 0 {
			return c
		}
		return strings.Compare(a.Topic, b.Topic)
	})
	return out, nil
}

// maxPreallocRows bounds the rows a list preallocates for.
const maxPreallocRows = 1024
