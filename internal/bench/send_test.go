package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/casefold"
	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

const benchOrigin = "plugin:ci"

func benchPayload() notifications.Payload {
	return notifications.Payload{
		Title: "Build failed", Description: "main is red", Link: "/ci/builds/1",
		Severity: notifications.SeverityHigh, Topic: "builds",
		Metadata: map[string]any{notifications.MetadataMarkdownBody: "A **build** failed"},
	}
}

// notificationColumns are the columns Herald writes for a user
// notification, in the order of floorRow's values.
const notificationColumns = `id, "user", title, description, severity, link, origin, scope, topic, created, updated, read, saved, icon, metadata, title_fold, description_fold`

const columnsPerRow = 17

// floorRow appends the values Herald would store for one notification to
// user: the same columns, NULL where Herald writes NULL. f is p's text
// folded for search.
func floorRow(args []any, id, user string, p notifications.Payload, created int64, meta string, f folded) []any {
	return append(args, id, user, p.Title, p.Description, string(p.Severity), p.Link, benchOrigin,
		nil, p.Topic, created, nil, nil, nil, nil, meta, f.title, f.description)
}

// folded is a payload's title and description folded for search, as
// Herald stores them beside the text: the floor folds them too, once per
// send as Herald does.
type folded struct{ title, description string }

func fold(p notifications.Payload) folded {
	return folded{casefold.String(p.Title), casefold.String(p.Description)}
}

// insertSQL is a multi-row INSERT into table of rows rows with bound
// parameters.
func insertSQL(table string, rows int) string {
	row := "(" + strings.Repeat("?, ", columnsPerRow-1) + "?)"
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + notificationColumns + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// BenchmarkSingle is one Send to one user. The floor does what a
// hand-written sender must for the same row (a new id, the time, the
// metadata encoded to JSON) and one autocommit INSERT through a prepared
// statement: the fastest plain way to store one row, as Herald's store
// does (no BEGIN/COMMIT round of its own).
func BenchmarkSingle(b *testing.B) {
	path := filepath.Join(b.TempDir(), "herald.db")
	svc := newService(b, openStore(b, path), nil)
	singleAgainstFloor(b, svc, path)
}

// singleAgainstFloor times svc sending one notification to one user
// against the floor's one prepared autocommit INSERT into the SQLite file
// at path, in turns, and reports the ratio.
func singleAgainstFloor(b *testing.B, svc *notifications.Service, path string) {
	ctx := context.Background()
	floor := openFloor(b, path)
	insert, err := floor.PrepareContext(ctx, insertSQL("floor_notification", 1))
	if err != nil {
		b.Fatal(err)
	}
	defer insert.Close()

	const user = "user:default/jane"
	p := benchPayload()
	o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Entity(user), Payload: p}
	b.ReportAllocs()
	bp := &pair{b: b}
	bp.run(func() error {
		ns, err := svc.Send(ctx, o)
		if err == nil && len(ns) != 1 {
			err = fmt.Errorf("sent %d, want 1", len(ns))
		}
		return err
	}, func() error {
		return floorInsertOne(ctx, insert, p, func(meta string) []any {
			return floorRow(make([]any, 0, columnsPerRow), uuid.New(), user, p, time.Now().UnixMilli(), meta, fold(p))
		})
	})
	bp.report()
}

// floorInsertOne does what a hand-written sender must for one row: it
// encodes p's metadata to JSON and runs insert with args(metadata), one
// autocommit statement: the fastest plain way, as Herald's own one-row
// send runs.
func floorInsertOne(ctx context.Context, insert *sql.Stmt, p notifications.Payload, args func(meta string) []any) error {
	meta, err := json.Marshal(p.Metadata)
	if err != nil {
		return err
	}
	_, err = insert.ExecContext(ctx, args(string(meta))...)
	return err
}

// fanoutCatalog is a group of n users.
func fanoutCatalog(n int) (notifications.Catalog, []string) {
	users := make([]string, n)
	rels := make([]notifications.Relation, n)
	for i := range users {
		users[i] = userRef(i)
		rels[i] = notifications.Relation{Type: notifications.RelationHasMember, TargetRef: users[i]}
	}
	return notifications.NewMemoryCatalog(notifications.CatalogEntity{Ref: "group:default/everyone", Relations: rels}), users
}

// floorBatch is the floor's rows per INSERT: 1900 rows of 17 values,
// within SQLite's 32766 bound parameters. 2000 was the fastest of the
// sizes tried with 15 values a row (100, 250, 500, 1000, 2000; 145, 128,
// 123, 119 and 113 ms for 10,000 rows), and no longer fits.
const floorBatch = 1900

// floorFanout inserts one notification per user in one transaction, in
// multi-row INSERTs of floorBatch rows (prepared once, outside the
// measurement) plus one for the remainder. Like Herald it makes a new id
// per row and encodes the metadata once. With deliveries set it also
// writes, in the same transaction, what a send with one post-processor
// adds (see floorDeliveries).
type floorFanout struct {
	db         *sql.DB
	batch      *sql.Stmt
	args       []any
	deliveries *floorDeliveries
}

func newFloorFanout(tb testing.TB, db *sql.DB) *floorFanout {
	tb.Helper()
	stmt, err := db.Prepare(insertSQL("floor_notification", floorBatch))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stmt.Close() })
	return &floorFanout{db: db, batch: stmt}
}

func (f *floorFanout) send(ctx context.Context, users []string, p notifications.Payload) error {
	js, err := json.Marshal(p.Metadata)
	if err != nil {
		return err
	}
	meta, created, folds := string(js), time.Now().UnixMilli(), fold(p)
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	batch := tx.StmtContext(ctx, f.batch)
	var ids []string // the notifications' ids, for their deliveries
	if f.deliveries != nil {
		ids = f.deliveries.ids[:0]
	}
	for start := 0; start < len(users); start += floorBatch {
		chunk := users[start:min(start+floorBatch, len(users))]
		args := f.args[:0]
		for _, u := range chunk {
			id := uuid.New()
			if f.deliveries != nil {
				ids = append(ids, id)
			}
			args = floorRow(args, id, u, p, created, meta, folds)
		}
		f.args = args
		if len(chunk) == floorBatch {
			_, err = batch.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertSQL("floor_notification", len(chunk)), args...)
		}
		if err != nil {
			return err
		}
	}
	if f.deliveries != nil {
		f.deliveries.ids = ids
		if err := f.deliveries.write(ctx, tx, users, ids, created); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// BenchmarkFanout is one Send to a group of 10,000 users, resolved through
// a memory catalog, against the floor's batched insert of the same rows.
func BenchmarkFanout(b *testing.B) {
	const recipients = 10_000
	ctx := context.Background()
	catalog, users := fanoutCatalog(recipients)
	path := filepath.Join(b.TempDir(), "herald.db")
	svc := newService(b, openStore(b, path), catalog)
	db := openFloor(b, path)
	floor := newFloorFanout(b, db)

	o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Entity("group:default/everyone"), Payload: benchPayload()}
	fanoutPair(ctx, b, svc, o, floor, users)

	// Both sides stored the same folded text.
	const q = `SELECT DISTINCT title_fold || '/' || description_fold FROM %snotification`
	herald, err := queryStrings(ctx, db, fmt.Sprintf(q, ""))
	if err != nil {
		b.Fatal(err)
	}
	fl, err := queryStrings(ctx, db, fmt.Sprintf(q, "floor_"))
	if err != nil {
		b.Fatal(err)
	}
	if !slices.Equal(herald, fl) || len(herald) != 1 {
		b.Fatalf("folded text: Herald wrote %q, the floor %q", herald, fl)
	}
}

// fanoutPair times svc's Send of o, which must reach every one of users,
// against floor's send of the same rows, and reports rows/s.
func fanoutPair(ctx context.Context, b *testing.B, svc *notifications.Service, o notifications.SendOptions, floor *floorFanout, users []string) {
	b.ReportAllocs()
	bp := &pair{b: b, gc: true}
	bp.run(func() error {
		ns, err := svc.Send(ctx, o)
		if err == nil && len(ns) != len(users) {
			err = fmt.Errorf("sent %d, want %d", len(ns), len(users))
		}
		return err
	}, func() error { return floor.send(ctx, users, o.Payload) })
	bp.report()
	bp.reportRows(len(users))
}

// BenchmarkFanoutMemory shows how a send's memory grows with its
// recipients: B/recipient should stay about the same from 1,000 to
// 10,000.
func BenchmarkFanoutMemory(b *testing.B) {
	for _, recipients := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("recipients=%d", recipients), func(b *testing.B) {
			ctx := context.Background()
			catalog, _ := fanoutCatalog(recipients)
			svc := newService(b, openStore(b, filepath.Join(b.TempDir(), "herald.db")), catalog)
			o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Entity("group:default/everyone"), Payload: benchPayload()}
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if _, err := svc.Send(ctx, o); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N*recipients), "B/recipient")
		})
	}
}

// BenchmarkBroadcast is one Send to everyone: one broadcast row. The floor
// makes an id, encodes the metadata and INSERTs the row into broadcast
// with one autocommit statement.
func BenchmarkBroadcast(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "herald.db")
	svc := newService(b, openStore(b, path), nil)
	floor := openFloor(b, path)
	insert, err := floor.PrepareContext(ctx, `INSERT INTO floor_broadcast (id, title, description, severity, link, origin, scope, topic, created, updated, icon, metadata, title_fold, description_fold) `+
		`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer insert.Close()

	p := benchPayload()
	o := notifications.SendOptions{Origin: benchOrigin, Recipients: notifications.Broadcast(), Payload: p}
	b.ReportAllocs()
	bp := &pair{b: b}
	bp.run(func() error {
		_, err := svc.Send(ctx, o)
		return err
	}, func() error {
		return floorInsertOne(ctx, insert, p, func(meta string) []any {
			f := fold(p)
			return []any{uuid.New(), p.Title, p.Description, string(p.Severity), p.Link,
				benchOrigin, nil, p.Topic, time.Now().UnixMilli(), nil, nil, meta, f.title, f.description}
		})
	})
	bp.report()
}
