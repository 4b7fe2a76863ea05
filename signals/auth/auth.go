// Package auth is the authentication seam Herald's HTTP endpoints share:
// the notifications REST API (package notifications/rest) and the signals
// WebSocket and Server-Sent Events endpoints (package signals/socket)
// accept the same Authenticator and get the same Principal from it, so a
// host wires its tokens once:
//
//	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{...})
//	api, err := rest.New(rest.Config{Service: svc, Authenticator: tokens})
//	sig, err := socket.New(socket.Config{Hub: hub, Authenticator: tokens})
//
// An Authenticator takes a bare token, because the endpoints receive it in
// different places: REST calls and event streams in an "Authorization:
// Bearer" header (BearerToken reads it), a browser's WebSocket as a
// sub-protocol, since browsers cannot set headers on a WebSocket.
//
// Each endpoint decides what a principal may do: REST sends need a service
// principal, inbox routes and signals connections a user principal; a
// principal of the wrong kind gets 403.
//
// The package sits under signals, the lowest layer that needs it: signals
// imports nothing of notifications, and both the socket endpoints and the
// REST API can import a leaf package below them.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Authentication errors. An Authenticator returns an error wrapping one of
// them to choose the response; any other error is taken as a failure to
// decide (an identity provider that cannot be reached) and answered 500,
// logged, with nothing leaked to the client.
var (
	// ErrUnauthenticated means no credentials, or credentials that are not
	// valid (malformed, expired, unknown): 401.
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrForbidden means valid credentials that may not use the endpoint
	// at all: 403.
	ErrForbidden = errors.New("auth: forbidden")
)

// PrincipalKind says what kind of caller a Principal is.
type PrincipalKind string

const (
	// PrincipalUser is a person: they read their own inbox over REST and
	// receive their signals over WebSocket or SSE.
	PrincipalUser PrincipalKind = "user"
	// PrincipalService is a backend service or plugin: only service
	// principals may send notifications, and they may not open a signals
	// connection.
	PrincipalService PrincipalKind = "service"
)

// Principal is an authenticated caller.
type Principal struct {
	// Kind is PrincipalUser or PrincipalService. Required.
	Kind PrincipalKind
	// User is a user principal's entity ref, like "user:default/jane":
	// the REST API reads and changes only this user's notifications (and
	// the broadcasts, with this user's state), and a signals connection
	// receives what is addressed to this user. Required for users.
	User string
	// OwnershipRefs are the refs a user owns, Backstage's
	// ownershipEntityRefs: usually their own ref and their groups'. A
	// signal addressed to any of them reaches the user's connections; User
	// always counts, listed or not. The REST API does not use them.
	// Defaults to none.
	OwnershipRefs []string
	// Subject identifies a service principal; it becomes the origin of
	// every notification the service sends, exactly as given (no prefix is
	// added). Required for services.
	Subject string
}

// Authenticator turns the token a caller presented into its Principal.
// Endpoints call it once per request or connection attempt (a WebSocket
// handshake that offers several sub-protocols calls it for each until one
// authenticates), with the request's context; it must be safe for
// concurrent use.
//
// Return an error wrapping ErrUnauthenticated for a token that is not
// valid (401), or ErrForbidden for one that is valid but may not use
// Herald at all (403). Any other error is a failure to decide (500).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (Principal, error)

var _ Authenticator = AuthenticatorFunc(nil)

// Authenticate calls f(ctx, token).
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (Principal, error) {
	return f(ctx, token)
}

// BearerToken returns the token of r's "Authorization: Bearer <token>"
// header (the scheme matched case-insensitively, white space around the
// token ignored), or an error wrapping ErrUnauthenticated when the header
// is missing or has another form.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", fmt.Errorf("%w: missing credentials", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", fmt.Errorf("%w: the Authorization header is not a bearer token", ErrUnauthenticated)
	}
	return token, nil
}
