package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/entityref"
)

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
// must be unique across both maps, non-empty and free of white space and
// control characters.
type StaticTokensConfig struct {
	// Services maps a token to the subject of the service that holds it,
	// like "external:ci"; the subject is the origin of what it sends.
	// Defaults to none.
	Services map[string]string
	// Users maps a token to the user it signs in as. Static user tokens
	// are meant for development and tests; production deployments
	// authenticate users with their identity provider through an
	// Authenticator of their own. Defaults to none.
	Users map[string]StaticUser
}

// StaticTokens is an Authenticator over a fixed set of tokens: Backstage's
// static external-access tokens. Tokens are compared in constant time
// against every configured token, so the response time does not reveal
// whether, or which, a prefix matched. It is safe for concurrent use.
type StaticTokens struct {
	entries []tokenEntry
}

var _ Authenticator = (*StaticTokens)(nil)

type tokenEntry struct {
	hash      [sha256.Size]byte
	principal Principal
}

// NewStaticTokens validates cfg and returns the authenticator. It is an
// error to configure no token at all, an empty token or subject, a token
// with white space or a control character, a user ref that is not a valid
// user entity ref, an ownership ref that is not a valid entity ref, or the
// same token twice. User and ownership refs are canonicalised; the user's
// own ref is the first of its OwnershipRefs.
func NewStaticTokens(cfg StaticTokensConfig) (*StaticTokens, error) {
	s := &StaticTokens{}
	seen := map[string]bool{}
	check := func(token string) error {
		switch {
		case token == "":
			return errors.New("auth: static tokens: empty token")
		case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return errors.New("auth: static tokens: a token contains white space or a control character")
		case seen[token]:
			return errors.New("auth: static tokens: a token is configured twice")
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
			return nil, errors.New("auth: static tokens: a service token has an empty subject")
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
			return nil, fmt.Errorf("auth: static tokens: %q is not a user entity ref", u.Ref)
		}
		owned := []string{ref.String()}
		for _, o := range u.OwnershipRefs {
			c, err := entityref.Canonical(o)
			if err != nil {
				return nil, fmt.Errorf("auth: static tokens: ownership ref %q of %s: %w", o, ref, err)
			}
			if !slices.Contains(owned, c) {
				owned = append(owned, c)
			}
		}
		s.entries = append(s.entries, tokenEntry{
			hash:      sha256.Sum256([]byte(token)),
			principal: Principal{Kind: PrincipalUser, User: ref.String(), OwnershipRefs: owned},
		})
	}
	if len(s.entries) == 0 {
		return nil, errors.New("auth: static tokens: no tokens configured")
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

// Authenticate returns the principal of token, or an error wrapping
// ErrUnauthenticated. The principal is a copy: the caller may change it.
//
// The token is hashed and compared with every configured token's hash in
// constant time; the loop never exits early.
func (s *StaticTokens) Authenticate(_ context.Context, token string) (Principal, error) {
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
