package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// DefaultMaxBodyBytes is the default limit on request bodies: 100 KiB, the
// limit of Backstage's JSON body parser.
const DefaultMaxBodyBytes = 100 << 10

// Config configures a Handler.
type Config struct {
	// Service is the notifications service the API serves. Required.
	Service *notifications.Service
	// Authenticator identifies the caller of every request from its
	// bearer token; see auth.StaticTokens for a ready one. Give the
	// signals endpoints (socket.Config.Authenticator) the same one.
	// Required.
	Authenticator auth.Authenticator
	// MaxBodyBytes bounds request bodies; a larger one is answered 413
	// PayloadTooLargeError without being read further. Defaults to
	// DefaultMaxBodyBytes (100 KiB).
	MaxBodyBytes int64
	// Logger receives internal errors (answered 500 without details),
	// recovered panics, store outages (answered 503) and bad input that
	// only a layer below validation refused. Defaults to slog.Default().
	Logger *slog.Logger
}

// Handler serves Herald's Backstage-compatible notifications REST API. It
// is an http.Handler with paths relative to its mount point; mount it
// where Backstage mounts the notifications plugin:
//
//	mux.Handle("/api/notifications/", http.StripPrefix("/api/notifications", h))
//	mux.Handle("/api/notifications", http.StripPrefix("/api/notifications", h))
//
// A Handler is safe for concurrent use.
type Handler struct {
	svc     *notifications.Service
	auth    auth.Authenticator
	maxBody int64
	log     *slog.Logger
	mux     *http.ServeMux
	bufs    bodyBuffers // list and update responses
}

var _ http.Handler = (*Handler)(nil)

// access says which principals a route serves.
type access int

const (
	anyPrincipal access = iota
	userOnly
	serviceOnly
)

// route is one entry of the route table: the mux patterns, the OpenAPI
// document and the route coverage test are all derived from it.
type route struct {
	pattern string // http.ServeMux pattern, method and path
	access  access
	params  []string // accepted query parameters
	handle  func(h *Handler, w http.ResponseWriter, r *http.Request, p auth.Principal, q query) error
}

// routes is every route the Handler serves: those of Backstage's
// notifications-backend (the current ones and the legacy root ones), plus
// Herald's read-all, the delivery records, the scheduled sends and the
// OpenAPI document.
var routes = []route{
	{"GET /{$}", userOnly, listParams, (*Handler).list},
	{"POST /{$}", serviceOnly, nil, (*Handler).send},
	{"GET /{id}", userOnly, nil, (*Handler).get},
	{"POST /update", userOnly, nil, (*Handler).update},
	{"GET /notifications", userOnly, listParams, (*Handler).list},
	{"POST /notifications", serviceOnly, nil, (*Handler).send},
	{"GET /notifications/{id}", userOnly, nil, (*Handler).get},
	{"POST /notifications/update", userOnly, nil, (*Handler).update},
	{"POST /notifications/read-all", userOnly, nil, (*Handler).readAll},
	{"POST /notifications/seen-all", userOnly, nil, (*Handler).seenAll},
	{"GET /status", userOnly, nil, (*Handler).status},
	{"POST /counts", userOnly, nil, (*Handler).counts},
	{"GET /settings", userOnly, nil, (*Handler).settings},
	{"POST /settings", userOnly, nil, (*Handler).saveSettings},
	{"GET /topics", userOnly, topicsParams, (*Handler).topics},
	{"GET /deliveries", serviceOnly, deliveriesParams, (*Handler).deliveries},
	{"POST /deliveries/{id}/retry", serviceOnly, nil, (*Handler).retryDelivery},
	{"GET /scheduled", serviceOnly, scheduledParams, (*Handler).scheduled},
	{"DELETE /scheduled/{id}", serviceOnly, nil, (*Handler).cancelScheduled},
	{"GET /openapi.json", anyPrincipal, nil, (*Handler).openAPI},
}

// New validates cfg and returns the Handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Service == nil:
		return nil, errors.New("rest: Config.Service is required")
	case cfg.Authenticator == nil:
		return nil, errors.New("rest: Config.Authenticator is required")
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("rest: Config.MaxBodyBytes is %d, must be >= 0", cfg.MaxBodyBytes)
	}
	h := &Handler{
		svc:     cfg.Service,
		auth:    cfg.Authenticator,
		maxBody: cfg.MaxBodyBytes,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	for _, rt := range routes {
		h.mux.Handle(rt.pattern, h.wrap(rt))
	}
	// Everything else: authenticated like the rest (an anonymous caller
	// learns nothing about which paths exist), then 404 in the envelope.
	h.mux.Handle("/", h.wrap(route{access: anyPrincipal, handle: func(*Handler, http.ResponseWriter, *http.Request, auth.Principal, query) error {
		return errNotFound
	}}))
	return h, nil
}

// ServeHTTP serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "" {
		// http.StripPrefix("/api/notifications") leaves "" for the mount
		// point itself, which ServeMux would redirect to the host's root.
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = "/", ""
		r2.URL = &u
		r = &r2
	}
	h.mux.ServeHTTP(w, r)
}

// wrap turns a route into an http.Handler: recover, authenticate, check
// the principal's kind, parse the query, run the route, write any error.
func (h *Handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.log.ErrorContext(r.Context(), "notifications API: panic", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				h.writeError(w, r, errInternal)
			}
		}()
		if err := h.serve(w, r, rt); err != nil {
			h.writeError(w, r, err)
		}
	})
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt route) error {
	p, err := h.authenticate(r, rt.access)
	if err != nil {
		return err
	}
	q, err := parseQuery(r, rt.params, "orderField")
	if err != nil {
		return err
	}
	return rt.handle(h, w, r, p, q)
}

// writeJSON writes v with status, encoded like JavaScript's JSON.stringify
// (no HTML escaping).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a bug can get here: every value written is a known type.
		http.Error(w, `{"error":{"name":"Error","message":"Internal server error"},"response":{"statusCode":500}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
