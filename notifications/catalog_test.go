package notifications

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// countingCatalog records every lookup, to check the resolver's calls.
type countingCatalog struct {
	Catalog
	mu    sync.Mutex
	calls [][]string
}

func (c *countingCatalog) GetEntitiesByRefs(ctx context.Context, refs []string) ([]CatalogEntity, error) {
	c.mu.Lock()
	c.calls = append(c.calls, slices.Clone(refs))
	c.mu.Unlock()
	return c.Catalog.GetEntitiesByRefs(ctx, refs)
}

func member(ref string) Relation   { return Relation{Type: RelationHasMember, TargetRef: ref} }
func parentOf(ref string) Relation { return Relation{Type: RelationParentOf, TargetRef: ref} }
func ownedBy(ref string) Relation  { return Relation{Type: RelationOwnedBy, TargetRef: ref} }

func TestCatalogResolver(t *testing.T) {
	t.Parallel()
	entities := []CatalogEntity{
		{Ref: "group:default/parent_group", Relations: []Relation{member("user:default/foo"), parentOf("group:default/child_group")}},
		{Ref: "group:default/child_group", Relations: []Relation{member("user:default/bar"), member("user:default/ignored")}},
		{Ref: "component:default/owned-by-user", Relations: []Relation{ownedBy("user:default/foo")}},
		{Ref: "component:default/owned-by-group", Relations: []Relation{ownedBy("group:default/g"), ownedBy("user:default/second-owner")}},
		{Ref: "group:default/g", Relations: []Relation{member("user:default/foo"), member("user:default/baz")}},
		{Ref: "group:default/cycle-a", Relations: []Relation{member("user:default/a"), parentOf("group:default/cycle-b")}},
		{Ref: "group:default/cycle-b", Relations: []Relation{member("user:default/b"), parentOf("group:default/cycle-a")}},
		{Ref: "user:default/listed", Relations: nil},
		{Ref: "system:default/unowned"},
	}
	tests := []struct {
		name     string
		refs     []string
		excluded []string
		want     []string
		calls    int
	}{
		{"user refs need no catalog", []string{"user:default/foo", "user:default/ignored"}, []string{"user:default/ignored"}, []string{"user:default/foo"}, 0},
		{"sub-groups, exclusion", []string{"group:default/parent_group"}, []string{"user:default/ignored"}, []string{"user:default/foo", "user:default/bar"}, 2},
		{"owned by a user", []string{"component:default/owned-by-user"}, nil, []string{"user:default/foo"}, 1},
		{"owned by a group, first owner only", []string{"component:default/owned-by-group"}, nil, []string{"user:default/foo", "user:default/baz"}, 2},
		{"owned by a group, member excluded", []string{"component:default/owned-by-group"}, []string{"user:default/foo"}, []string{"user:default/baz"}, 2},
		{"cycle terminates", []string{"group:default/cycle-a"}, nil, []string{"user:default/a", "user:default/b"}, 2},
		{"excluded group is not expanded", []string{"group:default/g"}, []string{"group:default/g"}, nil, 0},
		{"excluded sub-group", []string{"group:default/parent_group"}, []string{"group:default/child_group"}, []string{"user:default/foo"}, 1},
		{"de-duplicated", []string{"group:default/g", "user:default/foo", "user:default/foo"}, nil, []string{"user:default/foo", "user:default/baz"}, 1},
		{"user entity looked up as entity", []string{"group:default/g", "component:default/owned-by-user"}, nil, []string{"user:default/foo", "user:default/baz"}, 1},
		{"missing entities ignored", []string{"group:default/nope", "system:default/unowned"}, nil, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cat := &countingCatalog{Catalog: NewMemoryCatalog(entities...)}
			got, err := catalogResolver{catalog: cat}.ResolveRecipients(context.Background(),
				ResolveOptions{EntityRefs: tt.refs, ExcludeEntityRefs: tt.excluded})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("resolved %v, want %v", got, tt.want)
			}
			if len(cat.calls) != tt.calls {
				t.Errorf("catalog called %d times (%v), want %d (one per level)", len(cat.calls), cat.calls, tt.calls)
			}
		})
	}
}

func TestCatalogResolverErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := catalogResolver{}.ResolveRecipients(ctx, ResolveOptions{EntityRefs: []string{"group:default/g"}})
	if err == nil || !strings.Contains(err.Error(), "needs a Catalog") {
		t.Errorf("group without a catalog: %v", err)
	}
	_, err = catalogResolver{catalog: NewMemoryCatalog()}.ResolveRecipients(ctx, ResolveOptions{EntityRefs: []string{"foo"}})
	if !errors.Is(err, errNoKind) {
		t.Errorf("kind-less ref: %v", err)
	}
	boom := errors.New("catalog down")
	failing := catalogFunc(func(context.Context, []string) ([]CatalogEntity, error) { return nil, boom })
	_, err = catalogResolver{catalog: failing}.ResolveRecipients(ctx, ResolveOptions{EntityRefs: []string{"group:default/g"}})
	if !errors.Is(err, boom) {
		t.Errorf("catalog failure: %v", err)
	}
}

type catalogFunc func(ctx context.Context, refs []string) ([]CatalogEntity, error)

func (f catalogFunc) GetEntitiesByRefs(ctx context.Context, refs []string) ([]CatalogEntity, error) {
	return f(ctx, refs)
}

func TestMemoryCatalogCanonicalLookup(t *testing.T) {
	t.Parallel()
	cat := NewMemoryCatalog(CatalogEntity{Ref: "user:default/jane", Profile: Profile{Email: "jane@example.com"}}, CatalogEntity{Ref: "group:default/g"})
	got, err := cat.GetEntitiesByRefs(context.Background(), []string{"user:jane", "User:Default/jane", "user:default/nobody"})
	if err != nil || len(got) != 2 || got[0].Profile.Email != "jane@example.com" {
		t.Fatalf("GetEntitiesByRefs = %v, %v", got, err)
	}
	users, err := cat.(UserCatalog).Users(context.Background())
	if err != nil || len(users) != 1 || users[0].Ref != "user:default/jane" {
		t.Fatalf("Users = %v, %v", users, err)
	}
}
