package store_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

func ExampleOpenSQLite() {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, ":memory:") // or a file path
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	created := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	if _, err := s.SaveNotifications(ctx, []notifications.Notification{{
		User: "user:default/jane", Origin: "plugin:ci", Created: created,
		Payload: notifications.Payload{Title: "Build failed", Severity: notifications.SeverityHigh},
	}}, nil); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := s.SaveBroadcast(ctx, notifications.Notification{
		Origin: "plugin:ops", Created: created.Add(time.Minute),
		Payload: notifications.Payload{Title: "Maintenance tonight"},
	}, nil); err != nil {
		fmt.Println(err)
		return
	}

	inbox, err := s.List(ctx, notifications.Query{User: "user:default/jane", Limit: 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range inbox {
		fmt.Printf("%s %q broadcast=%v\n", n.Created.Format(time.Kitchen), n.Payload.Title, n.IsBroadcast())
	}
	status, _ := s.Status(ctx, "user:default/jane")
	fmt.Printf("unread %d, read %d\n", status.Unread, status.Read)
	// Output:
	// 10:01AM "Maintenance tonight" broadcast=true
	// 10:00AM "Build failed" broadcast=false
	// unread 2, read 0
}
