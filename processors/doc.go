// Package processors holds what Herald's built-in processors share, for
// anyone writing another one: filters read from configuration, a throttle,
// retries with exponential backoff and full jitter, link rendering against
// the application's base URL, and delivery metrics.
//
// The processors themselves live in sub-packages: [github.com/heraldhq/herald/processors/email],
// [github.com/heraldhq/herald/processors/slack] and
// [github.com/heraldhq/herald/processors/webhook]. Each one is a
// notifications.Processor built with New(Config) and added to
// notifications.Config.Processors.
//
// Every helper here is safe for concurrent use: the notifications service
// runs post-processing in a pool of background workers.
package processors
