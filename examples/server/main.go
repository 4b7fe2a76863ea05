// Command server runs Herald as a standalone notifications backend: the
// Backstage-compatible REST API at /api/notifications and the signals
// WebSocket at /api/signals, on SQLite (or PostgreSQL), with static tokens.
//
//	go run ./examples/server -service-token s3cret=ci -user-token u1=user:default/alice
//
// Flags:
//
//	-addr ADDR                 listen address (default 127.0.0.1:7007)
//	-db PATH                   SQLite database file (default herald.db)
//	-postgres DSN              use PostgreSQL at DSN instead of SQLite
//	-base-url URL              the frontend's base URL (default http://localhost:3000):
//	                           allowed as a browser origin; email links point there
//	-service-token TOKEN=SUBJECT  a service token; SUBJECT is the origin of what it sends (repeatable)
//	-user-token TOKEN=USERREF  a user token, for development (repeatable)
//	-catalog FILE              JSON array of catalog entities, to expand groups and owners
//	-smtp HOST:PORT            mail delivered notifications through this SMTP server
//	-smtp-from ADDRESS         the sender of those emails (required with -smtp)
//	-webhook URL               post every notification to URL (Standard Webhooks)
//	-webhook-secret SECRET     sign webhook deliveries ("whsec_" + base64)
//	-metrics-addr HOST:PORT    serve Prometheus metrics at /metrics and pprof at
//	                           /debug/pprof/ on this address (default off); never
//	                           the public -addr
//
// A token is split at its last "=", so tokens may contain "=" (base64
// padding). Tokens given as flags are visible to other local users (ps);
// the static tokens are meant for development and CI.
//
// Routes:
//
//	/api/notifications/...   the REST API (see package notifications/rest)
//	/api/notifications/mcp   MCP tools for agents, streamable HTTP, same tokens
//	                         (see package notifications/agent)
//	/api/signals             WebSocket (token as sub-protocol), /events for SSE;
//	                         ?since=CURSOR replays what a reconnecting client missed
//	/api/signals/health      200 {"status":"ok"}, unauthenticated
//	/healthz                 200 {"status":"ok"}, unauthenticated
//
// On -metrics-addr only (keep it off the public network):
//
//	/metrics                 Prometheus: Herald's herald_* instruments, the HTTP
//	                         server's, and Go runtime metrics
//	/debug/pprof/            net/http/pprof
//
// The REST API, the MCP endpoint and the signals endpoints are traced
// (otelhttp; spans named after the route template, like "GET
// /api/notifications/{id}"), a caller's W3C traceparent is continued, and
// every log line written within a request carries its trace_id and span_id.
//
// Catch-up is on: every signals frame carries a cursor, and a client that
// reconnects with ?since=<the last cursor it got> is first sent what it
// missed meanwhile (see package signals/socket).
//
// The catalog file holds entities like
//
//	[{"ref": "user:default/alice", "profile": {"email": "alice@example.com"}},
//	 {"ref": "group:default/team", "relations": [{"type": "hasMember", "targetRef": "user:default/alice"}]}]
//
// A user's signals reach them through their own ref and every group that
// has them as a member (hasMember) or that they are a member of (memberOf).
//
// SIGINT or SIGTERM shuts down gracefully: new requests are refused,
// in-flight ones finish, WebSocket clients are told to reconnect (1012),
// and background post-processing (email, webhooks) is drained.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/agent"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/processors/email"
	"github.com/heraldhq/herald/processors/webhook"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/socket"
	"github.com/heraldhq/herald/store"
)

// shutdownTimeout bounds the graceful shutdown.
const shutdownTimeout = 15 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "herald:", err)
		}
		os.Exit(2)
	}
}

// config is the parsed command line.
type config struct {
	addr, db, postgres, baseURL string
	serviceTokens               map[string]string // token → subject
	userTokens                  map[string]string // token → user ref
	catalogFile                 string
	smtp, smtpFrom              string
	webhookURL, webhookSecret   string
	metricsAddr                 string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{serviceTokens: map[string]string{}, userTokens: map[string]string{}}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:7007", "listen address")
	fs.StringVar(&cfg.db, "db", "herald.db", "SQLite database file")
	fs.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL DSN; replaces -db")
	fs.StringVar(&cfg.baseURL, "base-url", "http://localhost:3000", "the frontend's base URL")
	fs.Func("service-token", "TOKEN=SUBJECT: a service token sending with origin SUBJECT (repeatable)", pairFlag(cfg.serviceTokens))
	fs.Func("user-token", "TOKEN=USERREF: a user token, for development (repeatable)", pairFlag(cfg.userTokens))
	fs.StringVar(&cfg.catalogFile, "catalog", "", "JSON file: an array of catalog entities")
	fs.StringVar(&cfg.smtp, "smtp", "", "HOST:PORT of an SMTP server: email every delivered notification")
	fs.StringVar(&cfg.smtpFrom, "smtp-from", "", "sender address of the emails")
	fs.StringVar(&cfg.webhookURL, "webhook", "", "URL receiving every notification as a webhook")
	fs.StringVar(&cfg.webhookSecret, "webhook-secret", "", "Standard Webhooks secret signing the webhooks")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "HOST:PORT serving /metrics (Prometheus) and /debug/pprof/; off by default, never the public -addr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(cfg.serviceTokens)+len(cfg.userTokens) == 0 {
		return cfg, errors.New("no tokens: give at least one -service-token or -user-token")
	}
	if (cfg.smtp == "") != (cfg.smtpFrom == "") {
		return cfg, errors.New("-smtp and -smtp-from go together")
	}
	if cfg.webhookSecret != "" && cfg.webhookURL == "" {
		return cfg, errors.New("-webhook-secret needs -webhook")
	}
	if cfg.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.metricsAddr); err != nil {
			return cfg, fmt.Errorf("-metrics-addr %q is not HOST:PORT", cfg.metricsAddr)
		}
		if sameAddress(cfg.addr, cfg.metricsAddr) {
			return cfg, fmt.Errorf("-metrics-addr %q is the public -addr %q: metrics and pprof must not be served publicly", cfg.metricsAddr, cfg.addr)
		}
	}
	return cfg, nil
}

// pairFlag parses KEY=VALUE into m, splitting at the last "=".
func pairFlag(m map[string]string) func(string) error {
	return func(s string) error {
		i := strings.LastIndexByte(s, '=')
		if i <= 0 || i == len(s)-1 {
			return fmt.Errorf("%q is not TOKEN=VALUE", s)
		}
		if _, dup := m[s[:i]]; dup {
			return errors.New("the same token is given twice")
		}
		m[s[:i]] = s[i+1:]
		return nil
	}
}

// run parses args, serves until ctx is done, then shuts down gracefully.
// It prints where it listens to stdout and logs to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(traceHandler{slog.NewTextHandler(stderr, nil)})
	tel, err := newTelemetry(cfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		_ = tel.close(sctx)
	}()
	srv, err := newServer(ctx, cfg, logger, tel)
	if err != nil {
		return err
	}
	defer srv.close()
	if err := tel.listen(ctx, cfg.metricsAddr, logger); err != nil {
		return err
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.addr)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // the WebSocket handler lifts it
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	metricsAt := ""
	if tel.ln != nil {
		metricsAt = fmt.Sprintf("; metrics on http://%s/metrics", tel.ln.Addr())
	}
	fmt.Fprintf(stdout, "Herald listening on http://%s (REST at /api/notifications, WebSocket at /api/signals)%s\n", ln.Addr(), metricsAt)
	logger.Info("listening", "addr", ln.Addr().String(), "store", srv.storeName)

	// The retention cleaner: Backstage's default, a year, checked daily.
	cleanerCtx, stopCleaner := context.WithCancel(ctx)
	defer stopCleaner()
	go func() { _ = srv.svc.RunCleaner(cleanerCtx, notifications.CleanerOptions{}) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	// WebSocket connections are hijacked and SSE streams would hold
	// httpSrv.Shutdown up, so the socket handler shuts down alongside.
	var wg sync.WaitGroup
	var sockErr error
	wg.Go(func() { sockErr = srv.socket.Shutdown(sctx) })
	httpErr := httpSrv.Shutdown(sctx)
	wg.Wait()
	// Then drain post-processing of what was sent before the shutdown.
	svcErr := srv.svc.Close(sctx)
	return errors.Join(httpErr, sockErr, svcErr)
}

// server is the wired-up application.
type server struct {
	handler   http.Handler
	svc       *notifications.Service
	hub       *signals.Hub
	socket    *socket.Handler
	store     *store.Store
	storeName string
}

// newServer opens the store and builds the service, the REST API and the
// signals endpoint from cfg.
func newServer(ctx context.Context, cfg config, logger *slog.Logger, tel *telemetry) (_ *server, err error) {
	base, err := url.Parse(cfg.baseURL)
	if err != nil || base.Host == "" || base.Scheme != "http" && base.Scheme != "https" {
		return nil, fmt.Errorf("-base-url %q is not an http(s) URL", cfg.baseURL)
	}
	entities, err := loadCatalog(cfg.catalogFile)
	if err != nil {
		return nil, err
	}
	catalog := notifications.NewMemoryCatalog(entities...)

	// One set of tokens for the REST API and the signals endpoints.
	users := map[string]auth.StaticUser{}
	for token, ref := range cfg.userTokens {
		users[token] = auth.StaticUser{Ref: ref, OwnershipRefs: groupsOf(entities, ref)}
	}
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{Services: cfg.serviceTokens, Users: users})
	if err != nil {
		return nil, err
	}

	srv := &server{hub: signals.NewHub(signals.HubConfig{Logger: logger, MeterProvider: tel.mp})}
	defer func() {
		if err != nil {
			srv.close()
		}
	}()
	if cfg.postgres != "" {
		srv.store, err = store.OpenPostgres(ctx, cfg.postgres)
		srv.storeName = "postgres"
	} else {
		srv.store, err = store.OpenSQLite(ctx, cfg.db)
		srv.storeName = "sqlite:" + cfg.db
	}
	if err != nil {
		return nil, err
	}

	var procs []notifications.Processor
	if cfg.smtp != "" {
		host, portStr, err := net.SplitHostPort(cfg.smtp)
		port, perr := strconv.Atoi(portStr)
		if err != nil || perr != nil {
			return nil, fmt.Errorf("-smtp %q is not HOST:PORT", cfg.smtp)
		}
		p, err := email.New(email.Config{
			Host: host, Port: port, From: cfg.smtpFrom, BaseURL: cfg.baseURL,
			Catalog: catalog, Logger: logger,
		})
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	if cfg.webhookURL != "" {
		p, err := webhook.New(webhook.Config{URL: cfg.webhookURL, Secret: cfg.webhookSecret, Logger: logger})
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}

	srv.svc, err = notifications.New(notifications.Config{
		Store:      srv.store,
		Signals:    srv.hub,
		Processors: procs,
		Catalog:    catalog,
		Logger:     logger,

		TracerProvider: tel.tp,
		MeterProvider:  tel.mp,
	})
	if err != nil {
		return nil, err
	}
	api, err := rest.New(rest.Config{Service: srv.svc, Authenticator: tokens, Logger: logger})
	if err != nil {
		return nil, err
	}
	tools, err := agent.New(agent.Config{Service: srv.svc, Authenticator: tokens, Logger: logger})
	if err != nil {
		return nil, err
	}
	srv.socket, err = socket.New(socket.Config{
		Hub:            srv.hub,
		Authenticator:  tokens,
		OriginPatterns: []string{base.Host},
		// A browser that reconnects with ?since=<cursor> (or an
		// EventSource, with Last-Event-ID) is replayed what it missed.
		CatchUpFunc:   srv.svc.CatchUp,
		Logger:        logger,
		MeterProvider: tel.mp,
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	// traced strips the prefix, as http.StripPrefix would.
	tracedAPI := tel.traced("/api/notifications", api)
	mux.Handle("/api/notifications/", tracedAPI)
	mux.Handle("/api/notifications", tracedAPI)
	mux.Handle("/api/notifications/mcp", tel.tracedAs("/api/notifications/mcp", tools))
	tracedSignals := tel.traced("/api/signals", srv.socket, "/", "/events", "/health")
	mux.Handle("/api/signals/", tracedSignals)
	mux.Handle("/api/signals", tracedSignals)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	srv.handler = cors(base.Scheme+"://"+base.Host, mux)
	return srv, nil
}

// close releases what newServer opened; run has already drained the
// service. It is safe on a partly built server.
func (s *server) close() {
	if s.svc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		_ = s.svc.Close(ctx) // a no-op wait when run has closed it
		cancel()
	}
	if s.socket != nil {
		_ = s.socket.Close()
	}
	s.hub.Close()
	if s.store != nil {
		_ = s.store.Close()
	}
}

// loadCatalog reads the -catalog file; no file is an empty catalog.
func loadCatalog(path string) ([]notifications.CatalogEntity, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-catalog: %w", err)
	}
	var entities []notifications.CatalogEntity
	if err := json.Unmarshal(b, &entities); err != nil {
		return nil, fmt.Errorf("-catalog %s: %w", path, err)
	}
	for i, e := range entities {
		if e.Ref == "" {
			return nil, fmt.Errorf("-catalog %s: entity %d has no ref", path, i)
		}
	}
	return entities, nil
}

// groupsOf returns the groups user belongs to in entities: those with a
// hasMember relation to the user, and the targets of the user's own
// memberOf relations. Refs are compared canonically ("group:Team" is
// "group:default/Team"); refs that are not valid entity refs match
// nothing.
func groupsOf(entities []notifications.CatalogEntity, user string) []string {
	user, err := notifications.CanonicalEntityRef(user)
	if err != nil {
		return nil // NewStaticTokens refuses the token, saying why
	}
	isUser := func(ref string) bool {
		c, err := notifications.CanonicalEntityRef(ref)
		return err == nil && c == user
	}
	var groups []string
	add := func(ref string) {
		c, err := notifications.CanonicalEntityRef(ref)
		if err == nil && strings.HasPrefix(c, "group:") && !slices.Contains(groups, c) {
			groups = append(groups, c)
		}
	}
	for _, e := range entities {
		for _, rel := range e.Relations {
			switch {
			case rel.Type == notifications.RelationHasMember && isUser(rel.TargetRef):
				add(e.Ref)
			case rel.Type == "memberOf" && isUser(e.Ref):
				add(rel.TargetRef)
			}
		}
	}
	return groups
}

// cors lets the frontend at origin call the API from the browser, as
// Backstage's backend.cors does for app.baseUrl.
func cors(origin string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != origin {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
