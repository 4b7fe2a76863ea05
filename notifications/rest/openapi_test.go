package rest

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// unusedStore satisfies notifications.Store for a Service that is never
// called.
type unusedStore struct{ notifications.Store }

// openAPIDoc is the part of the document the coverage tests read.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Parameters map[string]openAPIParam `json:"parameters"`
		Schemas    map[string]any          `json:"schemas"`
		Responses  map[string]any          `json:"responses"`
	} `json:"components"`
}

type openAPIParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type openAPIOp struct {
	Parameters  []openAPIParam `json:"parameters"`
	RequestBody json.RawMessage
	Security    []map[string][]string `json:"security"`
}

func loadDoc(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

// docPath turns a ServeMux pattern into its OpenAPI method and path.
func docPath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	return strings.ToLower(method), strings.TrimSuffix(path, "{$}")
}

// TestOpenAPICoversRoutes checks that the document and the mux agree:
// every route the mux serves is documented, every documented operation is
// served by that route (asked of the mux itself), and each operation lists
// exactly the query parameters the route accepts.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	// The Handler's own mux; the Service is never called.
	// No workers: the scheduler would claim at once.
	svc, err := notifications.New(notifications.Config{Store: unusedStore{}, DeliveryWorkers: -1})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Service: svc, Authenticator: auth.AuthenticatorFunc(func(context.Context, string) (auth.Principal, error) {
		return auth.Principal{}, auth.ErrUnauthenticated
	})})
	if err != nil {
		t.Fatal(err)
	}
	mux := h.mux

	served := map[string]route{}
	for _, rt := range routes {
		m, p := docPath(rt.pattern)
		served[m+" "+p] = rt
	}
	documented := map[string]openAPIOp{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op openAPIOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			documented[method+" "+path] = op
		}
	}
	for key := range served {
		if _, ok := documented[key]; !ok {
			t.Errorf("route %s is served but not documented", key)
		}
	}
	for key, op := range documented {
		rt, ok := served[key]
		if !ok {
			t.Errorf("operation %s is documented but not served", key)
			continue
		}
		// The mux itself routes the documented path to that pattern.
		method, path, _ := strings.Cut(key, " ")
		req := httptest.NewRequest(strings.ToUpper(method), strings.ReplaceAll(path, "{id}", "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11"), nil)
		// (Besides the routes, the mux holds only "/", the 404 catch-all.)
		if _, pattern := mux.Handler(req); pattern != rt.pattern {
			t.Errorf("%s reaches pattern %q, want %q", key, pattern, rt.pattern)
		}
		// Query parameters: exactly the accepted ones.
		var query []string
		var pathParams []string
		for _, p := range op.Parameters {
			if p.Ref != "" {
				name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
				resolved, ok := doc.Components.Parameters[name]
				if !ok {
					t.Errorf("%s: dangling parameter %s", key, p.Ref)
					continue
				}
				p = resolved
			}
			switch p.In {
			case "query":
				query = append(query, p.Name)
			case "path":
				pathParams = append(pathParams, p.Name)
			}
		}
		want := slices.Clone(rt.params)
		sort.Strings(query)
		sort.Strings(want)
		if !slices.Equal(query, want) {
			t.Errorf("%s documents query parameters %v, the route accepts %v", key, query, want)
		}
		if strings.Contains(path, "{id}") != slices.Contains(pathParams, "id") {
			t.Errorf("%s: path parameter id documented %v", key, pathParams)
		}
		// Security says who may call it.
		var schemes []string
		for _, s := range op.Security {
			for name := range s {
				schemes = append(schemes, name)
			}
		}
		sort.Strings(schemes)
		wantSchemes := map[access][]string{anyPrincipal: {"serviceToken", "userToken"}, userOnly: {"userToken"}, serviceOnly: {"serviceToken"}}[rt.access]
		if !slices.Equal(schemes, wantSchemes) {
			t.Errorf("%s: security %v, want %v", key, schemes, wantSchemes)
		}
	}
}

// TestOpenAPIRefsResolve checks that every $ref in the document points at
// a component that exists.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	var all any
	if err := json.Unmarshal(openAPIDocument, &all); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					parts := strings.Split(strings.TrimPrefix(s, "#/components/"), "/")
					var found bool
					if len(parts) == 2 {
						switch parts[0] {
						case "schemas":
							_, found = doc.Components.Schemas[parts[1]]
						case "parameters":
							_, found = doc.Components.Parameters[parts[1]]
						case "responses":
							_, found = doc.Components.Responses[parts[1]]
						}
					}
					if !found {
						t.Errorf("dangling $ref %s", s)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(all)
}

// TestOpenAPILimits checks that the document states the limits the
// Handler enforces: the search length, and a 503 on every operation that
// reaches the store.
func TestOpenAPILimits(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths      map[string]map[string]struct{ Responses map[string]any } `json:"paths"`
		Components struct {
			Parameters map[string]struct {
				Schema struct{ MaxLength int } `json:"schema"`
			} `json:"parameters"`
			Schemas struct {
				ReadAllRequest struct {
					Properties struct {
						Search struct{ MaxLength int } `json:"search"`
					} `json:"properties"`
				} `json:"ReadAllRequest"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Parameters["search"].Schema.MaxLength; got != notifications.MaxSearchLength {
		t.Errorf("search parameter maxLength %d, want %d", got, notifications.MaxSearchLength)
	}
	if got := doc.Components.Schemas.ReadAllRequest.Properties.Search.MaxLength; got != notifications.MaxSearchLength {
		t.Errorf("read-all search maxLength %d, want %d", got, notifications.MaxSearchLength)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if _, ok := op.Responses["503"]; !ok && path != "/openapi.json" {
				t.Errorf("%s %s does not document its 503", method, path)
			}
		}
	}
}
