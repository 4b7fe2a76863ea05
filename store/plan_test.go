package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// queryLog is a bun query hook that keeps every statement run, and an
// observer of the reads the store runs prepared (store.ObserveReads),
// kept with their bound values.
type queryLog struct {
	mu       sync.Mutex
	queries  []string
	prepared []preparedRead
}

// preparedRead is a read the store ran as a prepared statement.
type preparedRead struct {
	query string
	args  []any
}

func (l *queryLog) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, e.Query)
	return ctx
}

func (*queryLog) AfterQuery(context.Context, *bun.QueryEvent) {}

func (l *queryLog) observe(query string, args []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prepared = append(l.prepared, preparedRead{query, append([]any(nil), args...)})
}

func (l *queryLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// takePrepared returns the prepared reads run since the last call.
func (l *queryLog) takePrepared() []preparedRead {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.prepared
	l.prepared = nil
	return p
}

// TestSQLitePlansUseIndexes checks with EXPLAIN QUERY PLAN that the inbox's
// statements never scan the notification table: each reads an index range.
func TestSQLitePlansUseIndexes(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	ctx := t.Context()
	now := time.Now()
	ns := make([]notifications.Notification, 2000)
	for i := range ns {
		ns[i] = notifications.Notification{User: fmt.Sprintf("user:default/u%03d", i%100), Origin: "o",
			Created: now.Add(-time.Duration(i) * time.Minute), Payload: notifications.Payload{Title: "t", Topic: "x"}}
	}
	ns, err := s.SaveNotifications(ctx, ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses
	store.ObserveReads(s, log.observe)
	const u = "user:default/u001"
	unread := notifications.Filter{Read: new(false)}
	calls := map[string]func() error{
		"unread page": func() error {
			_, err := s.List(ctx, notifications.Query{User: u, Filter: unread, Limit: 20})
			return err
		},
		"unread page after": func() error {
			_, err := s.List(ctx, notifications.Query{User: u, Filter: unread, Limit: 20,
				After: &notifications.Position{Created: now.Add(-time.Hour), ID: ns[0].ID}})
			return err
		},
		"all page": func() error { _, err := s.List(ctx, notifications.Query{User: u, Limit: 20}); return err },
		"count":    func() error { _, err := s.Count(ctx, u, unread); return err },
		"status":   func() error { _, err := s.Status(ctx, u); return err },
		"get":      func() error { _, err := s.Get(ctx, u, ns[1].ID); return err },
		"topics":   func() error { _, err := s.Topics(ctx, u, unread); return err },
		"retention": func() error {
			_, err := s.DeleteOlderThan(ctx, now.Add(-24*365*time.Hour), 10)
			return err
		},
		"unseen count": func() error { _, err := s.Count(ctx, u, notifications.Filter{Seen: new(false)}); return err },
		"archived page": func() error {
			_, err := s.List(ctx, notifications.Query{User: u, Filter: notifications.Filter{Archived: new(true)}, Limit: 20})
			return err
		},
		"catch-up page": func() error {
			_, err := s.List(ctx, notifications.Query{User: u, Filter: notifications.Filter{ChangedSince: &now}, Limit: 20})
			return err
		},
		"mark all seen": func() error { _, err := s.MarkAllSeen(ctx, u, notifications.Filter{}, now); return err },
		"wake":          func() error { _, err := s.WakeSnoozed(ctx, now, 10); return err },
		"next snooze":   func() error { _, _, err := s.NextSnoozeDue(ctx); return err },
	}
	for name, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The statements run as text, then the reads run prepared, each
		// explained as it ran: with its values bound.
		var runs []preparedRead
		for _, q := range log.take() {
			runs = append(runs, preparedRead{query: q})
		}
		prepared := log.takePrepared()
		runs = append(runs, prepared...)
		switch name {
		case "unread page", "all page", "count", "status":
			if len(prepared) == 0 {
				t.Errorf("%s ran no prepared read", name)
			}
		}
		for _, r := range runs {
			q := r.query
			plan := explainSQLite(t, s, q, r.args...)
			// Status, and the common views' counts, read the user's
			// counters by their key, never the user's notifications.
			switch name {
			case "status", "count", "unseen count":
				joined := strings.Join(plan, "\n")
				if !strings.Contains(joined, "USING PRIMARY KEY (user=?)") || strings.Contains(joined, "notification") {
					t.Errorf("%s does not read the user's counters alone:\n%s\nplan:\n  %s", name, q, strings.Join(plan, "\n  "))
				}
			}
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN notification") {
					t.Errorf("%s scans the notification table:\n%s\nplan:\n  %s", name, q, strings.Join(plan, "\n  "))
				}
				// A page is read in index order: sorting would mean
				// reading every one of the user's rows first.
				if strings.HasSuffix(name, "page") && strings.Contains(line, "TEMP B-TREE FOR ORDER BY") && strings.Contains(q, "FROM notification") {
					t.Errorf("%s sorts the user's notifications instead of reading an index in order:\n%s\nplan:\n  %s", name, q, strings.Join(plan, "\n  "))
				}
			}
		}
	}
}

// TestSQLitePragmas checks that every pooled connection is set up.
func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1",
	} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// explainSQLite returns the EXPLAIN QUERY PLAN lines of q.
func explainSQLite(t *testing.T, s *store.Store, q string, args ...any) []string {
	t.Helper()
	rows, err := s.DB().DB.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}

// TestSQLiteDeliveryPlansUseIndexes checks with EXPLAIN QUERY PLAN that
// the claim reads the due index, and that no delivery statement scans
// the delivery or herald_send table without an index.
func TestSQLiteDeliveryPlansUseIndexes(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	ctx := t.Context()
	now := time.Now().UTC()
	stored := sendWithDeliveries(t, s, 300, now)
	log := &queryLog{}
	s.DB().AddQueryHook(log) //nolint:staticcheck // the store's own *bun.DB must log; WithQueryHook returns a copy it never uses

	cs := claim(t, s, now, time.Minute, 5)
	claimQueries := log.take()
	calls := map[string]func() error{
		"renew": func() error { return s.RenewDeliveryLease(ctx, cs[0].Delivery.ID, cs[0].Token, now.Add(time.Hour)) },
		"finish": func() error {
			_, err := s.FinishDelivery(ctx, notifications.DeliveryOutcome{ID: cs[1].Delivery.ID, Token: cs[1].Token,
				Status: notifications.DeliveryFailed, Now: now})
			return err
		},
		"requeue": func() error { _, err := s.RequeueDelivery(ctx, cs[1].Delivery.ID, now); return err },
		"get":     func() error { _, err := s.GetDelivery(ctx, cs[2].Delivery.ID); return err },
		"list": func() error {
			_, err := s.ListDeliveries(ctx, notifications.DeliveryFilter{Limit: 20})
			return err
		},
		"list by notification": func() error {
			_, err := s.ListDeliveries(ctx, notifications.DeliveryFilter{NotificationID: stored[7].ID})
			return err
		},
		"finished retention": func() error { _, err := s.DeleteFinishedDeliveries(ctx, now, 10); return err },
		"retention":          func() error { _, err := s.DeleteOlderThan(ctx, now.Add(-time.Hour), 10); return err },
	}
	queries := map[string][]string{"claim": claimQueries}
	// In this order: requeue takes the delivery finish failed.
	for _, name := range []string{"renew", "finish", "requeue", "get", "list", "list by notification", "finished retention", "retention"} {
		call := calls[name]
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		queries[name] = log.take()
	}
	usedDue := false
	for name, qs := range queries {
		for _, q := range qs {
			if q == "BEGIN" || q == "COMMIT" {
				continue
			}
			plan := explainSQLite(t, s, q)
			for _, line := range plan {
				for _, table := range []string{"delivery", "d", "herald_send", "h"} {
					if (line == "SCAN "+table || strings.HasPrefix(line, "SCAN "+table+" ")) && !strings.Contains(line, " USING ") {
						t.Errorf("%s scans %s without an index:\n%s\nplan:\n  %s", name, table, q, strings.Join(plan, "\n  "))
					}
				}
				if name == "claim" && strings.HasPrefix(q, "UPDATE delivery") && strings.Contains(line, "USING INDEX delivery_due_idx") {
					usedDue = true
				}
			}
		}
	}
	if !usedDue {
		t.Errorf("the claim does not read delivery_due_idx; its statements:\n%s", strings.Join(claimQueries, "\n"))
	}
}
