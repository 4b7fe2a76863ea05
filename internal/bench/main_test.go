package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
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

// openFloor opens a plain database/sql handle on the SQLite file at path,
// which Herald's store has migrated, with the store's DSN, and adds the
// floor's own tables to it: floor_notification, floor_broadcast,
// floor_herald_send and floor_delivery, made from Herald's definitions of
// those tables with their indexes (and floor_delivery's foreign key to
// floor_herald_send), so the floor maintains the same indexes and checks
// the same key. Herald's triggers are not copied: they keep Herald's
// inbox counters (a plain handler keeps none, and counts on every read
// instead), so what they cost shows in the ratio.
//
// The floor writes to the same file as Herald, not to a file of its own:
// two files of one benchmark differ in speed by up to 20% (their place
// on disk, their WAL's), which would show up in the ratio as Herald's
// doing or the floor's. In one file both share the WAL and its
// checkpoints.
func openFloor(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	ctx := context.Background()
	// Each statement gets its own names renamed (its table's, and its
	// index's) and the table a foreign key refers to, nothing else:
	// delivery has columns named broadcast and notification_id. Tables
	// come first, herald_send before delivery, whose key refers to it.
	ddl, err := queryStrings(ctx, db, `SELECT name, tbl_name, sql FROM sqlite_master `+
		`WHERE tbl_name IN ('notification', 'broadcast', 'herald_send', 'delivery') AND sql IS NOT NULL AND type <> 'trigger' `+
		`ORDER BY type DESC, tbl_name = 'delivery'`)
	if err != nil || len(ddl) == 0 {
		tb.Fatalf("read Herald's schema from %s: %v", path, err)
	}
	for i := 0; i+2 < len(ddl); i += 3 {
		own := regexp.MustCompile(`\b(` + regexp.QuoteMeta(ddl[i]) + `|` + regexp.QuoteMeta(ddl[i+1]) + `)\b`)
		stmt := own.ReplaceAllString(ddl[i+2], "floor_$1")
		stmt = references.ReplaceAllString(stmt, "${1}floor_$2")
		stmt = strings.Replace(stmt, "CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
		stmt = strings.Replace(stmt, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		stmt = strings.Replace(stmt, "CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1)
		if _, err := db.Exec(stmt); err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
	}
	return db
}

// references finds the table a foreign key refers to.
var references = regexp.MustCompile(`\b(REFERENCES\s+)(\w+)`)

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
// take turns in short blocks, a few milliseconds of Herald's calls (each
// one iteration of b.Loop) and then as many calls of the floor. Herald
// runs under b's timer, so ns/op, B/op and allocs/op are Herald's alone;
// the floor runs while b's timer is stopped. Both are also timed on their
// own clock.
//
// Taking turns keeps the ratio steady on a small, noisy machine: at every
// moment both sides see the same background load, CPU frequency, page
// cache and WAL state, so a disturbance slows both rather than one.
// Running them as separate benchmarks (or separate testing.Benchmark
// calls) one after the other lets a burst of noise land on one side only.
// Blocks rather than single calls, because a side whose call follows the
// other side's runs with caches full of the other side's code and data,
// which penalises the bigger code path (Herald's: a single send measured
// 0.65 x-floor alternating call by call, 0.72 in blocks); within a block
// each side runs warm, as it would on its own. x-floor is the median over
// the blocks of the floor's time over Herald's: a burst of load from
// elsewhere, or a WAL checkpoint, moves one block's ratio rather than the
// result. (rows/s and floor-rows/s are plain means.) The same work on
// both sides reads 0.96-0.98: what bias is left is against Herald.
//
// With gc set, a collection runs (untimed) before each block, so neither
// side pays for collecting the other's garbage; that is worth its cost
// only for operations of milliseconds. untimed, when set, runs before
// each floor block with every clock stopped (draining subscribers);
// maxBlock then bounds a block's calls.
type pair struct {
	b        *testing.B
	gc       bool
	untimed  func() error
	maxBlock int

	herald, floor time.Duration // totals, on the pair's own clock
	ratios        []float64     // floor over Herald, per block
	n             int
}

// pairBlock is about how much of Herald's time a block holds.
const pairBlock = 2 * time.Millisecond

func (p *pair) run(herald, floor func() error) {
	b := p.b
	maxBlock := p.maxBlock
	if maxBlock <= 0 {
		maxBlock = 1000
	}
	var h time.Duration // Herald's time in this block
	size, calls := 1, 0
	// turn runs the floor for this block's calls; b's timer must be
	// stopped.
	turn := func() {
		if p.untimed != nil {
			if err := p.untimed(); err != nil {
				b.Fatal(err)
			}
		}
		if p.gc {
			runtime.GC()
		}
		start := time.Now()
		for range calls {
			if err := floor(); err != nil {
				b.Fatal("floor: ", err)
			}
		}
		f := time.Since(start)
		p.herald, p.floor, p.n = p.herald+h, p.floor+f, p.n+calls
		p.ratios = append(p.ratios, f.Seconds()/h.Seconds())
		size = min(max(int(pairBlock*time.Duration(calls)/h), 1), maxBlock)
		h, calls = 0, 0
		if p.gc {
			runtime.GC()
		}
	}
	if p.gc {
		runtime.GC()
	}
	for b.Loop() {
		start := time.Now()
		err := herald()
		h += time.Since(start)
		if err != nil {
			b.Fatal("herald: ", err)
		}
		if calls++; calls == size {
			b.StopTimer()
			turn()
			b.StartTimer()
		}
	}
	if calls > 0 { // b.Loop has stopped the timer
		turn()
	}
}

// report adds x-floor: Herald's throughput over the floor's, the median
// of the per-block ratios (1.0 = as fast as the floor).
func (p *pair) report() {
	slices.Sort(p.ratios)
	m := p.ratios[len(p.ratios)/2]
	if len(p.ratios)%2 == 0 {
		m = (m + p.ratios[len(p.ratios)/2-1]) / 2
	}
	p.b.ReportMetric(m, "x-floor")
}

// reportRows adds rows per second for both sides, rows being written per
// operation.
func (p *pair) reportRows(rows int) {
	total := float64(rows * p.n)
	p.b.ReportMetric(total/p.herald.Seconds(), "rows/s")
	p.b.ReportMetric(total/p.floor.Seconds(), "floor-rows/s")
}

// TestFloorMatchesStore checks that the floor's connections are set up
// like the store's: same journal mode, synchronous level, foreign keys and
// busy timeout.
func TestFloorMatchesStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pragmas.db")
	st := openStore(t, path)
	floor := openFloor(t, path)
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

// TestFloorSchema checks that each floor table has its Herald table's
// columns and as many indexes: the floor maintains what Herald maintains.
func TestFloorSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "schema.db")
	st := openStore(t, path)
	floor := openFloor(t, path)
	ctx := context.Background()
	for _, table := range []string{"notification", "broadcast", "herald_send", "delivery"} {
		for _, q := range []string{
			`SELECT group_concat(name || ' ' || type || ' ' || "notnull" || ' ' || coalesce(dflt_value, '') || ' ' || pk, ', ') FROM pragma_table_info('%s')`,
			`SELECT count(*) || ' indexes, ' || total("unique") || ' unique, ' || total(partial) || ' partial' FROM pragma_index_list('%s')`,
			`SELECT count(*) || ' foreign keys' FROM pragma_foreign_key_list('%s')`,
		} {
			want, err := queryStrings(ctx, st.DB().DB, fmt.Sprintf(q, table))
			if err != nil {
				t.Fatal(err)
			}
			got, err := queryStrings(ctx, floor, fmt.Sprintf(q, "floor_"+table))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("floor_%s: %q, %s: %q", table, got, table, want)
			}
		}
	}
}

func userRef(i int) string { return fmt.Sprintf("user:default/u%05d", i) }
