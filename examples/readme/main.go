// Command readme is the README's opening snippet, as a program: a test
// keeps the two identical, so the snippet always compiles.
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
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, ":memory:") // or a file, or store.OpenPostgres(ctx, dsn)
	if err != nil {
		log.Fatal(err)
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
		log.Fatal(err)
	}
	defer svc.Close(ctx)

	sender := svc.Sender("plugin:ci") // what your plugin depends on
	if _, err := sender.Send(ctx, notifications.Entity("group:default/platform"),
		notifications.Payload{Title: "Build failed on main", Severity: notifications.SeverityHigh}); err != nil {
		log.Fatal(err)
	}

	page, err := svc.List(ctx, "user:default/alice", notifications.ListOptions{Filter: notifications.Filter{Read: new(false)}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(page.TotalCount, "unread:", page.Notifications[0].Payload.Title)
}
