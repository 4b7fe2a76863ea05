package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver the store uses, for the floor

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeSeeded() // the seeded inbox outlives single benchmarks, not the run
	os.Exit(code)
}

// sqliteDSN is the data source name store.OpenSQLite builds for a file:
// the same pragmas and transaction lock, so the floor runs on a
// connection configured exactly like Herald's. TestFloorMatchesStore
// checks that the two agree.
func sqliteDSN(path string) string {
	return path + "?" + url.Values{
		"_pragma": {"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"},
		"_txlock": {"immediate"},
	}.Encode()
}

// openStore opens Herald's store on a SQLite file (migrating it if new),
// closed when b ends.
func openStore(tb testing.TB, path string) *store.Store {
	tb.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		tb.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openFloor opens a plain database/sql handle on the SQLite file at path
// with the store's DSN. The schema is Herald's own (the file is migrated
// by store.OpenSQLite first), so the floor maintains the same indexes.
func openFloor(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		tb.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	s.Close()
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// newService returns a Service on st with no signals and no processors:
// the send pipeline and the store, which is what the floor is compared
// with.
func newService(tb testing.TB, st notifications.Store, catalog notifications.Catalog) *notifications.Service {
	tb.Helper()
	svc, err := notifications.New(notifications.Config{Store: st, Catalog: catalog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

// pair is how every benchmark with a floor measures: Herald and the floor
// run alternately, one call each per iteration of b.Loop. Herald is timed
// by b's own timer, so ns/op, B/op and allocs/op are Herald's alone; the
// floor runs while b's timer is stopped and is timed by its own clock.
//
// Interleaving keeps the ratio steady on a small, noisy machine: at every
// moment both sides see the same background load, CPU frequency, page
// cache and WAL state, so a disturbance slows both rather than one.
// Running them as separate benchmarks (or separate testing.Benchmark
// calls) one after the other lets a burst of noise land on one side only.
//
// With gc set, a collection runs (untimed) before each call, so neither
// side pays for collecting the other's garbage; that is worth its cost
// only for operations of milliseconds.
type pair struct {
	b     *testing.B
	gc    bool
	floor time.Duration
	n     int
}

func (p *pair) run(herald, floor func() error) {
	b := p.b
	for b.Loop() {
		if p.gc {
			b.StopTimer()
			runtime.GC()
			b.StartTimer()
		}
		if err := herald(); err != nil {
			b.Fatal("herald: ", err)
		}
		b.StopTimer()
		if p.gc {
			runtime.GC()
		}
		start := time.Now()
		if err := floor(); err != nil {
			b.Fatal("floor: ", err)
		}
		p.floor += time.Since(start)
		p.n++
		b.StartTimer()
	}
}

// report adds x-floor: Herald's throughput over the floor's, both having
// done p.n operations (1.0 = as fast as the floor).
func (p *pair) report() {
	p.b.ReportMetric(p.floor.Seconds()/p.b.Elapsed().Seconds(), "x-floor")
}

// reportRows adds rows per second for both sides, rows being written per
// operation.
func (p *pair) reportRows(rows int) {
	total := float64(rows * p.n)
	p.b.ReportMetric(total/p.b.Elapsed().Seconds(), "rows/s")
	p.b.ReportMetric(total/p.floor.Seconds(), "floor-rows/s")
}

// TestFloorMatchesStore checks that the floor's connections are set up
// like the store's: same journal mode, synchronous level, foreign keys and
// busy timeout.
func TestFloorMatchesStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pragmas.db")
	floor := openFloor(t, path)
	st := openStore(t, path)
	for _, pragma := range []string{"journal_mode", "synchronous", "foreign_keys", "busy_timeout"} {
		var want, got string
		if err := st.DB().DB.QueryRow("PRAGMA " + pragma).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if err := floor.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s: floor %q, store %q", pragma, got, want)
		}
	}
}

func userRef(i int) string { return fmt.Sprintf("user:default/u%05d", i) }
