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
// Herald's side is Hub.Publish and the fan-out it hands the signal to,
// waited for with Flush: validate, encode the frame once, queue it, find
// the group's subscribers by index and offer each the event without
// blocking. The floor is the least any fan-out can do: a loop of
// non-blocking sends over the matching subscribers' channels, found in
// advance. Both sides' deliveries are drained, untimed, between blocks
// so no subscriber falls behind.
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
			sig := signals.Signal{Recipients: signals.Entity(group), Channel: notifications.SignalChannel,
				Message: notifications.NotificationMessage{Action: notifications.ActionNewNotification, NotificationID: n.ID, Notification: &n}}

			// The floor's delivery carries the signal, as the Hub's Event does.
			type delivery struct{ signal signals.Signal }
			chans := make([]chan *delivery, matching)
			for i := range chans {
				chans[i] = make(chan *delivery, signals.DefaultBufferSize)
			}
			b.ReportAllocs()
			// Blocks of at most 32 publishes fit every buffer (64) until
			// the next drain.
			bp := &pair{b: b, maxBlock: 32, untimed: func() error {
				for _, sub := range matched {
				drain:
					for {
						select {
						case _, ok := <-sub.C():
							if !ok {
								return sub.Err()
							}
						default:
							break drain
						}
					}
				}
				for _, c := range chans { // the floor's previous block
				drainFloor:
					for {
						select {
						case <-c:
						default:
							break drainFloor
						}
					}
				}
				return nil
			}}
			bp.run(func() error {
				if err := hub.Publish(ctx, sig); err != nil {
					return err
				}
				return hub.Flush(ctx)
			}, func() error {
				d := &delivery{signal: sig}
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
