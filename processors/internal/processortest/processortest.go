// Package processortest holds the fixtures that the tests of more than
// one built-in processor share: a Service that runs its deliveries only
// when the test says, on a fresh store, and a server that drops every
// connection. Only tests import it.
package processortest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/store"
)

// Store returns a fresh in-memory SQLite store, closed when t ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Service returns a Service on st whose one processor is p, resolving
// users through catalog, with a fake clock (at 2026-03-01 12:00 UTC) and
// no delivery workers: the test runs the deliveries
// (notificationstest.DeliverAll). It logs nothing and is closed when t
// ends.
func Service(t testing.TB, st notifications.Store, catalog notifications.Catalog, p notifications.Processor) (*notifications.Service, *notificationstest.Clock) {
	t.Helper()
	clock := notificationstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	svc, err := notifications.New(notifications.Config{
		Store: st, Catalog: catalog, Processors: []notifications.Processor{p},
		Now: clock.Now, DeliveryWorkers: -1, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	return svc, clock
}

// DroppingServer returns a server that closes every connection without
// answering, and the count of the requests it dropped. It keeps its port
// until t ends: a closed server's port can be taken by a parallel test's
// receiver, whose answers the test would then consume.
func DroppingServer(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	calls := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}
