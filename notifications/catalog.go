package notifications

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/entityref"
)

// Relation types the default resolver follows.
const (
	RelationHasMember = "hasMember" // group → user
	RelationParentOf  = "parentOf"  // group → child group
	RelationOwnedBy   = "ownedBy"   // any entity → its owner
)

// CatalogEntity is what the resolver and processors need of a catalog
// entity.
type CatalogEntity struct {
	// Ref is the entity's ref, like "group:default/team-a".
	Ref string `json:"ref"`
	// Relations are its outgoing relations.
	Relations []Relation `json:"relations,omitempty"`
	// Profile is a user's or group's profile (spec.profile).
	Profile Profile `json:"profile,omitzero"`
	// Annotations are metadata.annotations, like "slack.com/bot-notify".
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Relation is one outgoing relation of an entity.
type Relation struct {
	Type      string `json:"type"`
	TargetRef string `json:"targetRef"`
}

// Profile is a catalog entity's spec.profile.
type Profile struct {
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// Catalog looks up entities by ref; the default resolver uses it to expand
// groups and owners into users. Entities that do not exist are left out of
// the result, not an error. Implementations are safe for concurrent use.
type Catalog interface {
	GetEntitiesByRefs(ctx context.Context, refs []string) ([]CatalogEntity, error)
}

// UserCatalog is an optional Catalog ability: listing every user, which the
// email processor uses to mail a broadcast to everyone.
type UserCatalog interface {
	Users(ctx context.Context) ([]CatalogEntity, error)
}

// NewMemoryCatalog returns a Catalog over a fixed set of entities, for tests
// and small installations. Refs are matched canonically ("user:foo" finds
// "user:default/foo"); it also implements UserCatalog.
func NewMemoryCatalog(entities ...CatalogEntity) Catalog {
	c := &memoryCatalog{byRef: make(map[string]CatalogEntity, len(entities))}
	for _, e := range entities {
		key := canonicalOrSelf(e.Ref)
		if _, dup := c.byRef[key]; !dup {
			c.order = append(c.order, key)
		}
		c.byRef[key] = e
	}
	return c
}

type memoryCatalog struct {
	byRef map[string]CatalogEntity
	order []string
}

var (
	_ Catalog     = (*memoryCatalog)(nil)
	_ UserCatalog = (*memoryCatalog)(nil)
)

func (c *memoryCatalog) GetEntitiesByRefs(ctx context.Context, refs []string) ([]CatalogEntity, error) {
	out := make([]CatalogEntity, 0, len(refs))
	for _, ref := range refs {
		if e, ok := c.byRef[canonicalOrSelf(ref)]; ok {
			out = append(out, e)
		}
	}
	return out, ctx.Err()
}

func (c *memoryCatalog) Users(ctx context.Context) ([]CatalogEntity, error) {
	var out []CatalogEntity
	for _, key := range c.order {
		if strings.HasPrefix(key, "user:") {
			out = append(out, c.byRef[key])
		}
	}
	return out, ctx.Err()
}

func canonicalOrSelf(ref string) string {
	if c, err := entityref.Canonical(ref); err == nil {
		return c
	}
	return ref
}

// ResolveOptions is what a RecipientResolver resolves: the send's entity
// refs and the refs to leave out, both canonical.
type ResolveOptions struct {
	EntityRefs        []string
	ExcludeEntityRefs []string
}

// RecipientResolver turns entity refs into the user refs that receive a
// notification. Config.Resolver replaces the default catalog walk with one.
// Refs it returns that are not users, or do not parse, are dropped.
type RecipientResolver interface {
	ResolveRecipients(ctx context.Context, o ResolveOptions) ([]string, error)
}

// RecipientResolverFunc adapts a function to a RecipientResolver.
type RecipientResolverFunc func(ctx context.Context, o ResolveOptions) ([]string, error)

// ResolveRecipients calls f(ctx, o).
func (f RecipientResolverFunc) ResolveRecipients(ctx context.Context, o ResolveOptions) ([]string, error) {
	return f(ctx, o)
}

// catalogResolver is the default resolver: a breadth-first walk over the
// catalog, one GetEntitiesByRefs call per level, cycle-safe.
type catalogResolver struct {
	catalog Catalog // nil: only user refs can be resolved
}

func (r catalogResolver) ResolveRecipients(ctx context.Context, o ResolveOptions) ([]string, error) {
	excluded := make(map[string]bool, len(o.ExcludeEntityRefs))
	for _, ref := range o.ExcludeEntityRefs {
		excluded[ref] = true
	}
	seen := make(map[string]bool, len(o.EntityRefs))
	var users []string
	addUser := func(ref string) {
		if !excluded[ref] && !seen["="+ref] {
			seen["="+ref] = true // users are keyed apart so a user ref seen as a start ref is still added once
			users = append(users, ref)
		}
	}
	var level []string
	for _, ref := range o.EntityRefs {
		if !seen[ref] {
			seen[ref] = true
			level = append(level, ref)
		}
	}
	for len(level) > 0 {
		var fetch []string
		for _, ref := range level {
			parsed, err := entityref.Parse(ref)
			if err != nil {
				return nil, err
			}
			switch {
			case parsed.Kind == "":
				return nil, fmt.Errorf("%w: entity ref %q names no kind", errNoKind, ref)
			case parsed.IsUser():
				addUser(ref)
			case !excluded[ref]:
				fetch = append(fetch, ref)
			}
		}
		if len(fetch) == 0 {
			break
		}
		if r.catalog == nil {
			return nil, fmt.Errorf("entity ref %q is not a user: resolving groups and owners needs a Catalog in Config", fetch[0])
		}
		entities, err := r.catalog.GetEntitiesByRefs(ctx, fetch)
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		var next []string
		enqueue := func(target string) {
			canon, err := entityref.Canonical(target)
			if err != nil || seen[canon] {
				return
			}
			seen[canon] = true
			next = append(next, canon)
		}
		for _, e := range entities {
			ref, err := entityref.Parse(e.Ref)
			if err != nil || excluded[ref.String()] {
				continue
			}
			switch ref.Kind {
			case "user":
				addUser(ref.String())
			case "group":
				for _, rel := range e.Relations {
					switch rel.Type {
					case RelationHasMember:
						if target, err := entityref.Parse(rel.TargetRef); err == nil && target.IsUser() {
							addUser(target.String())
						}
					case RelationParentOf:
						enqueue(rel.TargetRef)
					}
				}
			default:
				if i := slices.IndexFunc(e.Relations, func(rel Relation) bool { return rel.Type == RelationOwnedBy }); i >= 0 {
					enqueue(e.Relations[i].TargetRef)
				}
			}
		}
		level = next
	}
	return users, nil
}

// errNoKind marks a ref the default resolver cannot place: without a kind
// it is neither a user nor something to look up.
var errNoKind = errors.New("cannot resolve an entity ref without a kind")
