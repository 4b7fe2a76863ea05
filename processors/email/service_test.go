package email_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/processors/email"
	"github.com/heraldhq/herald/processors/internal/processortest"
	"github.com/heraldhq/herald/store"
)

// attempts wraps the processor to report each PostProcess that returned,
// so a test waits for the Service's background delivery instead of
// sleeping.
type attempts struct {
	*email.Processor
	done chan error
}

func (a attempts) PostProcess(ctx context.Context, n notifications.Notification, o notifications.SendOptions) error {
	err := a.Processor.PostProcess(ctx, n, o)
	select {
	case a.done <- err:
	default: // an attempt the test does not wait for must not block the Service
	}
	return err
}

func (a attempts) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-a.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery attempt within 10s")
		return nil
	}
}

// The processor inside a real Service: a group send mails each member, in
// the background; a send its filter excludes mails nobody.
func TestInService(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	catalog := notifications.NewMemoryCatalog(
		notifications.CatalogEntity{Ref: "user:default/jane", Profile: notifications.Profile{Email: "jane@example.com"}},
		notifications.CatalogEntity{Ref: "user:default/bob", Profile: notifications.Profile{Email: "bob@example.com"}},
		notifications.CatalogEntity{Ref: "group:default/team", Relations: []notifications.Relation{
			{Type: notifications.RelationHasMember, TargetRef: "user:default/jane"},
			{Type: notifications.RelationHasMember, TargetRef: "user:default/bob"},
		}},
	)
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	mailer := setup(t, srv, email.Config{Catalog: catalog, Filter: notifications.ProcessorFilter{ExcludedTopics: []string{"quiet"}}})
	svc, err := notifications.New(notifications.Config{Store: st, Catalog: catalog, Processors: []notifications.Processor{mailer}})
	if err != nil {
		t.Fatal(err)
	}
	sender := svc.Sender("plugin:test")
	if _, err := sender.Send(t.Context(), notifications.Entity("group:default/team"), notifications.Payload{Title: "Team news", Link: "/team"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Send(t.Context(), notifications.Entity("group:default/team"), notifications.Payload{Title: "Filtered", Topic: "quiet"}); err != nil {
		t.Fatal(err)
	}
	var to []string
	for range 2 {
		r := srv.next()
		if r.Subject != "Team news" || r.Text != "\n\nhttp://localhost/team" {
			t.Fatalf("subject %q text %q", r.Subject, r.Text)
		}
		to = append(to, r.To...)
	}
	if err := svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.none()
	slices.Sort(to)
	if want := []string{"bob@example.com", "jane@example.com"}; !slices.Equal(to, want) {
		t.Fatalf("mailed %v, want %v", to, want)
	}
}

// lockedBuffer is a log destination safe for the Service's workers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A failed email is logged once: by the Service, with the processor's name
// and the cause, not by the processor as well.
func TestFailureLoggedOnce(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	srv.failRcpt(1, reply550)
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	mailer := attempts{Processor: setup(t, srv, email.Config{Logger: logger}), done: make(chan error, 8)}
	svc, err := notifications.New(notifications.Config{Store: st, Catalog: testCatalog, Processors: []notifications.Processor{mailer}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Sender("plugin:test").Send(t.Context(), notifications.Entity("user:default/jane"), notifications.Payload{Title: "T"}); err != nil {
		t.Fatal(err)
	}
	// A 550 is permanent: one attempt, then Close waits for the Service to
	// finish with it (record and log the failure).
	if err := mailer.wait(t); !notifications.IsPermanent(err) {
		t.Fatalf("PostProcess = %v, want a permanent failure", err)
	}
	if err := svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var errorLines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=ERROR") {
			errorLines = append(errorLines, l)
		}
	}
	if len(errorLines) != 1 {
		t.Fatalf("%d error lines, want 1:\n%s", len(errorLines), strings.Join(errorLines, "\n"))
	}
	if l := errorLines[0]; !strings.Contains(l, "processor=Email") || !strings.Contains(l, "550") || !strings.Contains(l, "jane@example.com") {
		t.Fatalf("the error line lacks the processor or the cause: %s", l)
	}
}

// deliveryService is a Service on a fresh store mailing through mailer,
// with a fake clock and no delivery workers: the test runs deliveries.
func deliveryService(t *testing.T, mailer *email.Processor) (*notifications.Service, *notificationstest.Clock) {
	t.Helper()
	return processortest.Service(t, processortest.Store(t), testCatalog, mailer)
}

// Through the Service's retries: a server that answers 451 twice, then
// accepts, gets one email with one Message-ID, derived from the delivery,
// and the delivery is sent after three attempts.
func TestDeliveryRetriedAfterTemporaryFailures(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	srv.failRcpt(2, reply451)
	svc, clock := deliveryService(t, setup(t, srv, email.Config{}))
	ns, err := svc.Sender("plugin:test").Send(t.Context(), notifications.Entity("user:default/jane"), notifications.Payload{Title: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if n := notificationstest.AdvanceUntilDelivered(t, svc, clock); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	ds, err := svc.Deliveries(t.Context(), notifications.DeliveryFilter{NotificationID: ns[0].ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	d := ds[0]
	if d.Status != notifications.DeliverySent || d.Attempts != 3 || d.Processor != email.Name {
		t.Fatalf("delivery %+v", d)
	}
	if got := srv.rcptCount(); got != 3 {
		t.Fatalf("%d RCPT commands, want one per attempt", got)
	}
	got := srv.drain()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"jane@example.com"}) {
		t.Fatalf("received %+v, want one email to jane", got)
	}
	if id := got[0].Header.Get("Message-Id"); !strings.HasPrefix(id, "<"+d.ID+".") || !strings.HasSuffix(id, "@example.com>") {
		t.Fatalf("Message-ID %q, want one derived from delivery %s", id, d.ID)
	}
}

// A permanent refusal fails the delivery after one attempt, and mails
// nothing.
func TestDeliveryFailsOnPermanentRefusal(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	srv.failRcpt(1, reply550)
	svc, clock := deliveryService(t, setup(t, srv, email.Config{}))
	ns, err := svc.Sender("plugin:test").Send(t.Context(), notifications.Entity("user:default/jane"), notifications.Payload{Title: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if n := notificationstest.AdvanceUntilDelivered(t, svc, clock); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	ds, err := svc.Deliveries(t.Context(), notifications.DeliveryFilter{NotificationID: ns[0].ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
	if d := ds[0]; d.Status != notifications.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "550") {
		t.Fatalf("delivery %+v", d)
	}
	srv.none()
}
