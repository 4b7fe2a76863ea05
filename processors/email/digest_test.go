package email_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/processors/email"
	"github.com/heraldhq/herald/store"
)

// digestService is deliveryService with the mailer wrapped in a digest of
// an hour.
func digestService(t *testing.T, mailer *email.Processor) (*notifications.Service, *notificationstest.Clock) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := notificationstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	svc, err := notifications.New(notifications.Config{
		Store: st, Catalog: testCatalog, Now: clock.Now, DeliveryWorkers: -1, Logger: slog.New(slog.DiscardHandler),
		Processors: []notifications.Processor{notifications.Digest(mailer, notifications.DigestConfig{Window: time.Hour})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	return svc, clock
}

// Three notifications within the window make one email listing them,
// oldest first, with their titles, descriptions and links in both parts,
// under the configured subject and a Message-ID derived from the digest's
// delivery. A retry after a 451 mails it once, under the same id.
func TestDigestEmail(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	srv.failRcpt(1, reply451)
	svc, clock := digestService(t, setup(t, srv, email.Config{DigestSubject: "Your {count} updates"}))
	send := svc.Sender("plugin:test")
	for _, p := range []notifications.Payload{
		{Title: "Build failed", Description: "main is red", Link: "/ci/1"},
		{Title: "Review <requested>", Description: "PR 7 & 8", Link: "https://git.example.com/pr/7"},
		{Title: "Deploy done", Metadata: map[string]any{notifications.MetadataMarkdownBody: "**prod** is live"}},
	} {
		if _, err := send.Send(t.Context(), notifications.Entity("user:default/jane"), p); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if n := notificationstest.DeliverAll(t, svc); n != 0 {
		t.Fatalf("%d attempts inside the window", n)
	}
	srv.none()
	if n := notificationstest.AdvanceUntilDelivered(t, svc, clock); n != 2 {
		t.Fatalf("%d attempts, want the digest's two", n)
	}
	got := srv.drain()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"jane@example.com"}) {
		t.Fatalf("received %+v, want one email to jane", got)
	}
	m := got[0]
	if m.Subject != "Your 3 updates" {
		t.Errorf("subject %q", m.Subject)
	}
	order := []string{"Build failed", "main is red", "http://localhost/ci/1", "Review <requested>", "PR 7 & 8",
		"https://git.example.com/pr/7", "Deploy done", "**prod** is live", "http://localhost/notifications"}
	at := 0
	for _, want := range order {
		i := strings.Index(m.Text[at:], want)
		if i < 0 {
			t.Fatalf("text part lacks %q after offset %d, or has it out of order:\n%s", want, at, m.Text)
		}
		at += i + len(want)
	}
	for _, want := range []string{"<h2>Build failed</h2>", "<p>main is red</p>", `<a href="http://localhost/ci/1">`,
		"<h2>Review &lt;requested&gt;</h2>", "<p>PR 7 &amp; 8</p>", "<strong>prod</strong> is live", "<hr>"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, m.HTML)
		}
	}
	ds, err := svc.Deliveries(t.Context(), notifications.DeliveryFilter{Processor: email.Name})
	if err != nil {
		t.Fatal(err)
	}
	var digest notifications.Delivery
	for _, d := range ds {
		if d.IsDigest() {
			digest = d
		}
	}
	if digest.Status != notifications.DeliverySent || digest.Attempts != 2 {
		t.Fatalf("digest delivery %+v, want sent after two attempts", digest)
	}
	if id := m.Header.Get("Message-Id"); !strings.HasPrefix(id, "<"+digest.ID+".") || !strings.HasSuffix(id, "@example.com>") {
		t.Fatalf("Message-ID %q, want one derived from the digest %s", id, digest.ID)
	}
}

// Called directly, the default subject counts the notifications.
func TestDigestEmailDefaultSubject(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{})
	ns := []notifications.Notification{note("user:default/jane", notifications.Payload{Title: "a"}), note("user:default/jane", notifications.Payload{Title: "b"})}
	if err := p.PostProcessDigest(inDelivery(t, deliveryID, 1), "user:default/jane", ns); err != nil {
		t.Fatal(err)
	}
	if m := srv.next(); m.Subject != "2 new notifications" || !strings.HasPrefix(m.Header.Get("Message-Id"), "<"+deliveryID+".") {
		t.Fatalf("subject %q, Message-ID %q", m.Subject, m.Header.Get("Message-Id"))
	}
	srv.none()
}
