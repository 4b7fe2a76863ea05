package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/agent"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/store"
)

// tokenTransport presents a bearer token on every request.
type tokenTransport struct{ token string }

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return http.DefaultTransport.RoundTrip(r)
}

// connectAs opens an MCP session to endpoint with the SDK's client.
func connectAs(ctx context.Context, endpoint, token string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "my-agent", Version: "1.0.0"}, nil)
	return client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: tokenTransport{token}},
	}, nil)
}

// A service sends a notification through the MCP endpoint, and the user's
// agent reads it.
func Example() {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, ":memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	svc, err := notifications.New(notifications.Config{Store: st})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close(ctx)
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{"ci-secret": "external:ci"},
		Users:    map[string]auth.StaticUser{"jane-secret": {Ref: "user:default/jane"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tools, err := agent.New(agent.Config{Service: svc, Authenticator: tokens})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/api/notifications/mcp", tools)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	endpoint := srv.URL + "/api/notifications/mcp"

	ci, err := connectAs(ctx, endpoint, "ci-secret")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ci.Close()
	res, err := ci.CallTool(ctx, &mcp.CallToolParams{
		Name: agent.ToolSendNotification,
		Arguments: map[string]any{
			"recipients": map[string]any{"type": "entity", "entityRef": "user:default/jane"},
			"payload":    map[string]any{"title": "Deploy finished", "severity": "high", "link": "/deploys/42"},
		},
	})
	if err != nil || res.IsError {
		fmt.Println(err, res)
		return
	}

	jane, err := connectAs(ctx, endpoint, "jane-secret")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer jane.Close()
	res, err = jane.CallTool(ctx, &mcp.CallToolParams{
		Name:      agent.ToolGetNotifications,
		Arguments: map[string]any{"minimumSeverity": "high", "limit": 5},
	})
	if err != nil || res.IsError {
		fmt.Println(err, res)
		return
	}
	var inbox struct {
		Notifications []struct {
			Origin  string
			Payload struct{ Title, Severity string }
		}
		TotalCount int
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &inbox); err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range inbox.Notifications {
		fmt.Printf("%s: %s (%s)\n", n.Origin, n.Payload.Title, n.Payload.Severity)
	}
	fmt.Println("unread:", inbox.TotalCount)
	// Output:
	// external:ci: Deploy finished (high)
	// unread: 1
}
