package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/heraldhq/herald/signals/auth"
)

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{"s1": "external:ci", "s2": "bench-sender"},
		Users: map[string]auth.StaticUser{
			"u1": {Ref: "user:Jane", OwnershipRefs: []string{"group:Team-A", "user:default/Jane", "group:default/Team-A"}},
			"u2": {Ref: "user:default/joe"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		token string
		want  auth.Principal
	}{
		{"s1", auth.Principal{Kind: auth.PrincipalService, Subject: "external:ci"}},
		// The subject is the origin exactly as configured: no prefix added.
		{"s2", auth.Principal{Kind: auth.PrincipalService, Subject: "bench-sender"}},
		{"u1", auth.Principal{Kind: auth.PrincipalUser, User: "user:default/Jane", OwnershipRefs: []string{"user:default/Jane", "group:default/Team-A"}}},
		{"u2", auth.Principal{Kind: auth.PrincipalUser, User: "user:default/joe", OwnershipRefs: []string{"user:default/joe"}}},
	} {
		got, err := tokens.Authenticate(ctx, tc.token)
		if err != nil || got.Kind != tc.want.Kind || got.Subject != tc.want.Subject || got.User != tc.want.User ||
			!slices.Equal(got.OwnershipRefs, tc.want.OwnershipRefs) {
			t.Errorf("token %s: %+v, %v; want %+v", tc.token, got, err, tc.want)
		}
	}
	// The principal is a copy: changing it does not change the next one.
	p, _ := tokens.Authenticate(ctx, "u1")
	p.OwnershipRefs[0] = "changed"
	if q, _ := tokens.Authenticate(ctx, "u1"); q.OwnershipRefs[0] != "user:default/Jane" {
		t.Error("Authenticate shares its ownership refs")
	}
	for _, token := range []string{"", "s", "s1 ", "S1", "u1u1", "s3"} {
		if _, err := tokens.Authenticate(ctx, token); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("token %q: %v, want ErrUnauthenticated", token, err)
		}
	}
}

func TestNewStaticTokensValidates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]auth.StaticTokensConfig{
		"nothing":           {},
		"empty token":       {Services: map[string]string{"": "x"}},
		"empty subject":     {Services: map[string]string{"t": ""}},
		"space in token":    {Services: map[string]string{"a b": "x"}},
		"token twice":       {Services: map[string]string{"t": "x"}, Users: map[string]auth.StaticUser{"t": {Ref: "user:a"}}},
		"not a user":        {Users: map[string]auth.StaticUser{"t": {Ref: "group:a"}}},
		"no user ref":       {Users: map[string]auth.StaticUser{"t": {}}},
		"bad ownership ref": {Users: map[string]auth.StaticUser{"t": {Ref: "user:a", OwnershipRefs: []string{"group:"}}}},
		"control character": {Users: map[string]auth.StaticUser{"t\x00": {Ref: "user:a"}}},
	} {
		if _, err := auth.NewStaticTokens(cfg); err == nil {
			t.Errorf("%s: NewStaticTokens succeeded", name)
		}
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer abc":   "abc",
		"BEARER  abc ": "abc",
		"Bearer":       "",
		"Bearer  ":     "",
		"Basic abc":    "",
		"abc":          "",
		"":             "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		got, err := auth.BearerToken(r)
		if got != want || (want == "") != errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("BearerToken(%q) = %q, %v; want %q", header, got, err, want)
		}
	}
}

func TestAuthenticatorFunc(t *testing.T) {
	t.Parallel()
	var a auth.Authenticator = auth.AuthenticatorFunc(func(_ context.Context, token string) (auth.Principal, error) {
		if token != "ok" {
			return auth.Principal{}, auth.ErrUnauthenticated
		}
		return auth.Principal{Kind: auth.PrincipalUser, User: "user:default/jane"}, nil
	})
	if p, err := a.Authenticate(context.Background(), "ok"); err != nil || p.User != "user:default/jane" {
		t.Errorf("Authenticate(ok) = %+v, %v", p, err)
	}
	if _, err := a.Authenticate(context.Background(), "no"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(no) = %v, want ErrUnauthenticated", err)
	}
}
