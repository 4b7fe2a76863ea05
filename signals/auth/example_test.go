package auth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/heraldhq/herald/signals/auth"
)

// One StaticTokens authenticates every endpoint: REST calls with their
// bearer header, WebSockets with the token they offer as a sub-protocol.
func ExampleStaticTokens() {
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{"s3cret": "external:ci"},
		Users:    map[string]auth.StaticUser{"u1": {Ref: "user:alice", OwnershipRefs: []string{"group:team"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	r := httptest.NewRequest(http.MethodGet, "/api/notifications/status", nil)
	r.Header.Set("Authorization", "Bearer u1")
	token, _ := auth.BearerToken(r)
	p, _ := tokens.Authenticate(ctx, token)
	fmt.Println(p.Kind, p.User, p.OwnershipRefs)

	p, _ = tokens.Authenticate(ctx, "s3cret")
	fmt.Println(p.Kind, p.Subject)

	_, err = tokens.Authenticate(ctx, "guess")
	fmt.Println(err)
	// Output:
	// user user:default/alice [user:default/alice group:default/team]
	// service external:ci
	// auth: unauthenticated: invalid token
}
