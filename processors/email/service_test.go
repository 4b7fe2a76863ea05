package email_test

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/email"
	"github.com/heraldhq/herald/store"
)

// The processor inside a real Service: a group send mails each member once
// the service has drained post-processing.
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
	if err := svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, r := range srv.drain() {
		if r.Subject != "Team news" || r.Text != "\n\nhttp://localhost/team" {
			t.Fatalf("subject %q text %q", r.Subject, r.Text)
		}
		to = append(to, r.To...)
	}
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
	mailer := setup(t, srv, email.Config{Logger: logger})
	svc, err := notifications.New(notifications.Config{Store: st, Catalog: testCatalog, Processors: []notifications.Processor{mailer}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Sender("plugin:test").Send(t.Context(), notifications.Entity("user:default/jane"), notifications.Payload{Title: "T"}); err != nil {
		t.Fatal(err)
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
