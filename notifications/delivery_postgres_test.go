package notifications_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
)

// Three Services on one PostgreSQL database share the deliveries of 1,000
// sends: each delivery runs exactly once, and every Service takes part.
func TestDeliveriesSharedByThreeServices(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	const sends, services = 1000, 3
	var mu sync.Mutex
	runs := map[string]int{}
	var perService [services]int
	sent := make(chan struct{}, sends)
	svcs := make([]*notifications.Service, services)
	for i := range svcs {
		st := postgresStore(t, dsn)
		audit := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(ctx context.Context, _ notifications.Notification, _ notifications.SendOptions) error {
			d, _ := notifications.DeliveryFromContext(ctx)
			mu.Lock()
			defer mu.Unlock()
			runs[d.ID]++
			perService[i]++
			return nil
		}}
		svc, err := notifications.New(notifications.Config{
			Store: st, Processors: []notifications.Processor{audit},
			DeliveryPollInterval: 50 * time.Millisecond,
			OnDelivery: func(_ context.Context, d notifications.Delivery) {
				if d.Status == notifications.DeliverySent {
					sent <- struct{}{}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeService(t, svc) })
		svcs[i] = svc
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				to := notifications.Entity(fmt.Sprintf("user:default/u%04d", i))
				if _, err := svcs[i%services].Sender(origin).Send(t.Context(), to, notifications.Payload{Title: "t"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range sends {
		next <- i
	}
	close(next)
	wg.Wait()
	timeout := time.After(2 * time.Minute)
	for i := range sends {
		select {
		case <-sent:
		case <-timeout:
			t.Fatalf("%d of %d deliveries sent after two minutes", i, sends)
		}
	}
	// Close every Service so no attempt is still running, then count.
	for _, svc := range svcs {
		if err := svc.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != sends {
		t.Fatalf("%d deliveries ran, want %d", len(runs), sends)
	}
	for id, n := range runs {
		if n != 1 {
			t.Errorf("delivery %s ran %d times", id, n)
		}
	}
	for i, n := range perService {
		if n == 0 {
			t.Errorf("Service %d ran no delivery: %v", i, perService)
		}
	}
	t.Logf("deliveries per Service: %v", perService)
}

// A Service whose attempt stalls, and that is then abandoned (Close with
// an expired context), keeps its claim only until the lease runs out;
// then another Service on the database takes the delivery over.
func TestStalledServiceTakenOverAfterLease(t *testing.T) {
	t.Parallel()
	dsn := testdb.PostgresSchema(t)
	stalled, started, cancelled := stallingProcessor()
	a, err := notifications.New(notifications.Config{Store: postgresStore(t, dsn), Processors: []notifications.Processor{stalled}, DeliveryWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeService(t, a) })
	ns, err := a.Sender(origin).Send(t.Context(), notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, started, "the stalled attempt")
	claimed := time.Now()

	clock := notificationstest.NewClock(claimed)
	sc := &script{name: "audit"}
	b, err := notifications.New(notifications.Config{Store: postgresStore(t, dsn), Processors: []notifications.Processor{sc.processor()}, DeliveryWorkers: -1, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeService(t, b) })
	if n := notificationstest.DeliverAll(t, b); n != 0 {
		t.Fatalf("a second Service ran %d attempts while the lease held", n)
	}
	expired, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.Close(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want the expired context's error", err)
	}
	waitFor(t, cancelled, "the abandoned attempt's cancellation")

	clock.Set(claimed.Add(notifications.DefaultDeliveryLease + time.Second))
	if n := notificationstest.DeliverAll(t, b); n != 1 {
		t.Fatalf("the second Service ran %d attempts after the lease, want 1", n)
	}
	ds, err := b.Deliveries(t.Context(), notifications.DeliveryFilter{NotificationID: ns[0].ID})
	if err != nil || len(ds) != 1 || ds[0].Status != notifications.DeliverySent || ds[0].Attempts != 2 {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	if calls := sc.recorded(); len(calls) != 1 || calls[0].delivery.ID != ds[0].ID {
		t.Fatalf("calls %+v", calls)
	}
}
