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
//	POST /notifications/read-all   mark everything read (Herald)          user
//	GET  /status                   unread and read counts                 user
//	GET  /settings                 effective settings                     user
//	POST /settings                 replace settings                       user
//	GET  /topics                   distinct topics                        user
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
// Every route authenticates through Config.Authenticator, a hook returning
// a Principal. Sending requires a service principal, whose Subject becomes
// the notification's origin; every other route except the OpenAPI document
// requires a user principal, and reads and changes only that user's
// notifications and the broadcasts. StaticTokens is a ready Authenticator
// over configured bearer tokens.
//
// # Errors
//
// Errors use Backstage's envelope:
//
//	{"error":{"name":"InputError","message":"..."},
//	 "request":{"method":"GET","url":"/notifications?foo=bar"},
//	 "response":{"statusCode":400}}
//
// with InputError (400), AuthenticationError (401), NotAllowedError (403),
// NotFoundError (404), PayloadTooLargeError (413), ServiceUnavailableError
// (503, after the Service is closed) and Error (500: a fault, logged to
// Config.Logger; the response says only "Internal server error").
//
// # Beyond Backstage
//
// POST /notifications/read-all marks every unread notification read in
// one call, optionally narrowed by the list's filters and by "before". The
// list takes a cursor parameter and answers with nextCursor when a limited
// page was full: keyset pagination that stays stable while notifications
// arrive. Where Herald differs on purpose (checked order fields, 404 for
// malformed ids, a 255-character title limit, authorization before body
// validation), the OpenAPI document and the Handler's docs say so.
package rest
