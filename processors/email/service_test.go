package email_test

import (
	"slices"
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
