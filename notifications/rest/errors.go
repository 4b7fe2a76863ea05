package rest

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// Backstage error names, each with its status code.
const (
	nameInput           = "InputError"               // 400
	nameAuthentication  = "AuthenticationError"      // 401
	nameNotAllowed      = "NotAllowedError"          // 403
	nameNotFound        = "NotFoundError"            // 404
	nameConflict        = "ConflictError"            // 409
	namePayloadTooLarge = "PayloadTooLargeError"     // 413
	nameUnprocessable   = "UnprocessableEntityError" // 422 (Herald: an idempotency key reused for another request)
	nameUnavailable     = "ServiceUnavailableError"
	nameInternal        = "Error" // 500
)

// httpError is an error with the status and Backstage name it is answered
// with. Its message is shown to the client, so it never holds internals.
type httpError struct {
	status  int
	name    string
	message string
}

func (e *httpError) Error() string { return e.message }

func inputError(msg string) *httpError {
	return &httpError{status: http.StatusBadRequest, name: nameInput, message: msg}
}

var (
	errNotFound    = &httpError{status: http.StatusNotFound, name: nameNotFound, message: "Not found"}
	errTooLarge    = &httpError{status: http.StatusRequestEntityTooLarge, name: namePayloadTooLarge, message: "request entity too large"}
	errInternal    = &httpError{status: http.StatusInternalServerError, name: nameInternal, message: "Internal server error"}
	errClosed      = &httpError{status: http.StatusServiceUnavailable, name: nameUnavailable, message: "The notifications service is shutting down"}
	errUnavailable = &httpError{status: http.StatusServiceUnavailable, name: nameUnavailable, message: "The notifications store is unavailable; retry later"}
	errKeyConflict = &httpError{status: http.StatusUnprocessableEntity, name: nameUnprocessable,
		message: "The Idempotency-Key was already used for a different request"}
	// errInvalid answers bad input that no validation named: the cause is
	// logged, the client learns only that the request was refused.
	errInvalid = inputError("Invalid request")
)

// retryAfter is the Retry-After of every 503, in seconds: a store that
// lost its connection is usually back by then, and a closing instance's
// load balancer has moved on.
const retryAfter = "1"

func notAllowed(msg string) *httpError {
	return &httpError{status: http.StatusForbidden, name: nameNotAllowed, message: msg}
}

// errorEnvelope is Backstage's error response body.
type errorEnvelope struct {
	Error struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"error"`
	Request struct {
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`
	Response struct {
		StatusCode int `json:"statusCode"`
	} `json:"response"`
}

// writeError answers r with err in Backstage's envelope. Errors that are
// not an *httpError or a known notifications error are faults: logged
// with the route, answered 500 without details. The envelope's
// request.url is the path alone: the query string is left out, so a
// secret put there (?token=...) is never echoed.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	he := h.classify(r, err)
	var env errorEnvelope
	env.Error.Name, env.Error.Message = he.name, he.message
	env.Request.Method, env.Request.URL = r.Method, r.URL.EscapedPath()
	env.Response.StatusCode = he.status
	switch he.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, he.status, env)
}

func (h *Handler) classify(r *http.Request, err error) *httpError {
	var he *httpError
	var verr *notifications.ValidationError
	var rerr *notifications.ResolveError
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, auth.ErrUnauthenticated):
		msg := "Invalid credentials"
		if r.Header.Get("Authorization") == "" {
			msg = "Missing credentials"
		}
		return &httpError{status: http.StatusUnauthorized, name: nameAuthentication, message: msg}
	case errors.Is(err, auth.ErrForbidden):
		return notAllowed("These credentials may not use the notifications API")
	case errors.Is(err, notifications.ErrNotFound):
		return errNotFound
	case errors.Is(err, notifications.ErrIdempotencyConflict):
		return errKeyConflict
	case errors.As(err, &rerr) && errors.Is(err, notifications.ErrInvalid):
		cause := rerr.Err.Error()
		if errors.As(rerr.Err, &verr) {
			cause = fieldMessages(verr)
		}
		return inputError("Failed to send user notifications; caused by Error: " + cause)
	case errors.As(err, &verr):
		return inputError(validationMessage("Invalid request", verr))
	case errors.Is(err, notifications.ErrInvalid):
		// Bad input that passed every validation and was refused further
		// down: its text is a chain of layers, not a message for a client.
		h.log.WarnContext(r.Context(), "notifications API: invalid input refused below validation",
			"method", r.Method, "path", r.URL.Path, "error", err)
		return errInvalid
	case errors.Is(err, notifications.ErrClosed):
		return errClosed
	case errors.Is(err, notifications.ErrUnavailable):
		h.log.WarnContext(r.Context(), "notifications API: store unavailable",
			"method", r.Method, "path", r.URL.Path, "error", err)
		return errUnavailable
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer and it is no fault.
		h.log.InfoContext(r.Context(), "request canceled by the client", "method", r.Method, "path", r.URL.Path)
		return errInternal
	}
	h.log.ErrorContext(r.Context(), "notifications API: internal error",
		"method", r.Method, "path", r.URL.Path, "error", err)
	return errInternal
}

// validationMessage words a *ValidationError the way Backstage words the
// same failure where it has one: a bad link, an invalid settings channel;
// otherwise it lists every bad field.
func validationMessage(prefix string, verr *notifications.ValidationError) string {
	for _, f := range verr.Fields {
		switch {
		case f.Field == "payload.link":
			cause := "Error: Only HTTP/HTTPS links are allowed"
			switch {
			case strings.Contains(f.Message, "Invalid URL"):
				cause = "TypeError: Invalid URL"
			case !strings.Contains(f.Message, "Only HTTP/HTTPS"):
				// A rule Backstage does not have (protocol-relative
				// links): say which.
				cause = "Error: " + strings.TrimPrefix(f.Message, "Invalid link provided; ")
			}
			return "Invalid link provided; caused by " + cause
		case strings.HasPrefix(f.Message, "Invalid channel"):
			return f.Message
		}
	}
	return prefix + ": " + fieldMessages(verr)
}

// fieldMessages lists every bad field of verr: "payload.title: is
// required; payload.link: ...".
func fieldMessages(verr *notifications.ValidationError) string {
	var b strings.Builder
	for i, f := range verr.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}
