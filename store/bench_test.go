package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// These benchmarks compare the store with the floor: the same work in
// hand-written database/sql on the same driver and schema. Run them with
//
//	go test -run '^$' -bench . ./store/
//
// HERALD_BENCH_ROWS sets the inbox size (default 100000; the design target
// is 1000000). HERALD_TEST_POSTGRES_DSN adds the PostgreSQL variants.

type benchDB struct {
	name  string
	store *store.Store
	// bind writes the n-th bound parameter: "?" or "$n".
	bind func(n int) string
	// ts converts a time to the column's parameter value.
	ts func(t time.Time) any
}

func benchDBs(b *testing.B) []benchDB {
	b.Helper()
	dbs := []benchDB{{
		name:  "sqlite",
		store: openSQLitePath(b, filepath.Join(b.TempDir(), "bench.db")),
		bind:  func(int) string { return "?" },
		ts:    func(t time.Time) any { return t.UnixMilli() },
	}}
	if os.Getenv(testdb.PostgresEnv) != "" {
		dbs = append(dbs, benchDB{
			name:  "postgres",
			store: openPostgres(b),
			bind:  func(n int) string { return "$" + strconv.Itoa(n) },
			ts:    func(t time.Time) any { return t },
		})
	}
	return dbs
}

func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("HERALD_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

func fanOut(n int, created time.Time) []notifications.Notification {
	meta := map[string]any{"backstage.io/body.markdown": "A **build** failed"}
	ns := make([]notifications.Notification, n)
	for i := range ns {
		ns[i] = notifications.Notification{ID: uuid.New(), User: fmt.Sprintf("user:default/u%05d", i), Origin: "plugin:ci",
			Created: created, Payload: notifications.Payload{Title: "Build failed", Description: "main is red",
				Link: "/ci/builds/1", Severity: notifications.SeverityHigh, Topic: "builds", Metadata: meta}}
	}
	return ns
}

// floorInsert is a plain multi-row INSERT with bound parameters, in
// batches within the bind limit, in one transaction.
func floorInsert(ctx context.Context, d benchDB, ns []notifications.Notification) error {
	db := d.store.DB().DB
	const cols = 15
	const perStmt = 32766 / cols
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var metaJS = `{"backstage.io/body.markdown":"A **build** failed"}`
	for start := 0; start < len(ns); start += perStmt {
		batch := ns[start:min(start+perStmt, len(ns))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO notification (id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata) VALUES `)
		args := make([]any, 0, len(batch)*cols)
		for i, n := range batch {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := range cols {
				if c > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(d.bind(len(args) + c + 1))
			}
			sb.WriteByte(')')
			p := n.Payload
			args = append(args, n.ID, n.User, p.Title, p.Description, string(p.Severity), p.Link, n.Origin, nil, p.Topic,
				d.ts(n.Created), nil, nil, nil, nil, metaJS)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// BenchmarkFanOut10k alternates a 10,000-recipient SaveNotifications with
// the floor's batched INSERT of the same rows; "ratio" is the store's
// rows/s over the floor's (the design target is at least 0.6).
func BenchmarkFanOut10k(b *testing.B) {
	for _, d := range benchDBs(b) {
		ctx := b.Context()
		b.Run(d.name, func(b *testing.B) {
			var storeTime, floorTime time.Duration
			for b.Loop() {
				ns := fanOut(10_000, time.Now())
				t0 := time.Now()
				if _, err := d.store.SaveNotifications(ctx, ns, nil); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := floorInsert(ctx, d, fanOut(10_000, time.Now())); err != nil {
					b.Fatal(err)
				}
				storeTime += t1.Sub(t0)
				floorTime += time.Since(t1)
			}
			b.ReportMetric(float64(10_000*b.N)/storeTime.Seconds(), "store-rows/s")
			b.ReportMetric(float64(10_000*b.N)/floorTime.Seconds(), "floor-rows/s")
			b.ReportMetric(float64(floorTime)/float64(storeTime), "ratio")
		})
	}
}

// BenchmarkSendOne alternates a one-recipient send with the floor's one
// INSERT in one transaction; "ratio" is the store's rate over the floor's
// (the design target on SQLite is at least 0.7).
func BenchmarkSendOne(b *testing.B) {
	for _, d := range benchDBs(b) {
		ctx := b.Context()
		b.Run(d.name, func(b *testing.B) {
			var storeTime, floorTime time.Duration
			for b.Loop() {
				ns := fanOut(1, time.Now())
				t0 := time.Now()
				if _, err := d.store.SaveNotifications(ctx, ns, nil); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := floorInsert(ctx, d, fanOut(1, time.Now())); err != nil {
					b.Fatal(err)
				}
				storeTime += t1.Sub(t0)
				floorTime += time.Since(t1)
			}
			b.ReportMetric(float64(floorTime)/float64(storeTime), "ratio")
		})
	}
}

// seedInbox stores rows notifications, one a second, over 1000 users, half
// of them read, and 20 broadcasts spread over the same time; it returns a
// user.
func seedInbox(b testing.TB, s *store.Store, rows int) string {
	b.Helper()
	ctx := b.Context()
	start := time.Now().Add(-time.Duration(rows) * time.Second)
	const users = 1000
	for done := 0; done < rows; done += 10_000 {
		ns := fanOut(10_000, start)
		for i := range ns {
			k := done + i
			ns[i].User = fmt.Sprintf("user:default/u%05d", k%users)
			ns[i].Created = start.Add(time.Duration(k) * time.Second)
			if k%2 == 0 {
				ns[i].Read = &ns[i].Created
			}
		}
		if _, err := s.SaveNotifications(ctx, ns[:min(len(ns), rows-done)], nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 20 {
		if _, err := s.SaveBroadcast(ctx, notifications.Notification{Origin: "plugin:ci",
			Created: start.Add(time.Duration(i*rows/20) * time.Second), Payload: notifications.Payload{Title: "broadcast"}}, nil); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.DB().ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return "user:default/u00001"
}

// BenchmarkUnreadPage alternates the store's List and the floor's query in
// one loop, so load on the machine hits both alike; "ratio" is store time
// over floor time (the design target is at most 2).
func BenchmarkUnreadPage(b *testing.B) {
	rows := benchRows()
	for _, d := range benchDBs(b) {
		ctx := b.Context()
		u := seedInbox(b, d.store, rows)
		db := d.store.DB().DB
		floor := `SELECT id, title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata ` +
			`FROM notification WHERE "user" = ` + d.bind(1) + ` AND read IS NULL ORDER BY created DESC LIMIT 20`
		q := notifications.Query{User: u, Filter: notifications.Filter{Read: new(false)}, Limit: 20}
		b.Run(fmt.Sprintf("%s/%d", d.name, rows), func(b *testing.B) {
			var storeTime, floorTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				ns, err := d.store.List(ctx, q)
				if err != nil || len(ns) != 20 {
					b.Fatal(len(ns), err)
				}
				t1 := time.Now()
				if err := floorPage(ctx, db, floor, u); err != nil {
					b.Fatal(err)
				}
				storeTime += t1.Sub(t0)
				floorTime += time.Since(t1)
			}
			b.ReportMetric(float64(storeTime.Nanoseconds())/float64(b.N), "store-ns/op")
			b.ReportMetric(float64(floorTime.Nanoseconds())/float64(b.N), "floor-ns/op")
			b.ReportMetric(float64(storeTime)/float64(floorTime), "ratio")
		})
	}
}

func floorPage(ctx context.Context, db *sql.DB, query, user string) error {
	rows, err := db.QueryContext(ctx, query, user)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			id, title, severity, origin    string
			desc, link, scope, topic, icon sql.NullString
			created, updated, read, saved  any
			meta                           sql.NullString
		)
		if err := rows.Scan(&id, &title, &desc, &severity, &link, &origin, &scope, &topic, &created, &updated, &read, &saved, &icon, &meta); err != nil {
			return err
		}
		n++
	}
	if n != 20 {
		return fmt.Errorf("floor page has %d rows", n)
	}
	return rows.Err()
}
