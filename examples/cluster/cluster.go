package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/pgbus"
	"github.com/heraldhq/herald/signals/socket"
	"github.com/heraldhq/herald/store"
)

// The demo's static tokens. Real deployments authenticate users through
// their identity provider, with an auth.Authenticator of their own that
// both the REST API and the signals endpoints take.
const (
	userToken      = "alice-token"
	userRef        = "user:default/alice"
	serviceToken   = "ci-token"
	serviceSubject = "external:ci"
)

// shutdownTimeout bounds a graceful shutdown.
const shutdownTimeout = 10 * time.Second

// instance is one Herald server as a host wires it for a cluster: its own
// Service, Hub and handlers, sharing the database with the other
// instances, and a Bus over pgbus that carries every signal published on
// any instance to every instance's Hub.
type instance struct {
	name    string
	store   *store.Store
	hub     *signals.Hub
	bus     *signals.Bus
	svc     *notifications.Service
	socket  *socket.Handler
	handler http.Handler
}

// instanceConfig configures newInstance.
type instanceConfig struct {
	// name is the Bus's InstanceID, which shows in its logs. Required.
	name string
	// dsn is the PostgreSQL database every instance shares. Required.
	dsn string
	// channel is the NOTIFY channel of the cluster; every instance of one
	// deployment uses the same. Defaults to pgbus.DefaultChannel.
	channel string
	// tokens authenticates REST calls, WebSocket connections and event
	// streams. Required.
	tokens auth.Authenticator
	// logger defaults to discarding.
	logger *slog.Logger
}

// newInstance opens the store, joins the Bus and builds the handlers:
//
//	/api/notifications   the REST API (rest.Handler)
//	/api/signals         the WebSocket and SSE endpoints, with catch-up
func newInstance(ctx context.Context, cfg instanceConfig) (_ *instance, err error) {
	logger := cfg.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("instance", cfg.name)
	in := &instance{name: cfg.name, hub: signals.NewHub(signals.HubConfig{Logger: logger})}
	defer func() {
		if err != nil {
			_ = in.close(context.Background())
		}
	}()

	if in.store, err = store.OpenPostgres(ctx, cfg.dsn); err != nil {
		return nil, fmt.Errorf("%s: open store: %w", cfg.name, err)
	}
	tr, err := pgbus.New(ctx, pgbus.Config{DSN: cfg.dsn, Channel: cfg.channel, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("%s: pgbus: %w", cfg.name, err)
	}
	in.bus, err = signals.NewBus(ctx, signals.BusConfig{
		Transport:  tr, // the Bus owns it from here on
		Local:      in.hub,
		InstanceID: cfg.name,
		Logger:     logger,
		OnGap: func(ctx context.Context, g signals.Gap) {
			// Signals from other instances were lost (LISTEN/NOTIFY keeps
			// nothing for a listener that was away): ask this instance's
			// browsers to refetch. Backstage's UI refetches on any
			// notifications signal.
			_ = in.hub.Publish(ctx, signals.Signal{
				Recipients: signals.Broadcast(),
				Channel:    notifications.SignalChannel,
				Message:    map[string]string{"action": "refresh"},
			})
		},
	})
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("%s: bus: %w", cfg.name, err)
	}

	// The Bus is the Service's publisher: a send on this instance reaches
	// this instance's Hub directly and every other instance's Hub through
	// PostgreSQL.
	in.svc, err = notifications.New(notifications.Config{Store: in.store, Signals: in.bus, Logger: logger})
	if err != nil {
		return nil, err
	}
	api, err := rest.New(rest.Config{Service: in.svc, Authenticator: cfg.tokens, Logger: logger})
	if err != nil {
		return nil, err
	}
	in.socket, err = socket.New(socket.Config{
		Hub:           in.hub,
		Authenticator: cfg.tokens,
		// A browser that reconnects, to this instance or another, with
		// ?since=<cursor> is replayed what it missed.
		CatchUpFunc: in.svc.CatchUp,
		Logger:      logger,
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/api/notifications/", http.StripPrefix("/api/notifications", api))
	mux.Handle("/api/notifications", http.StripPrefix("/api/notifications", api))
	mux.Handle("/api/signals/", http.StripPrefix("/api/signals", in.socket))
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", in.socket))
	in.handler = mux
	return in, nil
}

// close releases the instance in dependency order: connections first,
// then the Service (draining post-processing), the Bus (which closes its
// transport), the Hub and the store. It is safe on a partly built instance.
func (in *instance) close(ctx context.Context) error {
	var errs []error
	if in.socket != nil {
		errs = append(errs, in.socket.Close())
	}
	if in.svc != nil {
		errs = append(errs, in.svc.Close(ctx))
	}
	if in.bus != nil {
		errs = append(errs, in.bus.Close())
	}
	in.hub.Close()
	if in.store != nil {
		errs = append(errs, in.store.Close())
	}
	return errors.Join(errs...)
}

// node is an instance serving HTTP.
type node struct {
	*instance
	url string // http://host:port
	srv *http.Server
	err chan error // Serve's result
}

// cluster is two instances on one database, each on its own port.
type cluster struct {
	a, b *node
}

// clusterConfig configures startCluster.
type clusterConfig struct {
	// dsn is the PostgreSQL database both instances share. Required.
	dsn string
	// channel is the pgbus NOTIFY channel. Defaults to pgbus.DefaultChannel.
	channel string
	// addrA and addrB are the listen addresses; "127.0.0.1:0" picks a
	// free port. Required.
	addrA, addrB string
	// logger defaults to discarding.
	logger *slog.Logger
}

// startCluster starts instances A and B and returns once both listen and
// both Buses receive.
func startCluster(ctx context.Context, cfg clusterConfig) (_ *cluster, err error) {
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{serviceToken: serviceSubject},
		Users:    map[string]auth.StaticUser{userToken: {Ref: userRef}},
	})
	if err != nil {
		return nil, err
	}
	c := &cluster{}
	defer func() {
		if err != nil {
			_ = c.close(context.Background())
		}
	}()
	for _, n := range []struct {
		name, addr string
		dst        **node
	}{{"herald-a", cfg.addrA, &c.a}, {"herald-b", cfg.addrB, &c.b}} {
		in, err := newInstance(ctx, instanceConfig{name: n.name, dsn: cfg.dsn, channel: cfg.channel, tokens: tokens, logger: cfg.logger})
		if err != nil {
			return nil, err
		}
		node, err := serve(ctx, in, n.addr, cfg.logger)
		if err != nil {
			_ = in.close(ctx)
			return nil, err
		}
		*n.dst = node
	}
	return c, nil
}

// serve listens on addr and serves the instance's handler.
func serve(ctx context.Context, in *instance, addr string, logger *slog.Logger) (*node, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.name, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &node{
		instance: in,
		url:      "http://" + ln.Addr().String(),
		srv: &http.Server{
			Handler:           in.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		err: make(chan error, 1),
	}
	go func() { n.err <- n.srv.Serve(ln) }()
	return n, nil
}

// close shuts both instances down: WebSocket clients are told to
// reconnect (1012), HTTP requests in flight finish, then everything is
// released.
func (c *cluster) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, n := range []*node{c.a, c.b} {
		if n == nil {
			continue
		}
		wg.Go(func() {
			// Hijacked WebSockets and SSE streams live outside the
			// server's bookkeeping; shut the socket handler down beside it.
			var sockErr error
			var inner sync.WaitGroup
			inner.Go(func() { sockErr = n.socket.Shutdown(ctx) })
			httpErr := n.srv.Shutdown(ctx)
			inner.Wait()
			err := errors.Join(httpErr, sockErr, n.close(ctx))
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
