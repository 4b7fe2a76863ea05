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
//
// # Observability
//
// The Service traces and meters through the OpenTelemetry API
// (Config.TracerProvider, Config.MeterProvider; the global providers by
// default); the SDK and its exporters are the host's choice. Spans:
//
//	herald.send             one per send; a child of the caller's span in ctx
//	  herald.resolve        recipient resolution (not for broadcasts)
//	  herald.processOptions one per options processor that ran (herald.processor)
//	  herald.preProcess     one per pre-processor, from its first call in the send to
//	                        its last (herald.processor.calls: one per recipient)
//	  herald.store.write    the transaction storing notifications and deliveries
//	herald.deliver          one per delivery attempt: a root span (kind consumer)
//	                        linked to its send's span, whichever process runs it
//
// The send's W3C traceparent is stored with its send record, which is how
// an attempt in another process, or after a restart, links to it.
//
// Instruments (attribute values are bounded: origins, processor names,
// phases, outcomes; never user ids, notification ids or titles):
//
//	name                       type           unit            attributes
//	herald.notifications.sent  counter        {notification}  herald.origin
//	herald.sends               counter        {send}          herald.origin, herald.outcome (ok, error)
//	herald.send.duration       histogram      s               herald.origin, herald.outcome
//	herald.send.recipients     histogram      {recipient}     herald.origin
//	herald.processor.duration  histogram      s               herald.processor, herald.processor.phase
//	herald.processor.errors    counter        {error}         herald.processor, herald.processor.phase
//	herald.deliveries          counter        {delivery}      herald.processor, herald.delivery.outcome
//	herald.delivery.duration   histogram      s               herald.processor, herald.delivery.outcome
//	herald.deliveries.backlog  gauge (async)  {delivery}      herald.processor, herald.delivery.status
//	herald.signals.published   counter        {signal}        herald.signal.broadcast (package signals)
//	herald.signals.dropped     counter        {signal}        (package signals)
//	herald.connections         updowncounter  {connection}    herald.transport (package signals/socket)
//
// herald.processor.phase is processOptions, preProcess or postProcess;
// herald.delivery.outcome is sent, retrying, failed, cancelled, abandoned
// (Close gave up on the attempt, or its lease was lost) or unrecorded
// (the outcome could not be stored); herald.delivery.status is pending
// or retrying. The backlog gauge is read from the store at each
// collection when the Store implements BacklogCounter (package store's
// does). Origins beyond the first 1000 a Service sees are recorded as
// "other". With no SDK installed a send allocates nothing more than it
// would untraced: attribute sets are built once, and spans are not
// started while the global provider is the API's no-op default.
package notifications
