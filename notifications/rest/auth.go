package rest

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/entityref"
)

// Authentication errors. An Authenticator returns an error wrapping one of
// them to choose the response; any other error is treated as a fault of
// the authenticator itself (500, logged).
var (
	// ErrUnauthenticated means the request carries no credentials or
	// credentials that are not valid: 401 AuthenticationError.
	ErrUnauthenticated = errors.New("rest: unauthenticated")
	// ErrForbidden means the credentials are valid but may not use this
	// API at all: 403 NotAllowedError.
	ErrForbidden = errors.New("rest: forbidden")
)

// PrincipalKind says what kind of caller a Principal is.
type PrincipalKind string

const (
	// PrincipalUser is a person reading their own inbox: the user routes
	// (list, get, status, update, read-all, settings, topics) accept only
	// user principals.
	PrincipalUser PrincipalKind = "user"
	// PrincipalService is a backend service or plugin: only service
	// principals may send notifications.
	PrincipalService PrincipalKind = "service"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	// Kind is PrincipalUser or PrincipalService. Required.
	Kind PrincipalKind
	// UserRef is a user principal's entity ref, like "user:default/jane":
	// every user route reads and changes only this user's notifications
	// (and the broadcasts, with this user's state). Required for users.
	UserRef string
	// OwnershipRefs are the refs a user owns: their own ref and their
	// groups (Backstage's ownershipEntityRefs). The REST API does not use
	// them; a signals endpoint sharing the Authenticator does. Defaults to
	// none.
	OwnershipRefs []string
	// Subject identifies a service principal; it becomes the origin of
	// every notification the service sends, exactly as given (no prefix is
	// added). Required for services.
	Subject string
}

// Authenticator identifies the caller of a request. Herald calls it once
// per request, before any other work; it must be safe for concurrent use.
//
// Return an error wrapping ErrUnauthenticated for missing or bad
// credentials (401) or ErrForbidden for a caller that may not use the API
// (403). Any other error is a fault (500, logged, nothing leaked to the
// client), for example an identity provider that cannot be reached.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(r *http.Request) (Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Principal, error) { return f(r) }

// StaticUser is one user a StaticTokens token signs in as.
type StaticUser struct {
	// Ref is the user's entity ref; it is canonicalised ("user:jane"
	// becomes "user:default/jane"). Required.
	Ref string
	// OwnershipRefs are refs the user owns besides Ref, typically their
	// groups, for signals addressed to a group. Defaults to none.
	OwnershipRefs []string
}

// StaticTokensConfig lists the tokens a StaticTokens accepts. Every token
// must be unique across both maps, non-empty and free of white space.
type StaticTokensConfig struct {
	// Services maps a token to the subject of the service that holds it,
	// like "external:ci"; the subject is the origin of what it sends.
	// Defaults to none.
	Services map[string]string
	// Users maps a token to the user it signs in as. Static user tokens
	// are meant for development and tests; production deployments
	// authenticate users with their identity provider through their own
	// Authenticator. Defaults to none.
	Users map[string]StaticUser
}

// StaticTokens is an Authenticator over a fixed set of bearer tokens, read
// from the "Authorization: Bearer <token>" header: Backstage's static
// external-access tokens. Tokens are compared in constant time against
// every configured token, so the response time does not reveal whether,
// or which, a prefix matched. It is safe for concurrent use.
type StaticTokens struct {
	entries []tokenEntry
}

var _ Authenticator = (*StaticTokens)(nil)

type tokenEntry struct {
	hash      [sha256.Size]byte
	principal Principal
}

// NewStaticTokens validates cfg and returns the authenticator. It is an
// error to configure no token at all, an empty token or subject, a user
// ref that is not a valid user entity ref, or the same token twice.
func NewStaticTokens(cfg StaticTokensConfig) (*StaticTokens, error) {
	s := &StaticTokens{}
	seen := map[string]bool{}
	check := func(token string) error {
		switch {
		case token == "":
			return errors.New("rest: static tokens: empty token")
		case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return errors.New("rest: static tokens: a token contains white space or a control character")
		case seen[token]:
			return errors.New("rest: static tokens: a token is configured twice")
		}
		seen[token] = true
		return nil
	}
	// Sorted so the scan order (and so nothing at all) depends on map order.
	for _, token := range sortedKeys(cfg.Services) {
		if err := check(token); err != nil {
			return nil, err
		}
		subject := cfg.Services[token]
		if subject == "" {
			return nil, errors.New("rest: static tokens: a service token has an empty subject")
		}
		s.entries = append(s.entries, tokenEntry{
			hash:      sha256.Sum256([]byte(token)),
			principal: Principal{Kind: PrincipalService, Subject: subject},
		})
	}
	for _, token := range sortedKeys(cfg.Users) {
		if err := check(token); err != nil {
			return nil, err
		}
		u := cfg.Users[token]
		ref, err := entityref.Parse(u.Ref)
		if err != nil || !ref.IsUser() {
			return nil, fmt.Errorf("rest: static tokens: %q is not a user entity ref", u.Ref)
		}
		owned := []string{ref.String()}
		for _, o := range u.OwnershipRefs {
			c, err := entityref.Canonical(o)
			if err != nil {
				return nil, fmt.Errorf("rest: static tokens: ownership ref %q of %s: %w", o, ref, err)
			}
			if !slices.Contains(owned, c) {
				owned = append(owned, c)
			}
		}
		s.entries = append(s.entries, tokenEntry{
			hash:      sha256.Sum256([]byte(token)),
			principal: Principal{Kind: PrincipalUser, UserRef: ref.String(), OwnershipRefs: owned},
		})
	}
	if len(s.entries) == 0 {
		return nil, errors.New("rest: static tokens: no tokens configured")
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Authenticate reads the bearer token of r and returns its principal, or an
// error wrapping ErrUnauthenticated.
func (s *StaticTokens) Authenticate(r *http.Request) (Principal, error) {
	token, err := BearerToken(r)
	if err != nil {
		return Principal{}, err
	}
	return s.AuthenticateToken(token)
}

// AuthenticateToken returns the principal of token, or an error wrapping
// ErrUnauthenticated. It is for endpoints that carry the token elsewhere
// than in the Authorization header, such as a WebSocket sub-protocol.
//
// The token is hashed and compared with every configured token's hash in
// constant time; the loop never exits early.
func (s *StaticTokens) AuthenticateToken(token string) (Principal, error) {
	h := sha256.Sum256([]byte(token))
	found, index := 0, 0
	for i := range s.entries {
		eq := subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:])
		index = subtle.ConstantTimeSelect(eq, i, index)
		found |= eq
	}
	if found != 1 {
		return Principal{}, fmt.Errorf("%w: invalid token", ErrUnauthenticated)
	}
	p := s.entries[index].principal
	p.OwnershipRefs = slices.Clone(p.OwnershipRefs)
	return p, nil
}

// BearerToken returns the token of r's "Authorization: Bearer <token>"
// header (the scheme is matched case-insensitively), or an error wrapping
// ErrUnauthenticated when the header is missing or has another form.
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
