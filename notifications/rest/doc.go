// Package rest serves Herald's notifications over HTTP: the REST API of
// Backstage's notifications-backend plugin, route for route, so the
// Backstage notifications UI, Backstage's NotificationService client and
// existing scripts work against Herald unchanged.
//
// New returns an http.Handler whose paths are relative to its mount point.
// Mount it where Backstage mounts the plugin:
//
//	h, err := rest.New(rest.Config{Service: svc, Authenticator: tokens})
//	mux.Handle("/api/notifications/", http.StripPrefix("/api/notifications", h))
//	mux.Handle("/api/notifications", http.StripPrefix("/api/notifications", h))
//
// # Routes
//
//	GET  /notifications            list (legacy: GET /)                   user
//	POST /notifications            send (legacy: POST /)                  service
//	GET  /notifications/{id}       one notification (legacy: GET /{id})   user
//	POST /notifications/update     read/unread, saved/unsaved (legacy: POST /update)  user
//	                               and Herald's seen, archived, snoozeUntil
//	POST /notifications/read-all   mark everything read (Herald)          user
//	POST /notifications/seen-all   mark everything seen (Herald)          user
//	GET  /status                   unread, read and (Herald) unseen counts  user
//	GET  /settings                 effective settings                     user
//	POST /settings                 replace settings                       user
//	GET  /topics                   distinct topics                        user
//	GET  /deliveries               the caller's deliveries (Herald)       service
//	POST /deliveries/{id}/retry    run a failed delivery again (Herald)   service
//	GET  /openapi.json             the OpenAPI 3.1 document               any
//
// The OpenAPI document (GET /openapi.json, or OpenAPI) describes every
// parameter and schema. Query strings are checked as Backstage's OpenAPI
// validator checks them: unknown parameters are 400, integers and booleans
// must be exactly that. Bodies are JSON of at most Config.MaxBodyBytes
// (100 KiB by default; 413 above), decoded without coercion.
//
// # Authentication
//
// Every route authenticates the request's "Authorization: Bearer" token
// through Config.Authenticator, an auth.Authenticator returning an
// auth.Principal; the signals endpoints of package signals/socket take the
// same Authenticator, so one set of tokens serves both. Sending and the
// delivery routes require a service principal, whose Subject becomes the
// notification's origin and bounds the deliveries it sees; every other
// route except the OpenAPI document requires a user principal, and reads
// and changes only that user's notifications and the broadcasts.
// auth.StaticTokens is a ready Authenticator over configured tokens.
//
// # Errors
//
// Errors use Backstage's envelope:
//
//	{"error":{"name":"InputError","message":"..."},
//	 "request":{"method":"GET","url":"/notifications"},
//	 "response":{"statusCode":400}}
//
// with InputError (400), AuthenticationError (401), NotAllowedError (403),
// NotFoundError (404), ConflictError (409: a retry of a delivery that is
// not failed or cancelled), PayloadTooLargeError (413), ServiceUnavailableError
// (503 with Retry-After: the store is unreachable, see
// notifications.ErrUnavailable, or the Service is closed) and Error (500:
// a fault, logged to Config.Logger; the response says only "Internal
// server error"). A 400's message names the parameter or field and the
// rule it breaks, never the layers below. request.url is the path alone:
// the query string is left out, so a secret put there is never echoed.
//
// # Input rules
//
// What a request carries is checked before it reaches the Service, so
// that SQLite and PostgreSQL give the same answer to the same request:
//
//   - Every query value and name, and every string and property name of a
//     JSON body, is valid UTF-8 without NUL. Invalid UTF-8 and lone
//     surrogate escapes ("\ud800") are refused, not replaced with U+FFFD.
//   - search is at most notifications.MaxSearchLength characters.
//   - A cursor is passed back as the API issued it; a tampered one
//     (a position outside years 1 to 9999, an id that is not a UUID) is
//     400 "request/query/cursor is invalid".
//   - Date bounds (createdAfter, read-all's before) lie within years 1 to
//     9999, UTC. Presence decides, not zero-ness: before in year 1 marks
//     nothing.
//   - Metadata is kept as sent, numbers digit for digit (json.Number in
//     Payload.Metadata); a property repeated within one object is 400, and
//     so is a number outside the bounds of notifications.MaxMetadataNumberLength.
//
// # Beyond Backstage
//
// POST /notifications/read-all marks every unread notification read in
// one call, optionally narrowed by a JSON body with the list's filters
// (search, topic, saved, createdAfter, minimumSeverity) and "before" (mark
// only what was created at or before it, so what arrived since stays
// unread); it answers {"ids": [...]} and publishes one notification_read
// signal. POST /notifications/seen-all takes the same body and marks the
// unseen ones seen. POST /notifications/update also takes seen and
// archived (booleans) and snoozeUntil (a date: hidden until then, then
// back unread and unseen with a new_notification signal; a date not in
// the future un-snoozes). Notifications carry seen, archived and
// snoozedUntil; GET /status answers unseen too. The list and the topics
// take seen and archived parameters: archived and snoozed notifications
// are left out unless archived=true asks for the archived ones. The list
// takes a cursor parameter and answers with nextCursor
// when a limited page was full: keyset pagination that stays stable while
// notifications arrive.
//
// # Deliveries
//
// What each post-processor (email, chat, webhook) did for each
// notification is a delivery (see notifications.Delivery). A service
// inspects and retries the deliveries of its own sends, those whose origin
// is its Subject; another origin's delivery is answered exactly like an
// unknown one (404), because a delivery's last error can carry a
// recipient's address. Backstage's clients never call these routes.
//
// GET /deliveries answers {"deliveries": [...]}, newest first, each
//
//	{"id": "...", "notificationId": "...", "user": "user:default/jane",
//	 "origin": "external:ci", "processor": "email", "status": "failed",
//	 "attempts": 8, "lastError": "...", "nextAttempt": null,
//	 "created": "2025-01-01T10:00:00.000Z", "updated": "2025-01-01T10:31:12.000Z"}
//
// with user null for a broadcast, lastError null when no attempt failed,
// nextAttempt null once the delivery is final. Its parameters, each
// optional: notificationId (a UUID), processor (a name), status (pending,
// retrying, sent, failed or cancelled) and limit (1 to
// notifications.MaxDeliveryLimit, default notifications.DefaultDeliveryLimit).
// A parameter present with an empty or unknown value is 400.
//
// POST /deliveries/{id}/retry puts a failed or cancelled delivery back to
// run now with a fresh set of attempts, and answers it as it then stands
// (pending, or already claimed by a worker). A delivery that is pending,
// retrying or sent is 409 ConflictError: there is nothing to retry, and
// the service learns why rather than being told the delivery does not
// exist. An unknown or malformed id, or another origin's delivery, is 404.
//
// # Deviations from Backstage
//
//   - The principal is checked before the request is validated: a caller
//     of the wrong kind gets 403 even for a malformed request. Its message
//     is "This endpoint requires user credentials" or "This endpoint
//     requires service credentials".
//   - orderField accepts only the fields of notifications.OrderFields.
//   - limit is at most MaxLimit, offset at most MaxOffset, and an update at
//     most MaxUpdateIDs ids (400 beyond).
//   - A malformed id is 404 (or ignored by updates), never a 500.
//   - A title over 255 characters is 400, not a database error.
//   - A resolver or catalog failure is a 500 (logged); Backstage answers
//     400. Unresolvable refs are still 400 "Failed to send user
//     notifications; caused by ...".
//   - Null is accepted as "absent" for optional body properties.
//   - A Content-Type other than JSON is 400 rather than an empty body.
//   - Unknown paths and methods are 404 in the error envelope, after
//     authentication.
//
// The Service's own deviations show through the API too: entity refs are
// canonicalised ("user:foo" is stored as "user:default/foo"), and a scoped
// re-send of a broadcast answers with the stored id.
package rest
