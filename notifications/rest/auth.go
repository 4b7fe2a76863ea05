package rest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/signals/auth"
)

// authenticate identifies the caller of r from its bearer token through
// the Handler's Authenticator, and checks that the principal may use a
// route of access a: user routes need a user principal, sending and the
// delivery routes a service principal. An error wrapping
// auth.ErrUnauthenticated is answered 401 AuthenticationError and one
// wrapping auth.ErrForbidden (or a principal of the wrong kind) 403
// NotAllowedError, both in Backstage's envelope; any other error, or a
// principal the Authenticator should not have returned, is a fault (500,
// logged).
func (h *Handler) authenticate(r *http.Request, a access) (auth.Principal, error) {
	token, err := auth.BearerToken(r)
	if err != nil {
		return auth.Principal{}, err
	}
	p, err := h.auth.Authenticate(r.Context(), token)
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrForbidden) {
			return auth.Principal{}, err
		}
		return auth.Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	switch {
	case p.Kind != auth.PrincipalUser && p.Kind != auth.PrincipalService:
		return auth.Principal{}, fmt.Errorf("authenticator returned a principal of unknown kind %q", p.Kind)
	case a == userOnly && p.Kind != auth.PrincipalUser:
		return auth.Principal{}, notAllowed("This endpoint requires user credentials")
	case a == serviceOnly && p.Kind != auth.PrincipalService:
		return auth.Principal{}, notAllowed("This endpoint requires service credentials")
	case a == userOnly && p.User == "":
		return auth.Principal{}, errors.New("authenticator returned a user principal without User")
	}
	return p, nil
}
