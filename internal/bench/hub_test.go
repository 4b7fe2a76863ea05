package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals"
)

// BenchmarkHub publishes one new-notification signal to a group, with
// 10,000 subscribers of which 100 or all 10,000 belong to the group.
// Herald's side is Hub.Publish: validate, encode the frame once, find the
// group's subscribers by index and offer each the delivery without
// blocking. The floor is the least any fan-out can do: a loop of
// non-blocking sends over the matching subscribers' channels, found in
// advance. Both sides' deliveries are drained, untimed, after each
// publish so no subscriber falls behind.
func BenchmarkHub(b *testing.B) {
	const subscribers = 10_000
	const group = "group:default/team"
	for _, matching := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("match=%d", matching), func(b *testing.B) {
			ctx := context.Background()
			hub := signals.NewHub(signals.HubConfig{})
			defer hub.Close()
			var matched []*signals.Subscriber
			for i := range subscribers {
				var refs []string
				if i < matching {
					refs = []string{group}
				}
				sub := hub.Subscribe(signals.SubscribeOptions{User: userRef(i), OwnershipRefs: refs, Channels: []string{notifications.SignalChannel}})
				if i < matching {
					matched = append(matched, sub)
				}
			}
			n := notifications.Notification{ID: "00000000-0000-4000-8000-000000000001", User: userRef(0), Origin: benchOrigin,
				Created: time.Now().UTC().Truncate(time.Millisecond), Payload: benchPayload()}
			sig := signals.Signal{Recipients: signals.ToUsers(group), Channel: notifications.SignalChannel,
				Message: notifications.NewNotificationMessage{Action: notifications.ActionNewNotification, NotificationID: n.ID, Notification: &n}}

			type delivery struct{ frame []byte }
			chans := make([]chan *delivery, matching)
			for i := range chans {
				chans[i] = make(chan *delivery, signals.DefaultBufferSize)
			}
			b.ReportAllocs()
			bp := &pair{b: b}
			bp.run(func() error {
				if err := hub.Publish(ctx, sig); err != nil {
					return err
				}
				b.StopTimer()
				defer b.StartTimer()
				for _, sub := range matched {
					if _, ok := <-sub.C(); !ok {
						return sub.Err()
					}
				}
				for _, c := range chans { // the floor's previous deliveries
					select {
					case <-c:
					default:
					}
				}
				return nil
			}, func() error {
				d := &delivery{}
				for _, c := range chans {
					select {
					case c <- d:
					default:
						return fmt.Errorf("floor channel full")
					}
				}
				return nil
			})
			bp.report()
		})
	}
}
