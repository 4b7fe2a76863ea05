package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// inboxDB is one seeded database as both sides see it: Herald's service
// on its store, and a plain database/sql handle for the floor.
type inboxDB struct {
	svc   *notifications.Service
	floor *sql.DB
	// param and param2 are the dialect's placeholders for arguments 1
	// and 2: "?1", "?2" or "$1", "$2".
	param, param2 string
	// separate says whether the floor reads the page's two sides with
	// separate statements (SQLite) or with one UNION ALL (PostgreSQL).
	separate bool
	// ts converts a time to the dialect's column value.
	ts func(time.Time) any
}

func sqliteInbox(b *testing.B) inboxDB {
	path := seededSQLite(b)
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return inboxDB{svc: newService(b, openStore(b, path), nil), floor: db, param: "?1", param2: "?2", separate: true, ts: sqliteTime}
}

func postgresInbox(b *testing.B) inboxDB {
	dsn := seededPostgres(b)
	st, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	// The floor uses pgx's defaults: the extended protocol with its
	// statement cache, what a hand-written program gets.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return inboxDB{svc: newService(b, st, nil), floor: db, param: "$1", param2: "$2", ts: pgTime}
}

func forEachDB(b *testing.B, f func(b *testing.B, d inboxDB)) {
	b.Run("sqlite", func(b *testing.B) { f(b, sqliteInbox(b)) })
	b.Run("postgres", func(b *testing.B) { f(b, postgresInbox(b)) })
}

// The floor's page queries. They do the same logical work as Herald's
// List: the user's visible unread notifications and the visible unread
// broadcasts (no status row for the user, or one neither read, archived
// nor snoozed), newest first, ties broken by kind then id, every column
// of both, the inbox states included.
//
// On SQLite, where a statement is a function call, the floor reads the
// two sides separately as a careful hand-written program would: the
// notification page straight off the inbox index (floorPageSQL), then
// the unread broadcasts newer than its last row (floorBroadcastsSQL),
// merged in Go. On PostgreSQL, where each statement is a round trip, it
// sends one UNION ALL of both sides, each cut to 20 (floorUnionSQL).
const (
	floorNotificationColumns = `id, 0 AS kind, title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, seen, archived, snoozed_until`
	floorBroadcastColumns    = `b.id, 1 AS kind, b.title, b.description, b.severity, b.link, b.origin, b.scope, b.topic, b.created, b.updated, s.read, s.saved, b.icon, b.metadata, s.seen, s.archived, s.snoozed_until`
	floorPageSQL             = `SELECT ` + floorNotificationColumns + ` FROM notification ` +
		`WHERE "user" = $P AND read IS NULL AND archived IS NULL AND snoozed_until IS NULL ORDER BY created DESC, id LIMIT 20`
	floorBroadcastsSQL = `SELECT ` + floorBroadcastColumns + ` ` +
		`FROM broadcast b LEFT JOIN broadcast_user_status s ON s."user" = $P AND s.broadcast_id = b.id ` +
		`WHERE s.read IS NULL AND s.archived IS NULL AND s.snoozed_until IS NULL AND b.created > $Q ORDER BY b.created DESC, b.id LIMIT 20`
	floorUnionSQL = `SELECT * FROM (` +
		`SELECT * FROM (SELECT ` + floorNotificationColumns + ` ` +
		`FROM notification WHERE "user" = $P AND read IS NULL AND archived IS NULL AND snoozed_until IS NULL ORDER BY read, created DESC, id LIMIT 20) n_ ` +
		`UNION ALL ` +
		`SELECT * FROM (SELECT ` + floorBroadcastColumns + ` ` +
		`FROM broadcast b LEFT JOIN broadcast_user_status s ON s."user" = $P AND s.broadcast_id = b.id ` +
		`WHERE s.read IS NULL AND s.archived IS NULL AND s.snoozed_until IS NULL ORDER BY b.created DESC, b.id LIMIT 20) b_` +
		`) u ORDER BY created DESC, kind, id LIMIT 20`
)

// floorHiddenSQL is the part of a count that leaves out the hidden rows:
// they are few, so the visible rows are counted as all of them less the
// hidden ones, the first count off the inbox index alone, the second off
// notification_hidden_idx (partial, its WHERE repeated term for term so
// that SQLite uses it), where a count of the visible rows would fetch
// every one of the user's rows to test it.
const floorHiddenSQL = `(archived IS NOT NULL OR snoozed_until IS NOT NULL)`

// floorCountSQL is the floor's total: what List reports as TotalCount,
// the visible unread notifications and broadcasts. The visible unread
// broadcasts are all broadcasts less the user's status rows that are
// read or hidden, which reads only the user's status rows where a LEFT
// JOIN would probe a status for every broadcast; it needs no join with
// broadcast either, since a status goes with its broadcast (ON DELETE
// CASCADE, foreign keys on as the store has them).
const floorCountSQL = `SELECT (SELECT COUNT(*) FROM notification WHERE "user" = $P AND read IS NULL) - ` +
	`(SELECT COUNT(*) FROM notification WHERE "user" = $P AND read IS NULL AND ` + floorHiddenSQL + `) + ` +
	`(SELECT COUNT(*) FROM broadcast) - (SELECT COUNT(*) FROM broadcast_user_status WHERE "user" = $P AND ` +
	`(read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL))`

// floorStatusSQL is the floor's status: the user's unread and read
// notifications, less the hidden ones of each (one pass over the hidden
// index), the unseen visible ones (off notification_unseen_idx, whose
// WHERE it repeats), all broadcasts, and one pass over the user's status
// rows for those not unread, read, and not unseen (no join, as in
// floorCountSQL). Reading implies seeing: unseen is neither seen nor read.
const floorStatusSQL = `SELECT (SELECT COUNT(*) FROM notification WHERE "user" = $P AND read IS NULL) - h.unread, ` +
	`(SELECT COUNT(*) FROM notification WHERE "user" = $P AND read IS NOT NULL) - h.read, ` +
	`(SELECT COUNT(*) FROM notification WHERE "user" = $P AND seen IS NULL AND read IS NULL AND archived IS NULL AND snoozed_until IS NULL), ` +
	`(SELECT COUNT(*) FROM broadcast), s.not_unread, s.read, s.not_unseen ` +
	`FROM (SELECT COUNT(*) FILTER (WHERE read IS NULL) AS unread, COUNT(*) FILTER (WHERE read IS NOT NULL) AS read ` +
	`FROM notification WHERE "user" = $P AND ` + floorHiddenSQL + `) h, ` +
	`(SELECT COUNT(*) FILTER (WHERE read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL) AS not_unread, ` +
	`COUNT(*) FILTER (WHERE read IS NOT NULL AND archived IS NULL AND snoozed_until IS NULL) AS read, ` +
	`COUNT(*) FILTER (WHERE seen IS NOT NULL OR read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL) AS not_unseen ` +
	`FROM broadcast_user_status WHERE "user" = $P) s`

func (d inboxDB) prepare(b *testing.B, query string) *sql.Stmt {
	stmt, err := d.floor.Prepare(strings.NewReplacer("$P", d.param, "$Q", d.param2).Replace(query))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stmt.Close() })
	return stmt
}

// BenchmarkList reads a page of 20 unread notifications for one user among
// 1,000,000 rows over 1,000 users: Service.List with its total count. The
// floor runs the same count (floorCountSQL) and page (see floorPageSQL)
// as prepared statements and builds the same []notifications.Notification,
// metadata decoded.
func BenchmarkList(b *testing.B) {
	forEachDB(b, func(b *testing.B, d inboxDB) {
		ctx := context.Background()
		floor := d.floorList(b)
		opts := notifications.ListOptions{Filter: notifications.Filter{Read: new(false)}, Limit: new(20)}
		want, _, err := floor(ctx, listUser)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		bp := &pair{b: b}
		bp.run(func() error {
			res, err := d.svc.List(ctx, listUser, opts)
			if err == nil && (len(res.Notifications) != 20 || res.TotalCount != want) {
				err = fmt.Errorf("page of %d of %d, want 20 of %d", len(res.Notifications), res.TotalCount, want)
			}
			return err
		}, func() error {
			total, ns, err := floor(ctx, listUser)
			if err == nil && (len(ns) != 20 || total != want) {
				err = fmt.Errorf("floor page of %d of %d, want 20 of %d", len(ns), total, want)
			}
			return err
		})
		bp.report()
	})
}

// floorList returns the floor's List: the total and the page.
func (d inboxDB) floorList(b *testing.B) func(ctx context.Context, user string) (int, []notifications.Notification, error) {
	count := d.prepare(b, floorCountSQL)
	total := func(ctx context.Context, user string) (int, error) {
		var n int
		err := count.QueryRowContext(ctx, user).Scan(&n)
		return n, err
	}
	if !d.separate {
		union := d.prepare(b, floorUnionSQL)
		return func(ctx context.Context, user string) (int, []notifications.Notification, error) {
			n, err := total(ctx, user)
			if err != nil {
				return 0, nil, err
			}
			ns, err := scanPage(ctx, union, user, make([]notifications.Notification, 0, 20), user)
			return n, ns, err
		}
	}
	page, broadcasts := d.prepare(b, floorPageSQL), d.prepare(b, floorBroadcastsSQL)
	return func(ctx context.Context, user string) (int, []notifications.Notification, error) {
		n, err := total(ctx, user)
		if err != nil {
			return 0, nil, err
		}
		own, err := scanPage(ctx, page, user, make([]notifications.Notification, 0, 20), user)
		if err != nil {
			return 0, nil, err
		}
		var after time.Time // broadcasts newer than the last row can make the page
		if len(own) == 20 {
			after = own[19].Created
		}
		bs, err := scanPage(ctx, broadcasts, user, nil, user, d.ts(after))
		if err != nil {
			return 0, nil, err
		}
		if len(bs) == 0 {
			return n, own, nil
		}
		merged := make([]notifications.Notification, 0, 20)
		for len(merged) < 20 && (len(own) > 0 || len(bs) > 0) {
			if len(bs) == 0 || len(own) > 0 && !bs[0].Created.After(own[0].Created) {
				merged, own = append(merged, own[0]), own[1:]
			} else {
				merged, bs = append(merged, bs[0]), bs[1:]
			}
		}
		return n, merged, nil
	}
}

// scanPage runs stmt and appends its rows, in the page queries' columns,
// to ns.
func scanPage(ctx context.Context, stmt *sql.Stmt, user string, ns []notifications.Notification, args ...any) ([]notifications.Notification, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			n                              notifications.Notification
			kind                           int
			severity                       string
			desc, link, scope, topic, icon sql.NullString
			created, updated, read, saved  floorTime
			seen, archived, snoozed        floorTime
			meta                           []byte
		)
		if err := rows.Scan(&n.ID, &kind, &n.Payload.Title, &desc, &severity, &link, &n.Origin, &scope, &topic,
			&created, &updated, &read, &saved, &icon, &meta, &seen, &archived, &snoozed); err != nil {
			return nil, err
		}
		if kind == 0 {
			n.User = user
		}
		n.Created, n.Updated, n.Read, n.Saved = created.t, updated.ptr(), read.ptr(), saved.ptr()
		n.Seen, n.Archived, n.SnoozedUntil = seen.ptr(), archived.ptr(), snoozed.ptr()
		if n.Seen == nil {
			n.Seen = n.Read // reading implies seeing
		}
		n.Payload.Severity = notifications.Severity(severity)
		n.Payload.Description, n.Payload.Link, n.Payload.Scope = desc.String, link.String, scope.String
		n.Payload.Topic, n.Payload.Icon = topic.String, icon.String
		if meta != nil {
			if err := json.Unmarshal(meta, &n.Payload.Metadata); err != nil {
				return nil, err
			}
		}
		ns = append(ns, n)
	}
	return ns, rows.Err()
}

// floorTime scans epoch milliseconds (SQLite) or a timestamp (PostgreSQL).
type floorTime struct {
	t     time.Time
	valid bool
}

func (f *floorTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		f.valid = false
	case int64:
		f.t, f.valid = time.UnixMilli(v).UTC(), true
	case time.Time:
		f.t, f.valid = v.UTC(), true
	default:
		return fmt.Errorf("floor: cannot scan %T into a time", src)
	}
	return nil
}

func (f floorTime) ptr() *time.Time {
	if !f.valid {
		return nil
	}
	return &f.t
}

// BenchmarkStatus counts the visible unread, read and unseen
// notifications of the user with 10,000 of them, broadcasts included:
// Service.Status against the same counts (floorStatusSQL) as one prepared
// statement.
func BenchmarkStatus(b *testing.B) {
	forEachDB(b, func(b *testing.B, d inboxDB) {
		ctx := context.Background()
		stmt := d.prepare(b, floorStatusSQL)
		want := fullInbox.wantStatus()
		b.ReportAllocs()
		bp := &pair{b: b}
		bp.run(func() error {
			got, err := d.svc.Status(ctx, statusUser)
			if err == nil && got != want {
				err = fmt.Errorf("status %+v, want %+v", got, want)
			}
			return err
		}, func() error {
			var unread, read, unseen, broadcasts, notUnread, broadcastsRead, notUnseen int
			if err := stmt.QueryRowContext(ctx, statusUser).Scan(&unread, &read, &unseen, &broadcasts, &notUnread, &broadcastsRead, &notUnseen); err != nil {
				return err
			}
			got := notifications.Status{Unread: unread + broadcasts - notUnread, Read: read + broadcastsRead, Unseen: unseen + broadcasts - notUnseen}
			if got != want {
				return fmt.Errorf("floor status %+v, want %+v", got, want)
			}
			return nil
		})
		bp.report()
	})
}
