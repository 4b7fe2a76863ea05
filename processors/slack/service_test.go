package slack_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/processors/internal/processortest"
	"github.com/heraldhq/herald/processors/slack"
	"github.com/heraldhq/herald/store"
)

// inService returns a Service on a fresh store posting through the
// processor built from cfg, with a fake clock and no delivery workers:
// the test runs the deliveries.
func inService(t *testing.T, cfg func(st *store.Store) slack.Config) (*notifications.Service, *notificationstest.Clock, *fakeSlack) {
	t.Helper()
	st := processortest.Store(t)
	p, f, _ := setup(t, cfg(st))
	svc, clock := processortest.Service(t, st, testCatalog, p)
	return svc, clock, f
}

// Through a real Service: a send to a group and one user posts once to the
// group's channel and DMs only the named user, not the group's member; a
// scoped re-send edits both messages.
func TestInService(t *testing.T) {
	t.Parallel()
	svc, _, f := inService(t, func(st *store.Store) slack.Config { return slack.Config{Timestamps: st} })
	sender := svc.Sender("plugin:test")
	for _, title := range []string{"v1", "v2"} {
		if _, err := sender.Send(t.Context(), notifications.Entity("group:default/g", "user:jane"), notifications.Payload{Title: title, Scope: "deploy-7"}); err != nil {
			t.Fatal(err)
		}
		// The re-send must find the first DM's timestamp stored.
		if n := notificationstest.DeliverAll(t, svc); n != 2 {
			t.Fatalf("%d attempts, want one per recipient (jane and the group's member)", n)
		}
	}
	got := map[string]int{}
	for _, c := range f.recorded() {
		got[c.Method+" "+c.Form.Get("channel")+" "+c.Form.Get("text")]++
	}
	want := map[string]int{
		"chat.postMessage C123 v1": 1, "chat.postMessage U111 v1": 1,
		"chat.update C123 v2": 1, "chat.update D111 v2": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("calls %v, want %v", got, want)
		}
	}
}

// Slack's 429 Retry-After reaches the Service's retry schedule: the DM is
// retried no sooner than Slack asked, and posted once.
func TestRetryAfterThroughTheService(t *testing.T) {
	t.Parallel()
	svc, clock, f := inService(t, func(*store.Store) slack.Config { return slack.Config{} })
	f.failNext("chat.postMessage", status(http.StatusTooManyRequests, "30"))
	ns, err := svc.Sender("plugin:test").Send(t.Context(), notifications.Entity("user:jane"), notifications.Payload{Title: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	notificationstest.DeliverAll(t, svc)
	ds, err := svc.Deliveries(t.Context(), notifications.DeliveryFilter{NotificationID: ns[0].ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	if d := ds[0]; d.Status != notifications.DeliveryRetrying || !d.NextAttempt.Equal(clock.Now().Add(30*time.Second)) {
		t.Fatalf("after a 429 with Retry-After 30: %+v", d)
	}
	clock.Advance(29 * time.Second)
	if n := notificationstest.DeliverAll(t, svc); n != 0 {
		t.Fatalf("%d attempts before Retry-After", n)
	}
	clock.Advance(time.Second)
	if n := notificationstest.DeliverAll(t, svc); n != 1 {
		t.Fatalf("%d attempts after Retry-After", n)
	}
	posts := 0
	for _, c := range f.recorded() {
		if c.Method == "chat.postMessage" {
			posts++
		}
	}
	if ds, _ = svc.Deliveries(t.Context(), notifications.DeliveryFilter{NotificationID: ns[0].ID}); ds[0].Status != notifications.DeliverySent || posts != 2 {
		t.Fatalf("delivery %+v after %d postMessage calls (one refused, one accepted)", ds[0], posts)
	}
}
