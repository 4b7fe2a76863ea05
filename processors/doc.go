// Package processors holds what Herald's built-in processors share, for
// anyone writing another one: a throttle, Retry-After parsing, link
// rendering against the application's base URL, and delivery metrics.
//
// The processors themselves live in sub-packages: [github.com/heraldhq/herald/processors/email],
// [github.com/heraldhq/herald/processors/slack] and
// [github.com/heraldhq/herald/processors/webhook]. Each one is a
// notifications.Processor built with New(Config) and added to
// notifications.Config.Processors. Each Config's Filter is a
// notifications.ProcessorFilter, into which a processor's filter block
// from a configuration file decodes directly (see the example).
//
// # One attempt per call
//
// The notifications Service keeps a durable delivery for each
// (notification, post-processor) and calls PostProcess once per attempt,
// with the delivery in the context (notifications.DeliveryFromContext),
// retrying failures with backoff per notifications.Config.Retry. So a
// post-processor does not retry inside PostProcess (attempts would
// multiply); it makes one attempt and says what kind of failure it met:
//
//   - notifications.Permanent(err) for what retrying cannot fix (an SMTP
//     550, a webhook's 400, Slack's channel_not_found): the delivery fails
//     at once;
//   - notifications.RetryLater(err, d) for a server that said when to come
//     back (a 429 or 503 with Retry-After: see ParseRetryAfter, which caps
//     the wait at MaxRetryAfter);
//   - a plain error for anything transient (a network error, a timeout, a
//     5xx, an SMTP 4xx): retried after the Service's backoff.
//
// Delivery is at least once: an attempt that reached its receiver but
// whose outcome was not recorded (a crash, a lost answer) runs again. The
// delivery id is the same on every attempt; the built-in processors derive
// their message ids from it (webhook-id, Message-ID) so that receivers can
// de-duplicate, and remember what an attempt reached so that a retry does
// not repeat it (in memory for email and webhooks, in the TimestampStore
// for Slack).
//
// A processor returns its failures, wrapped with what it was doing and for
// which notification, and does not log them: the notifications Service
// logs each one once, with the processor's name and phase, and records it
// on the delivery.
//
// Every helper here is safe for concurrent use: the notifications Service
// runs several delivery attempts at once.
package processors
