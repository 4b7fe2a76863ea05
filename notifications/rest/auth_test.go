package rest_test

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/heraldhq/herald/notifications/rest"
)

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	tokens, err := rest.NewStaticTokens(rest.StaticTokensConfig{
		Services: map[string]string{"s1": "external:ci", "s2": "bench-sender"},
		Users: map[string]rest.StaticUser{
			"u1": {Ref: "user:Jane", OwnershipRefs: []string{"group:Team-A", "user:default/Jane", "group:default/Team-A"}},
			"u2": {Ref: "user:default/joe"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  rest.Principal
	}{
		{"s1", rest.Principal{Kind: rest.PrincipalService, Subject: "external:ci"}},
		// The subject is the origin exactly as configured: no prefix added.
		{"s2", rest.Principal{Kind: rest.PrincipalService, Subject: "bench-sender"}},
		{"u1", rest.Principal{Kind: rest.PrincipalUser, UserRef: "user:default/Jane", OwnershipRefs: []string{"user:default/Jane", "group:default/Team-A"}}},
		{"u2", rest.Principal{Kind: rest.PrincipalUser, UserRef: "user:default/joe", OwnershipRefs: []string{"user:default/joe"}}},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tc.token)
		got, err := tokens.Authenticate(r)
		if err != nil || got.Kind != tc.want.Kind || got.Subject != tc.want.Subject || got.UserRef != tc.want.UserRef ||
			!slices.Equal(got.OwnershipRefs, tc.want.OwnershipRefs) {
			t.Errorf("token %s: %+v, %v; want %+v", tc.token, got, err, tc.want)
		}
	}
	// The principal is a copy: changing it does not change the next one.
	p, _ := tokens.AuthenticateToken("u1")
	p.OwnershipRefs[0] = "changed"
	if q, _ := tokens.AuthenticateToken("u1"); q.OwnershipRefs[0] != "user:default/Jane" {
		t.Error("AuthenticateToken shares its ownership refs")
	}
	for _, token := range []string{"", "s", "s1 ", "S1", "u1u1", "s3"} {
		if _, err := tokens.AuthenticateToken(token); !errors.Is(err, rest.ErrUnauthenticated) {
			t.Errorf("token %q: %v, want ErrUnauthenticated", token, err)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	if _, err := tokens.Authenticate(r); !errors.Is(err, rest.ErrUnauthenticated) {
		t.Errorf("no header: %v, want ErrUnauthenticated", err)
	}
}

func TestNewStaticTokensValidates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]rest.StaticTokensConfig{
		"nothing":           {},
		"empty token":       {Services: map[string]string{"": "x"}},
		"empty subject":     {Services: map[string]string{"t": ""}},
		"space in token":    {Services: map[string]string{"a b": "x"}},
		"token twice":       {Services: map[string]string{"t": "x"}, Users: map[string]rest.StaticUser{"t": {Ref: "user:a"}}},
		"not a user":        {Users: map[string]rest.StaticUser{"t": {Ref: "group:a"}}},
		"no user ref":       {Users: map[string]rest.StaticUser{"t": {}}},
		"bad ownership ref": {Users: map[string]rest.StaticUser{"t": {Ref: "user:a", OwnershipRefs: []string{"group:"}}}},
		"control character": {Users: map[string]rest.StaticUser{"t\x00": {Ref: "user:a"}}},
	} {
		if _, err := rest.NewStaticTokens(cfg); err == nil {
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
		"Basic abc":    "",
		"abc":          "",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", header)
		got, err := rest.BearerToken(r)
		if got != want || (want == "") != errors.Is(err, rest.ErrUnauthenticated) {
			t.Errorf("BearerToken(%q) = %q, %v; want %q", header, got, err, want)
		}
	}
}
