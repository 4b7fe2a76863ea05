// Package processors holds what Herald's built-in processors share, for
// anyone writing another one: a throttle, retries with exponential backoff
// and full jitter, link rendering against the application's base URL, and
// delivery metrics.
//
// The processors themselves live in sub-packages: [github.com/heraldhq/herald/processors/email],
// [github.com/heraldhq/herald/processors/slack] and
// [github.com/heraldhq/herald/processors/webhook]. Each one is a
// notifications.Processor built with New(Config) and added to
// notifications.Config.Processors. Each Config's Filter is a
// notifications.ProcessorFilter, into which a processor's filter block
// from a configuration file decodes directly (see the example).
//
// A processor returns its failures, wrapped with what it was doing and for
// which notification, and does not log them: the notifications Service
// logs each one once, with the processor's name and phase.
//
// Every helper here is safe for concurrent use: the notifications service
// runs post-processing in a pool of background workers.
package processors
