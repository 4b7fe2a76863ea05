// Command readme is the README's opening snippet, as a program: a test
// keeps the snippet identical to the body of run, so it always compiles.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/store"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	st, err := store.OpenSQLite(ctx, ":memory:") // or a file, or store.OpenPostgres(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	hub := signals.NewHub(signals.HubConfig{}) // feeds WebSocket connections (signals/socket)
	// A catalog expands groups and owners into users; bring your own, or:
	catalog := notifications.NewMemoryCatalog(notifications.CatalogEntity{
		Ref:       "group:default/platform",
		Relations: []notifications.Relation{{Type: notifications.RelationHasMember, TargetRef: "user:default/alice"}},
	})
	svc, err := notifications.New(notifications.Config{Store: st, Signals: hub, Catalog: catalog})
	if err != nil {
		return err
	}
	defer svc.Close(ctx)

	sender := svc.Sender("plugin:ci") // what your plugin depends on
	if _, err := sender.Send(ctx, notifications.Entity("group:default/platform"),
		notifications.Payload{Title: "Build failed on main", Severity: notifications.SeverityHigh}); err != nil {
		return err
	}

	page, err := svc.List(ctx, "user:default/alice", notifications.ListOptions{Filter: notifications.Filter{Read: new(false)}})
	if err != nil {
		return err
	}
	fmt.Println(page.TotalCount, "unread:", page.Notifications[0].Payload.Title)
	return nil
}
