package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// noopProcessor is the post-processor of the delivery benchmarks: it
// delivers nothing, so what they measure is Herald's share of a delivery.
func noopProcessor() notifications.Processor {
	return &notifications.PostProcessorFunc{
		ProcessorName: "noop",
		Func:          func(context.Context, notifications.Notification, notifications.SendOptions) error { return nil },
	}
}

// deliveryColumns are the columns Herald writes for a new delivery, in
// the order of floorDeliveries' values; the others keep their defaults
// (status pending, attempts and generation 0, no lease, no error).
const deliveryColumns = `id, send_id, notification_id, broadcast, "user", processor, next_attempt, snapshot, created, updated`

const deliveryColumnsPerRow = 10

// deliveryInsertSQL is a multi-row INSERT into floor_delivery of rows rows
// with bound parameters.
func deliveryInsertSQL(rows int) string {
	row := "(" + strings.Repeat("?, ", deliveryColumnsPerRow-1) + "?)"
	var b strings.Builder
	b.WriteString("INSERT INTO floor_delivery (" + deliveryColumns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// floorDeliveries is what a send with one post-processor writes besides
// its notifications, done by hand: one floor_herald_send row (a new id,
// the send's options encoded to JSON) and one floor_delivery row per
// notification (a new id each, due at the send's time), in multi-row
// INSERTs of floorBatch rows prepared once, plus one for the remainder.
type floorDeliveries struct {
	o         notifications.SendOptions
	processor string
	send      *sql.Stmt
	batch     *sql.Stmt
	ids       []string // the notifications' ids, reused across sends
	args      []any
}

func newFloorDeliveries(tb testing.TB, db *sql.DB, o notifications.SendOptions, processor string) *floorDeliveries {
	tb.Helper()
	send, err := db.Prepare(`INSERT INTO floor_herald_send (id, origin, options, trace_parent, idempotency_key, created) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { send.Close() })
	batch, err := db.Prepare(deliveryInsertSQL(floorBatch))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { batch.Close() })
	return &floorDeliveries{o: o, processor: processor, send: send, batch: batch}
}

// write inserts the send row and the deliveries of ids (the notification
// of users[i] has ids[i]) on tx.
func (f *floorDeliveries) write(ctx context.Context, tx *sql.Tx, users, ids []string, created int64) error {
	options, err := json.Marshal(f.o)
	if err != nil {
		return err
	}
	sendID := uuid.New()
	if _, err := tx.StmtContext(ctx, f.send).ExecContext(ctx, sendID, f.o.Origin, string(options), nil, nil, created); err != nil {
		return err
	}
	batch := tx.StmtContext(ctx, f.batch)
	for start := 0; start < len(ids); start += floorBatch {
		end := min(start+floorBatch, len(ids))
		args := f.args[:0]
		for i := start; i < end; i++ {
			args = append(args, uuid.New(), sendID, ids[i], false, users[i], f.processor, created, nil, created, created)
		}
		f.args = args
		if end-start == floorBatch {
			_, err = batch.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, deliveryInsertSQL(end-start), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkFanoutDelivery is BenchmarkFanout with one post-processor: one
// Send to a group of 10,000 users writes 10,000 notifications, 10,000
// deliveries and one send row in one transaction. The floor writes the
// same rows, with the same indexes and foreign key, in batched INSERTs in
// one transaction. The Service runs no delivery workers
// (DeliveryWorkers -1), so no attempt competes with the sends: what is
// measured is the write the send commits before it returns. rows/s
// counts the notifications (one per recipient), as in BenchmarkFanout.
func BenchmarkFanoutDelivery(b *testing.B) {
	const recipients = 10_000
	ctx := context.Background()
	catalog, users := fanoutCatalog(recipients)
	path := filepath.Join(b.TempDir(), "herald.db")
	svc, err := notifications.New(notifications.Config{
		Store: openStore(b, path), Catalog: catalog,
		Processors: []notifications.Processor{noopProcessor()}, DeliveryWorkers: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close(ctx) })
	p := benchPayload()
	o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Entity("group:default/everyone"), Payload: p}
	db := openFloor(b, path)
	floor := newFloorFanout(b, db)
	floor.deliveries = newFloorDeliveries(b, db, o, "noop")

	fanoutPair(ctx, b, svc, o, floor, users)

	// Both sides wrote the same rows: as many of each kind, of the same
	// types, with the same values where they do not differ by nature.
	// Each query reads Herald's tables with %[1]s "" and the floor's with
	// "floor_".
	for _, q := range []string{
		`SELECT count(*) FROM %[1]snotification`,
		`SELECT count(*) FROM %[1]sdelivery`,
		`SELECT count(*) FROM %[1]sherald_send`,
		`SELECT DISTINCT typeof(id) || typeof(send_id) || typeof(notification_id) || ' ' || broadcast || typeof(broadcast) || ' ' ||
			(notification_id IN (SELECT id FROM %[1]snotification)) || ' ' || processor || ' ' || status || attempts || generation || ' ' ||
			typeof(next_attempt) || (next_attempt = created AND updated = created) || typeof(snapshot) || typeof(lease_token) FROM %[1]sdelivery`,
		`SELECT DISTINCT origin || ' ' || typeof(options) || length(options) || typeof(trace_parent) || typeof(idempotency_key) ||
			typeof(request_hash) || typeof(created) FROM %[1]sherald_send`,
	} {
		herald, err := queryStrings(ctx, db, fmt.Sprintf(q, ""))
		if err != nil {
			b.Fatal(err)
		}
		fl, err := queryStrings(ctx, db, fmt.Sprintf(q, "floor_"))
		if err != nil {
			b.Fatal(err)
		}
		if !slices.Equal(herald, fl) || len(herald) == 0 {
			b.Fatalf("%s: Herald wrote %q, the floor %q", q, herald, fl)
		}
	}
}

// BenchmarkDeliveryThroughput is how fast a Service's delivery workers
// work off a backlog through a no-op post-processor: one op is one
// delivery, claimed, attempted and recorded as sent. The b.N deliveries
// are written first, untimed, by sends of a Service that runs no
// workers; the timer runs from the start of a Service with workers on
// the same store until its OnDelivery has seen the last outcome. There
// is no floor: the cost is the store's claim and finish transactions
// (and the settings read of each claimed batch), which a hand-written
// queue would need too; deliveries/claim says how many deliveries each
// claim transaction took.
func BenchmarkDeliveryThroughput(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) notifications.Store
	}{
		{"sqlite", func(b *testing.B) notifications.Store {
			return openStore(b, filepath.Join(b.TempDir(), "herald.db"))
		}},
		{"postgres", func(b *testing.B) notifications.Store {
			st, err := store.OpenPostgres(context.Background(), testdb.PostgresSchema(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		}},
	}
	for _, s := range stores {
		for _, workers := range []int{notifications.DefaultDeliveryWorkers, 16} {
			b.Run(fmt.Sprintf("%s/workers=%d", s.name, workers), func(b *testing.B) {
				deliveryThroughput(b, s.open(b), workers)
			})
		}
	}
}

// claimCounter counts a store's claims, to report how many deliveries
// each claim took: a claim is a write transaction, and on a single-writer
// store it is most of what one delivery costs besides its finish.
type claimCounter struct {
	notifications.Store
	claims, claimed atomic.Int64
}

func (c *claimCounter) ClaimDeliveries(ctx context.Context, o notifications.ClaimOptions) ([]notifications.DeliveryClaim, error) {
	out, err := c.Store.ClaimDeliveries(ctx, o)
	if len(out) > 0 {
		c.claims.Add(1)
		c.claimed.Add(int64(len(out)))
	}
	return out, err
}

// throughputBatch bounds the recipients of one pre-writing send.
const throughputBatch = 10_000

func deliveryThroughput(b *testing.B, st notifications.Store, workers int) {
	ctx := context.Background()
	n := b.N
	catalog, users := fanoutCatalog(min(n, throughputBatch))
	writer, err := notifications.New(notifications.Config{
		Store: st, Catalog: catalog, Processors: []notifications.Processor{noopProcessor()}, DeliveryWorkers: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer writer.Close(ctx)
	o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Entity("group:default/everyone"), Payload: benchPayload()}
	for left := n; left > 0; {
		if left < len(users) {
			o.Recipients = notifications.Entity(users[:left]...)
		}
		ns, err := writer.Send(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		left -= len(ns)
	}

	var done, notSent atomic.Int64
	finished := make(chan struct{})
	counted := &claimCounter{Store: st}
	b.ResetTimer()
	svc, err := notifications.New(notifications.Config{
		Store: counted, Processors: []notifications.Processor{noopProcessor()}, DeliveryWorkers: workers,
		OnDelivery: func(_ context.Context, d notifications.Delivery) {
			if d.Status != notifications.DeliverySent {
				notSent.Add(1)
			}
			if done.Add(1) == int64(n) {
				close(finished)
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d deliveries done after 10 minutes", done.Load(), n)
	}
	b.StopTimer()
	if err := svc.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if bad := notSent.Load(); bad > 0 {
		b.Fatalf("%d of %d deliveries not sent", bad, n)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(counted.claimed.Load())/float64(counted.claims.Load()), "deliveries/claim")
}
