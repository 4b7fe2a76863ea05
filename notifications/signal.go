package notifications

import (
	"context"

	"github.com/heraldhq/herald/signals"
)

// SignalChannel is the signals channel Herald publishes on, the one
// Backstage's notifications UI subscribes to.
const SignalChannel = "notifications"

// Signal message actions.
const (
	ActionNewNotification    = "new_notification"
	ActionNotificationRead   = "notification_read"
	ActionNotificationUnread = "notification_unread"
)

// NotificationMessage is the message of a new_notification signal.
// Backstage sends only the id; Herald adds the notification so a client
// need not fetch it.
type NotificationMessage struct {
	Action         string        `json:"action"`
	NotificationID string        `json:"notification_id"`
	Notification   *Notification `json:"notification,omitempty"`
}

// ReadStateMessage is the message of a notification_read or
// notification_unread signal, sent to the user whose state changed.
type ReadStateMessage struct {
	Action          string   `json:"action"`
	NotificationIDs []string `json:"notification_ids"`
}

func (s *Service) publishToUser(ctx context.Context, user string, msg ReadStateMessage) {
	s.publish(ctx, signals.Signal{Recipients: signals.Entity(user), Channel: SignalChannel, Message: msg})
}

// publish hands a signal over after a commit; a failure is logged, never
// returned, because the notification is already stored.
func (s *Service) publish(ctx context.Context, sig signals.Signal) {
	if s.publisher == nil {
		return
	}
	if err := s.publisher.Publish(context.WithoutCancel(ctx), sig); err != nil {
		s.log.ErrorContext(ctx, "notifications: publishing a signal failed", "channel", sig.Channel, "error", err)
	}
}
