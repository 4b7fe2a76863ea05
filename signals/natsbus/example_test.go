package natsbus_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/natsbus"
)

// ExampleNew connects two instances of a deployment through one NATS
// server (here an in-process one) and publishes a signal on the first.
func ExampleNew() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(wait) {
		panic("nats server did not start")
	}

	ctx := context.Background()
	received := make(chan signals.Signal, 1)
	newInstance := func(local signals.Publisher) *signals.Bus {
		tr, err := natsbus.New(ctx, natsbus.Config{URL: ns.ClientURL()})
		if err != nil {
			panic(err)
		}
		bus, err := signals.NewBus(ctx, signals.BusConfig{
			Transport: tr,    // the Bus closes it
			Local:     local, // usually the instance's *signals.Hub
			OnGap: func(ctx context.Context, g signals.Gap) {
				// Tell this instance's clients to refetch.
			},
		})
		if err != nil {
			panic(err)
		}
		return bus
	}
	web1 := newInstance(signals.PublisherFunc(func(context.Context, signals.Signal) error { return nil }))
	defer web1.Close()
	web2 := newInstance(signals.PublisherFunc(func(_ context.Context, s signals.Signal) error {
		received <- s
		return nil
	}))
	defer web2.Close()

	err = web1.Publish(ctx, signals.Signal{
		Recipients: signals.Entity("user:default/jane"),
		Channel:    "notifications",
		Message:    map[string]string{"action": "new_notification"},
	})
	if err != nil {
		panic(err)
	}
	s := <-received
	msg, _ := json.Marshal(s.Message)
	fmt.Println(s.Channel, s.Recipients.EntityRefs, string(msg))
	// Output: notifications [user:default/jane] {"action":"new_notification"}
}
