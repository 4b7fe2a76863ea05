package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// TestPostgresUnreadPageReadsIndexInOrder checks with EXPLAIN that a page
// of unread notifications in created order is read off the inbox index in
// order, the notification side cut by its LIMIT with no sort of the
// user's rows below it. (Sequential and bitmap scans are turned off for
// the EXPLAIN, so the plan on a small table is the one a large one gets.)
func TestPostgresUnreadPageReadsIndexInOrder(t *testing.T) {
	t.Parallel()
	s := openPostgres(t)
	ctx := t.Context()
	now := time.Now()
	ns := make([]notifications.Notification, 500)
	for i := range ns {
		ns[i] = notifications.Notification{User: fmt.Sprintf("user:default/u%02d", i%10), Origin: "o",
			Created: now.Add(-time.Duration(i) * time.Minute), Payload: notifications.Payload{Title: "t"}}
	}
	if _, err := s.SaveNotifications(ctx, ns); err != nil {
		t.Fatal(err)
	}
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses
	if _, err := s.List(ctx, notifications.Query{User: "user:default/u01", Filter: notifications.Filter{Read: new(false)}, Limit: 20}); err != nil {
		t.Fatal(err)
	}
	conn, err := s.DB().DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, set := range []string{"SET enable_seqscan = off", "SET enable_bitmapscan = off"} {
		if _, err := conn.ExecContext(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.ExecContext(ctx, "RESET ALL")
	queries := log.take()
	if len(queries) == 0 {
		t.Fatal("List ran no statement")
	}
	for _, q := range queries {
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var nodes []string // plan nodes, top down
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(line, "->") || len(nodes) == 0 {
				nodes = append(nodes, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "->")))
			}
		}
		rows.Close()
		for i, node := range nodes {
			if strings.Contains(node, " on notification") && (i == 0 || !strings.HasPrefix(nodes[i-1], "Limit")) {
				t.Errorf("the notification side is not read in index order under its LIMIT:\n%s\nplan:\n  %s", q, strings.Join(nodes, "\n  "))
			}
		}
	}
}
