package email

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/entityref"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/internal/ttlcache"
)

// errNoUserList is returned by catalogLookup.AllAddresses when its catalog
// cannot list users (it does not implement notifications.UserCatalog).
var errNoUserList = errors.New("email: catalog cannot list users")

// Lookup resolves a user to email addresses, for a host whose addresses
// live somewhere other than the catalog (Config.Lookup). userRef is the
// notification's user, a canonical ref like "user:default/jane".
// Implementations are safe for concurrent use; a user without an address
// is no addresses and a nil error; an error fails that user's email.
type Lookup interface {
	Addresses(ctx context.Context, userRef string) ([]string, error)
}

// AllLookup is an optional Lookup ability, required by ReceiverUsers:
// every address of every user, for broadcasts. New refuses ReceiverUsers
// with a Lookup that lacks it.
type AllLookup interface {
	AllAddresses(ctx context.Context) ([]string, error)
}

// catalogLookup is the default Lookup: a user's spec.profile.email in the
// catalog, cached. Absent users and users without an address are cached
// too, so a notification storm does not become a catalog storm; errors are
// not cached.
type catalogLookup struct {
	catalog notifications.Catalog
	users   *ttlcache.Cache[string, []string]
	all     *ttlcache.Cache[struct{}, []string]
}

var (
	_ Lookup    = (*catalogLookup)(nil)
	_ AllLookup = (*catalogLookup)(nil)
)

// newCatalogLookup returns a lookup over c keeping results for ttl (zero
// or less: no caching). AllAddresses works when c implements
// notifications.UserCatalog.
func newCatalogLookup(c notifications.Catalog, ttl time.Duration) *catalogLookup {
	return &catalogLookup{
		catalog: c,
		users:   ttlcache.New[string, []string](ttl, nil),
		all:     ttlcache.New[struct{}, []string](ttl, nil),
	}
}

// Addresses returns the user's profile email, or none. userRef is
// compared canonically, so "user:jane" and "user:default/jane" share one
// cache entry.
func (l *catalogLookup) Addresses(ctx context.Context, userRef string) ([]string, error) {
	key := userRef
	if c, err := entityref.Canonical(userRef); err == nil {
		key = c
	}
	if addrs, ok := l.users.Get(key); ok {
		return addrs, nil
	}
	entities, err := l.catalog.GetEntitiesByRefs(ctx, []string{key})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	var addrs []string
	for _, e := range entities {
		if email := strings.TrimSpace(e.Profile.Email); email != "" {
			addrs = append(addrs, email)
			break
		}
	}
	l.users.Set(key, addrs)
	return addrs, nil
}

// AllAddresses returns the profile email of every catalog user that has
// one, without duplicates (compared case-insensitively), cached under one
// entry.
func (l *catalogLookup) AllAddresses(ctx context.Context) ([]string, error) {
	uc, ok := l.catalog.(notifications.UserCatalog)
	if !ok {
		return nil, errNoUserList
	}
	if addrs, ok := l.all.Get(struct{}{}); ok {
		return addrs, nil
	}
	users, err := uc.Users(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog users: %w", err)
	}
	seen := make(map[string]bool, len(users))
	var addrs []string
	for _, u := range users {
		email := strings.TrimSpace(u.Profile.Email)
		if email == "" || seen[strings.ToLower(email)] {
			continue
		}
		seen[strings.ToLower(email)] = true
		addrs = append(addrs, email)
	}
	l.all.Set(struct{}{}, addrs)
	return addrs, nil
}
