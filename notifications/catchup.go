package notifications

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/signals"
)

// CatchUpLimit is the most notifications one CatchUp replays.
const CatchUpLimit = 500

// CatchUp returns the signals a live connection of user would have carried
// on channel since since: what a browser that lost its connection must be
// told when it comes back. Package socket calls it for a client that
// reconnects with a cursor; wire it as socket.Config{CatchUpFunc: svc.CatchUp}
// (socket.CatchUpFunc has this signature). since is the client's cursor
// minus a look-back window, which the socket subtracts.
//
// For SignalChannel it returns one new_notification signal, addressed to
// user, for each of user's notifications and broadcasts created, updated
// by a scoped re-send or changed in state (read, unread, saved, unsaved,
// seen, unseen, archived, un-archived, snoozed, un-snoozed, woken) at or
// after since (Filter's ChangedSince; archived and snoozed ones
// included, their state in the notification), carrying the notification
// as user sees it now: oldest
// first by creation, at most CatchUpLimit of them, the most recently
// created when more changed. For any other channel it returns nil without
// reading the store.
//
// A replay overlaps what the client has seen, so a client treats each
// new_notification as an upsert keyed by notification id: it may concern a
// notification the client already shows, now read, saved or updated. A
// client that receives CatchUpLimit signals should refetch its inbox, and
// one that shows the inbox drops a replayed notification whose archived
// or snoozedUntil is set.
func (s *Service) CatchUp(ctx context.Context, user, channel string, since time.Time) ([]signals.Signal, error) {
	if channel != SignalChannel {
		return nil, nil
	}
	user, err := canonicalUser(user)
	if err != nil {
		return nil, err
	}
	ns, err := s.store.List(ctx, Query{
		User:   user,
		Filter: Filter{ChangedSince: &since},
		Limit:  CatchUpLimit + 1, // one more tells that some are left out
	})
	if err != nil {
		return nil, fmt.Errorf("notifications: catch up: %w", err)
	}
	if len(ns) > CatchUpLimit {
		s.log.WarnContext(ctx, "notifications: catch-up truncated: more notifications changed than are replayed",
			"user", user, "since", since, "limit", CatchUpLimit)
		ns = ns[:CatchUpLimit]
	}
	slices.Reverse(ns) // the store lists newest first
	out := make([]signals.Signal, len(ns))
	for i := range ns {
		out[i] = signals.Signal{
			Recipients: signals.Entity(user),
			Channel:    SignalChannel,
			Message:    NotificationMessage{Action: ActionNewNotification, NotificationID: ns[i].ID, Notification: &ns[i]},
		}
	}
	return out, nil
}
