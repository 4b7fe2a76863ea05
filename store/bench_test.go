package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/casefold"
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
// batches within the bind limit, in one transaction: of ns and, unless w
// is nil, of w's send and deliveries.
func floorInsert(ctx context.Context, d benchDB, ns []notifications.Notification, w *notifications.DeliveryWrite) error {
	tx, err := d.store.DB().DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := floorNotifications(ctx, tx, d, ns); err != nil {
		return err
	}
	if w != nil {
		if err := floorDeliveries(ctx, tx, d, ns, w); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// floorRows writes rows of cols bound parameters each with multi-row
// INSERTs of head, in batches within SQLite's bind limit.
func floorRows(ctx context.Context, tx *sql.Tx, d benchDB, head string, cols, n int, row func(i int, args []any) []any) error {
	perStmt := 32766 / cols
	for start := 0; start < n; start += perStmt {
		end := min(start+perStmt, n)
		var sb strings.Builder
		sb.WriteString(head)
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			if i > start {
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
			args = row(i, args)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func floorNotifications(ctx context.Context, tx *sql.Tx, d benchDB, ns []notifications.Notification) error {
	const metaJS = `{"backstage.io/body.markdown":"A **build** failed"}`
	// The text folded for search, once per distinct text, as the store
	// folds it.
	var title, desc, titleFold, descFold string
	return floorRows(ctx, tx, d, `INSERT INTO notification (id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, title_fold, description_fold) VALUES `,
		17, len(ns), func(i int, args []any) []any {
			n := &ns[i]
			p := &n.Payload
			if i == 0 || p.Title != title {
				title, titleFold = p.Title, casefold.String(p.Title)
			}
			if i == 0 || p.Description != desc {
				desc, descFold = p.Description, casefold.String(p.Description)
			}
			return append(args, n.ID, n.User, p.Title, p.Description, string(p.Severity), p.Link, n.Origin, nil, p.Topic,
				d.ts(n.Created), nil, nil, nil, nil, metaJS, titleFold, descFold)
		})
}

// floorDeliveries writes the send row and one delivery per notification,
// as a send with one post-processor does, bound parameters again.
func floorDeliveries(ctx context.Context, tx *sql.Tx, d benchDB, ns []notifications.Notification, w *notifications.DeliveryWrite) error {
	opts, err := json.Marshal(w.Send.Options)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO herald_send (id, origin, options, created) VALUES ("+
		d.bind(1)+", "+d.bind(2)+", "+d.bind(3)+", "+d.bind(4)+")", w.Send.ID, w.Send.Origin, string(opts), d.ts(w.Send.Created)); err != nil {
		return err
	}
	created := d.ts(w.Send.Created)
	return floorRows(ctx, tx, d, `INSERT INTO delivery (id, send_id, notification_id, broadcast, "user", processor, next_attempt, created, updated) VALUES `,
		9, len(w.Deliveries), func(i int, args []any) []any {
			nd := &w.Deliveries[i]
			n := &ns[nd.Index]
			return append(args, nd.ID, w.Send.ID, n.ID, false, n.User, nd.Processor, created, created, created)
		})
}

// withDeliveries is the DeliveryWrite of a send of ns to one
// post-processor.
func withDeliveries(ns []notifications.Notification) *notifications.DeliveryWrite {
	w := &notifications.DeliveryWrite{Send: notifications.SendRecord{ID: uuid.New(), Origin: "plugin:ci", Created: ns[0].Created,
		Options: notifications.SendOptions{Origin: "plugin:ci", Recipients: notifications.Entity("group:default/everyone"), Payload: ns[0].Payload}}}
	w.Deliveries = make([]notifications.NewDelivery, len(ns))
	for i := range ns {
		w.Deliveries[i] = notifications.NewDelivery{ID: uuid.New(), Processor: "email", Index: i}
	}
	return w
}

// BenchmarkFanOut10k alternates a 10,000-recipient SaveNotifications with
// the floor's batched INSERT of the same rows; "ratio" is the store's
// rows/s over the floor's (the design target is at least 0.6).
func BenchmarkFanOut10k(b *testing.B) {
	for _, d := range benchDBs(b) {
		b.Run(d.name, func(b *testing.B) {
			storeTime, floorTime := alternateInserts(b, d, 10_000)
			b.ReportMetric(float64(10_000*b.N)/storeTime.Seconds(), "store-rows/s")
			b.ReportMetric(float64(10_000*b.N)/floorTime.Seconds(), "floor-rows/s")
			b.ReportMetric(float64(floorTime)/float64(storeTime), "ratio")
		})
	}
}

// alternateInserts runs b's loop over pairs of writes of n notifications:
// the store's SaveNotifications, then the floor's INSERT of as many rows.
// It returns the time each side took in all.
func alternateInserts(b *testing.B, d benchDB, n int) (storeTime, floorTime time.Duration) {
	ctx := b.Context()
	for b.Loop() {
		ns := fanOut(n, time.Now())
		t0 := time.Now()
		if _, err := d.store.SaveNotifications(ctx, ns, nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := floorInsert(ctx, d, fanOut(n, time.Now()), nil); err != nil {
			b.Fatal(err)
		}
		storeTime += t1.Sub(t0)
		floorTime += time.Since(t1)
	}
	return storeTime, floorTime
}

// BenchmarkFanOut10kDeliveries alternates three 10,000-recipient
// writes: SaveNotifications without deliveries, SaveNotifications with one
// delivery per notification (one post-processor), and the floor writing
// the latter's rows (notifications, send, deliveries) with plain
// database/sql in one transaction. "cost" is the time with deliveries
// over the time without (the target is well under 2); "ratio" is the
// floor's time over the store's, both with deliveries (the design target
// is at least 0.6).
func BenchmarkFanOut10kDeliveries(b *testing.B) {
	for _, d := range benchDBs(b) {
		ctx := b.Context()
		b.Run(d.name, func(b *testing.B) {
			var without, with, floor time.Duration
			for b.Loop() {
				ns := fanOut(10_000, time.Now())
				t0 := time.Now()
				if _, err := d.store.SaveNotifications(ctx, ns, nil); err != nil {
					b.Fatal(err)
				}
				ns = fanOut(10_000, time.Now())
				w := withDeliveries(ns)
				t1 := time.Now()
				if _, err := d.store.SaveNotifications(ctx, ns, w); err != nil {
					b.Fatal(err)
				}
				ns = fanOut(10_000, time.Now())
				w = withDeliveries(ns)
				t2 := time.Now()
				if err := floorInsert(ctx, d, ns, w); err != nil {
					b.Fatal(err)
				}
				without += t1.Sub(t0)
				with += t2.Sub(t1)
				floor += time.Since(t2)
			}
			b.ReportMetric(float64(10_000*b.N)/with.Seconds(), "store-rows/s")
			b.ReportMetric(float64(10_000*b.N)/without.Seconds(), "no-delivery-rows/s")
			b.ReportMetric(float64(10_000*b.N)/floor.Seconds(), "floor-rows/s")
			b.ReportMetric(float64(with)/float64(without), "cost")
			b.ReportMetric(float64(floor)/float64(with), "ratio")
		})
	}
}

// BenchmarkClaimDeliveries measures the store's side of delivery
// throughput: claims of 50 due deliveries, each then finished as sent by
// one of 4 workers (the Service's default DeliveryWorkers), so that
// PostgreSQL's commits of outcomes overlap as they do in a Service.
// Refills of 10,000 due deliveries are not timed. "deliveries/s" counts
// deliveries claimed and finished.
func BenchmarkClaimDeliveries(b *testing.B) {
	const workers = 4
	for _, d := range benchDBs(b) {
		ctx := b.Context()
		b.Run(d.name, func(b *testing.B) {
			refill := func() {
				ns := fanOut(10_000, time.Now().Add(-time.Minute))
				if _, err := d.store.SaveNotifications(ctx, ns, withDeliveries(ns)); err != nil {
					b.Fatal(err)
				}
			}
			refill()
			done := 0
			var spent time.Duration
			for b.Loop() {
				t0 := time.Now()
				cs, err := d.store.ClaimDeliveries(ctx, notifications.ClaimOptions{Now: time.Now(), Lease: time.Minute, Limit: 50})
				if err != nil {
					b.Fatal(err)
				}
				errs := make(chan error, workers)
				for w := range workers {
					go func() {
						for i := w; i < len(cs); i += workers {
							if _, err := d.store.FinishDelivery(ctx, notifications.DeliveryOutcome{ID: cs[i].Delivery.ID, Token: cs[i].Token,
								Status: notifications.DeliverySent, Now: time.Now()}); err != nil {
								errs <- err
								return
							}
						}
						errs <- nil
					}()
				}
				for range workers {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
				spent += time.Since(t0)
				done += len(cs)
				if len(cs) < 50 {
					b.StopTimer()
					refill()
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(done)/spent.Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkSendOne alternates a one-recipient send with the floor's one
// INSERT in one transaction; "ratio" is the store's rate over the floor's
// (the design target on SQLite is at least 0.7).
func BenchmarkSendOne(b *testing.B) {
	for _, d := range benchDBs(b) {
		b.Run(d.name, func(b *testing.B) {
			storeTime, floorTime := alternateInserts(b, d, 1)
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
