package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// DefaultMaxBodyBytes is the default limit on request bodies: 100 KiB, the
// REST API's, which holds the largest send (64 KiB of metadata) with room
// for the JSON-RPC envelope.
const DefaultMaxBodyBytes = 100 << 10

// Config configures a Handler.
type Config struct {
	// Service is the notifications service the tools use. Required.
	Service *notifications.Service
	// Authenticator identifies the caller of every request from its
	// bearer token; give it the one the REST API uses
	// (rest.Config.Authenticator). Required.
	Authenticator auth.Authenticator
	// MaxBodyBytes bounds request bodies; a larger one is answered 413.
	// Defaults to DefaultMaxBodyBytes (100 KiB).
	MaxBodyBytes int64
	// Logger receives failures the caller is not told the details of:
	// an Authenticator that cannot decide, a store error, a recovered
	// panic. Defaults to slog.Default().
	Logger *slog.Logger
}

// Handler is the MCP endpoint: streamable HTTP, stateless, answering
// JSON (not event streams). It serves any path; mount it where clients
// will find it, like "/api/notifications/mcp". A request without a valid
// bearer token is answered 401 with "WWW-Authenticate: Bearer", one the
// Authenticator forbids 403, before any MCP message is read.
//
// A Handler is safe for concurrent use.
type Handler struct {
	svc  *notifications.Service
	auth auth.Authenticator
	log  *slog.Logger
	// One MCP server per principal kind, each with only the tools that
	// kind may call, so that tools/list tells an agent what it can do.
	user, service *mcp.Server
	mcp           http.Handler
}

var _ http.Handler = (*Handler)(nil)

// New validates cfg and returns the Handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Service == nil:
		return nil, errors.New("agent: Config.Service is required")
	case cfg.Authenticator == nil:
		return nil, errors.New("agent: Config.Authenticator is required")
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("agent: Config.MaxBodyBytes is %d, must be >= 0", cfg.MaxBodyBytes)
	}
	h := &Handler{svc: cfg.Service, auth: cfg.Authenticator, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	impl := &mcp.Implementation{Name: "herald-notifications", Title: "Herald notifications", Version: "1"}
	h.user = mcp.NewServer(impl, &mcp.ServerOptions{Instructions: userInstructions})
	h.addUserTools(h.user)
	h.service = mcp.NewServer(impl, &mcp.ServerOptions{Instructions: serviceInstructions})
	h.addServiceTools(h.service)

	streamable := mcp.NewStreamableHTTPHandler(h.serverFor, &mcp.StreamableHTTPOptions{
		Stateless:           true,
		JSONResponse:        true,
		MaxRequestBodyBytes: maxBody,
		Logger:              h.log,
		// The SDK refuses a request that reached a loopback address with
		// another Host, against DNS rebinding: a web page that rebinds
		// its name to 127.0.0.1 to drive an unauthenticated local server.
		// Every request here needs a bearer token such a page does not
		// have, and the check would refuse every request a reverse proxy
		// on the same machine forwards (Host: herald.example.com).
		DisableLocalhostProtection: true,
	})
	// ServeHTTP has authenticated the request; this hands the principal
	// to the tools through the SDK's per-request TokenInfo, which every
	// tool call carries (CallToolRequest.Extra.TokenInfo).
	h.mcp = mcpauth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*mcpauth.TokenInfo, error) {
		p, ok := ctx.Value(principalKey{}).(auth.Principal)
		if !ok {
			return nil, mcpauth.ErrInvalidToken
		}
		return &mcpauth.TokenInfo{UserID: principalID(p), Extra: map[string]any{tokenInfoPrincipal: p}}, nil
	}, &mcpauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(streamable)
	return h, nil
}

const (
	userInstructions = "Herald notifications, as the user of your token sees them. " +
		"get-notifications reads the inbox (unread ones by default) with filters and paging; " +
		"mark-notifications-read marks notifications read by id, or all unread ones at once."
	serviceInstructions = "Herald notifications, for a service. " +
		"send-notification sends a notification to users, groups or owners of catalog entities, or to everyone (broadcast). " +
		"A service cannot read inboxes."
)

// principalKey carries the authenticated principal from ServeHTTP to the
// SDK's token middleware; tokenInfoPrincipal is its key in TokenInfo.Extra.
type principalKey struct{}

const tokenInfoPrincipal = "herald.principal"

// principalID names a principal uniquely across kinds.
func principalID(p auth.Principal) string {
	if p.Kind == auth.PrincipalUser {
		return "user " + p.User
	}
	return "service " + p.Subject
}

// ServeHTTP authenticates the request and serves it as that principal.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := h.authenticate(r)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "Unauthorized: a valid bearer token is required", http.StatusUnauthorized)
		return
	case errors.Is(err, auth.ErrForbidden):
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "notifications MCP: authentication failed", "error", err)
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	h.mcp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
}

// authenticate returns the principal of r's bearer token, refusing
// principals the Authenticator should not have returned.
func (h *Handler) authenticate(r *http.Request) (auth.Principal, error) {
	token, err := auth.BearerToken(r)
	if err != nil {
		return auth.Principal{}, err
	}
	p, err := h.auth.Authenticate(r.Context(), token)
	switch {
	case err != nil:
		return auth.Principal{}, err
	case p.Kind == auth.PrincipalUser && p.User == "":
		return auth.Principal{}, errors.New("authenticator returned a user principal without User")
	case p.Kind == auth.PrincipalService && p.Subject == "":
		return auth.Principal{}, errors.New("authenticator returned a service principal without Subject")
	case p.Kind != auth.PrincipalUser && p.Kind != auth.PrincipalService:
		return auth.Principal{}, fmt.Errorf("authenticator returned a principal of unknown kind %q", p.Kind)
	}
	return p, nil
}

// serverFor picks the MCP server of the request's principal.
func (h *Handler) serverFor(r *http.Request) *mcp.Server {
	p, _ := r.Context().Value(principalKey{}).(auth.Principal)
	switch p.Kind {
	case auth.PrincipalUser:
		return h.user
	case auth.PrincipalService:
		return h.service
	}
	return nil // not reached: ServeHTTP authenticated the request
}

// principal returns the principal a tool call was made with.
func principal(req *mcp.CallToolRequest) (auth.Principal, bool) {
	if req.Extra == nil || req.Extra.TokenInfo == nil {
		return auth.Principal{}, false
	}
	p, ok := req.Extra.TokenInfo.Extra[tokenInfoPrincipal].(auth.Principal)
	return p, ok
}
