package store_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// explainPostgres returns the nodes of q's EXPLAIN plan, top down, with
// args bound to q's $n placeholders (pgx, on the store's simple protocol,
// writes them in as literals, so the plan is the one those values get).
// It plans with sequential and bitmap scans off, so that the plan on a
// small table is the one a large one gets.
func explainPostgres(t *testing.T, s *store.Store, q string, args ...any) []string {
	t.Helper()
	return explainOn(t, s, nil, "EXPLAIN "+q, args...)
}

// explainGeneric returns the nodes of the generic plan of q, the
// statement with $n placeholders that the store prepares: after its
// first five runs PostgreSQL may keep one plan for every value, and this
// is it (plan_cache_mode forces it at once). args give EXECUTE its
// values, as explainPostgres binds them.
func explainGeneric(t *testing.T, s *store.Store, q string, args ...any) []string {
	t.Helper()
	params := make([]string, len(args))
	for i := range args {
		params[i] = "$" + strconv.Itoa(i+1)
	}
	prepare := []string{"SET plan_cache_mode = force_generic_plan", "PREPARE herald_explain AS " + q}
	return explainOn(t, s, prepare, "EXPLAIN EXECUTE herald_explain("+strings.Join(params, ", ")+")", args...)
}

// explainOn runs setup and then the EXPLAIN statement explain on one
// connection of s, with sequential and bitmap scans off.
func explainOn(t *testing.T, s *store.Store, setup []string, explain string, args ...any) []string {
	t.Helper()
	ctx := t.Context()
	conn, err := s.DB().DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.ExecContext(ctx, "DEALLOCATE ALL")
	defer conn.ExecContext(ctx, "RESET ALL")
	for _, set := range append([]string{"SET enable_seqscan = off", "SET enable_bitmapscan = off"}, setup...) {
		if _, err := conn.ExecContext(ctx, set); err != nil {
			t.Fatalf("%s: %v", set, err)
		}
	}
	rows, err := conn.QueryContext(ctx, explain, args...)
	if err != nil {
		t.Fatalf("%s: %v", explain, err)
	}
	defer rows.Close()
	var nodes []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "->") || len(nodes) == 0 {
			nodes = append(nodes, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "->")))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// plans returns the plans p can run with: the one its values get, and,
// for a prepared read, its generic plan too.
func plans(t *testing.T, s *store.Store, p preparedRead) [][]string {
	t.Helper()
	out := [][]string{explainPostgres(t, s, p.query, p.args...)}
	if p.args != nil {
		out = append(out, explainGeneric(t, s, p.query, p.args...))
	}
	return out
}

// seedTenInboxes stores n notifications, one a minute back from now,
// over the users u00 to u09, and then logs the store's queries, its
// prepared reads included (see queryLog.takePostgres).
func seedTenInboxes(t *testing.T, s *store.Store, n int) *queryLog {
	t.Helper()
	now := time.Now()
	ns := make([]notifications.Notification, n)
	for i := range ns {
		ns[i] = notifications.Notification{User: fmt.Sprintf("user:default/u%02d", i%10), Origin: "o",
			Created: now.Add(-time.Duration(i) * time.Minute), Payload: notifications.Payload{Title: "t"}}
	}
	if _, err := s.SaveNotifications(t.Context(), ns, nil); err != nil {
		t.Fatal(err)
	}
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses
	store.ObserveReads(s, log.observe)
	return log
}

// takePostgres returns the statements run since the last call, bun's
// and the prepared reads, each as PostgreSQL runs it (for a prepared
// read: $n placeholders and the values bound to them).
func (l *queryLog) takePostgres() []preparedRead {
	var out []preparedRead
	for _, q := range l.take() {
		out = append(out, preparedRead{query: q})
	}
	for _, p := range l.takePrepared() {
		q, args := store.PostgresRead(p.query, p.args)
		out = append(out, preparedRead{q, args})
	}
	return out
}

// TestPostgresUnreadPageReadsIndexInOrder checks with EXPLAIN that a page
// of unread notifications in created order is read off the inbox index in
// order, the notification side cut by its LIMIT with no sort of the
// user's rows below it. (Sequential and bitmap scans are turned off for
// the EXPLAIN, so the plan on a small table is the one a large one gets.)
func TestPostgresUnreadPageReadsIndexInOrder(t *testing.T) {
	t.Parallel()
	s := openPostgres(t)
	ctx := t.Context()
	log := seedTenInboxes(t, s, 500)
	if _, err := s.List(ctx, notifications.Query{User: "user:default/u01", Filter: notifications.Filter{Read: new(false)}, Limit: 20}); err != nil {
		t.Fatal(err)
	}
	queries := log.takePostgres()
	if len(queries) == 0 {
		t.Fatal("List ran no statement")
	}
	for _, p := range queries {
		for _, nodes := range plans(t, s, p) {
			for i, node := range nodes {
				if strings.Contains(node, " on notification") && (i == 0 || !strings.HasPrefix(nodes[i-1], "Limit")) {
					t.Errorf("the notification side is not read in index order under its LIMIT:\n%s\nplan:\n  %s", p.query, strings.Join(nodes, "\n  "))
				}
			}
		}
	}
}

// TestPostgresClaimUsesDueIndex checks with EXPLAIN that the claim finds
// due deliveries with an index scan of delivery_due_idx, in next_attempt
// order under its LIMIT, locking the rows it picks (FOR UPDATE SKIP
// LOCKED): no sort, no scan of the table. (Sequential and bitmap scans
// are off for the EXPLAIN, so the plan on a small table is the one a
// large one gets.)
func TestPostgresClaimUsesDueIndex(t *testing.T) {
	t.Parallel()
	s := openPostgres(t)
	now := time.Now().UTC()
	sendWithDeliveries(t, s, 300, now)
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses
	claim(t, s, now, time.Minute, 5)
	var claimSQL string
	for _, q := range log.take() {
		if strings.HasPrefix(q, "WITH due AS") {
			claimSQL = q
		}
	}
	if claimSQL == "" {
		t.Fatal("no claim statement ran")
	}
	// EXPLAIN plans the UPDATE without running it.
	nodes := explainPostgres(t, s, claimSQL)
	plan := strings.Join(nodes, "\n  ")
	i := slices.IndexFunc(nodes, func(n string) bool { return strings.HasPrefix(n, "Index Scan using delivery_due_idx on delivery") })
	if i < 2 || !strings.HasPrefix(nodes[i-1], "LockRows") || !strings.HasPrefix(nodes[i-2], "Limit") {
		t.Errorf("the claim does not read delivery_due_idx in order under LockRows and its Limit:\n%s\nplan:\n  %s", claimSQL, plan)
	}
	for _, n := range nodes {
		if strings.HasPrefix(n, "Sort") || strings.Contains(n, "Seq Scan") {
			t.Errorf("the claim sorts or scans:\nplan:\n  %s", plan)
		}
	}
}

// TestPostgresStatusReadsCounters checks with EXPLAIN that Status, and
// the count of a common view, read the user's counters by their key and
// the broadcast count's 16 rows, and never the notification table, however many
// rows the user has. (Sequential and bitmap scans are off for the
// EXPLAIN, so the plan on a small table is the one a large one gets.)
func TestPostgresStatusReadsCounters(t *testing.T) {
	t.Parallel()
	s := openPostgres(t)
	ctx := t.Context()
	log := seedTenInboxes(t, s, 300)
	if _, err := s.Status(ctx, "user:default/u01"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Count(ctx, "user:default/u01", notifications.Filter{Read: new(false)}); err != nil {
		t.Fatal(err)
	}
	queries := log.takePostgres()
	if len(queries) != 2 {
		t.Fatalf("Status and Count ran %d statements, want 2: %q", len(queries), queries)
	}
	for _, p := range queries {
		for _, nodes := range plans(t, s, p) {
			plan := strings.Join(nodes, "\n  ")
			if !strings.Contains(plan, "using inbox_count_pkey on inbox_count") || !strings.Contains(plan, " on broadcast_count") {
				t.Errorf("%s\ndoes not read the user's counters by key and the broadcast count:\nplan:\n  %s", p.query, plan)
			}
			if strings.Contains(plan, "on notification") {
				t.Errorf("%s\nreads the notification table:\nplan:\n  %s", p.query, plan)
			}
		}
	}
}
