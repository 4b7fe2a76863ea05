// Package notifications is Herald's notification service: the send
// pipeline and every user's inbox, with Backstage's semantics.
//
// A host builds one Service with New, handing it a Store (package store),
// optionally a signals.Publisher for live updates, processors, a Catalog
// to expand groups and owners, and administrator default settings. Backend
// code depends on the small Sender interface:
//
//	sender := svc.Sender("plugin:catalog")
//	_, err := sender.Send(ctx, notifications.Entity("group:default/team-a"),
//		notifications.Payload{Title: "Entity changed", Link: "/catalog/default/component/a"})
//
// A send is validated (errors wrap ErrInvalid and name every bad field),
// handed to each OptionsProcessor, resolved to users (groups through their
// members and sub-groups, other entities through their owner; exclusions;
// de-duplication), pre-processed per recipient, checked against each
// recipient's settings for the in-app channel, stored in one transaction
// (a send with a Scope updates the earlier notification of that origin and
// scope) together with one delivery per post-processor and recipient,
// signalled, and then delivered in the background.
//
// Deliveries are durable: the Service's delivery workers claim them from
// the store, call each PostProcessor, and record the outcome, retrying
// failures with exponential backoff (RetryPolicy; by default 8 attempts
// over about half an hour). A crash loses none: the next Service on the
// store runs what was left, so a delivery runs at least once, and its id,
// the same on every attempt, lets a receiver drop repeats. Deliveries,
// Delivery and RetryDelivery inspect and retry them; Config.OnDelivery
// sees each outcome; RunDueDeliveries runs them synchronously for tests.
//
// The inbox side (List, Get, Status, Topics, Update, MarkAllRead,
// Settings, SaveSettings) always works for one user: their own
// notifications plus every broadcast, with their own read and saved state.
package notifications
