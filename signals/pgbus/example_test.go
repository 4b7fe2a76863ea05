package pgbus_test

import (
	"context"
	"log"
	"log/slog"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/pgbus"
)

// ExampleNew wires an instance's Hub to the other instances through the
// database they share. The Bus is what the notifications service
// publishes to.
func ExampleNew() {
	ctx := context.Background()
	logger := slog.Default()
	tr, err := pgbus.New(ctx, pgbus.Config{
		DSN:    "postgres://herald@db:5432/herald",
		Logger: logger,
	})
	if err != nil {
		log.Fatal(err)
	}
	hub := signals.NewHub(signals.HubConfig{Logger: logger})
	bus, err := signals.NewBus(ctx, signals.BusConfig{
		Transport: tr, // the Bus closes it
		Local:     hub,
		Logger:    logger,
		OnGap: func(ctx context.Context, g signals.Gap) {
			// Signals from other instances were lost: ask every client to
			// refetch its inbox.
			hub.Publish(ctx, signals.Signal{
				Recipients: signals.Broadcast(),
				Channel:    "notifications",
				Message:    map[string]string{"action": "refresh"},
			})
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	// notifications.New(notifications.Config{Signals: bus, ...})
}
