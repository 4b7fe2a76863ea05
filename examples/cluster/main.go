// Command cluster runs two Herald instances on two ports, sharing one
// PostgreSQL database, and shows that a notification sent to one reaches a
// browser connected to the other, and that a browser that lost its
// connection is replayed what it missed when it reconnects, to either.
//
//	go run ./examples/cluster -postgres "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
//
// Each instance is wired as a clustered host wires Herald: its own
// notifications Service on the shared store, its own signals Hub, and a
// signals Bus over pgbus (PostgreSQL LISTEN/NOTIFY) with the Hub as Local
// and the Bus as the Service's publisher. Each serves the REST API at
// /api/notifications and the WebSocket (and SSE) endpoint at /api/signals,
// with catch-up on. Both instances run in this one process for
// convenience; run as two processes they behave the same.
//
// Flags:
//
//	-postgres DSN   the shared database (default: $HERALD_TEST_POSTGRES_DSN); required
//	-addr-a ADDR    instance A's listen address (default 127.0.0.1:7007)
//	-addr-b ADDR    instance B's listen address (default 127.0.0.1:7008)
//	-channel NAME   the NOTIFY channel the instances share (default herald_cluster)
//	-demo           run the demo and exit (default true); -demo=false serves until interrupted
//
// The demo connects a WebSocket client to B as user:default/alice, sends
// her a notification through A's REST API, and prints the frame B delivered
// and how long it took. Then the client drops its connection, a second
// notification is sent on A, and the client reconnects, to A this time,
// with the cursor of the last frame it received: A replays the missed
// notification.
//
// With -demo=false both instances serve until SIGINT, with a user token
// "alice-token" (user:default/alice) and a service token "ci-token"
// (external:ci), for example:
//
//	websocat -H 'Sec-WebSocket-Protocol: alice-token' ws://127.0.0.1:7008/api/signals
//	{"action":"subscribe","channel":"notifications"}
//
//	curl -H 'Authorization: Bearer ci-token' -H 'Content-Type: application/json' \
//	  -d '{"recipients":{"type":"entity","entityRef":"user:default/alice"},"payload":{"title":"Hello"}}' \
//	  http://127.0.0.1:7007/api/notifications
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// dsnEnv is where the DSN comes from when -postgres is not given: the
// variable the test suite uses.
const dsnEnv = "HERALD_TEST_POSTGRES_DSN"

// demoTimeout bounds the demo.
const demoTimeout = 30 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		log.Fatal(err)
	}
}

// config is the parsed command line.
type config struct {
	dsn, addrA, addrB, channel string
	demo                       bool
}

// parseFlags reads args; getenv supplies the default DSN.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.dsn, "postgres", getenv(dsnEnv), "the PostgreSQL database both instances share (default $"+dsnEnv+")")
	fs.StringVar(&cfg.addrA, "addr-a", "127.0.0.1:7007", "instance A's listen address")
	fs.StringVar(&cfg.addrB, "addr-b", "127.0.0.1:7008", "instance B's listen address")
	fs.StringVar(&cfg.channel, "channel", "herald_cluster", "the NOTIFY channel the instances share")
	fs.BoolVar(&cfg.demo, "demo", true, "run the demo and exit; false serves until interrupted")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.dsn == "" {
		return cfg, fmt.Errorf("-postgres is required (or set %s)", dsnEnv)
	}
	return cfg, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := startCluster(ctx, clusterConfig{dsn: cfg.dsn, channel: cfg.channel, addrA: cfg.addrA, addrB: cfg.addrB, logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "instance A (herald-a) on %s\ninstance B (herald-b) on %s\n", c.a.url, c.b.url)

	var runErr error
	if cfg.demo {
		runErr = demo(ctx, c, stdout)
	} else {
		fmt.Fprintln(stdout, "serving; SIGINT to stop")
		select {
		case <-ctx.Done():
		case runErr = <-c.a.err:
		case runErr = <-c.b.err:
		}
	}
	return errors.Join(runErr, c.close(context.WithoutCancel(ctx)))
}

// demo shows a send on A reaching a WebSocket on B, then catch-up on
// reconnect.
func demo(ctx context.Context, c *cluster, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	// A run of its own: earlier runs on the same database do not interfere.
	var b [4]byte
	rand.Read(b[:])
	tag := hex.EncodeToString(b[:])

	client, err := connect(ctx, c.b.url, userToken, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "browser connected to B's WebSocket as %s, subscribed to %q\n", userRef, notifications.SignalChannel)

	start := time.Now()
	sent, err := sendREST(ctx, c.a.url, "Deploy finished ("+tag+")")
	if err != nil {
		return err
	}
	f, err := client.await(ctx, sent)
	if err != nil {
		return fmt.Errorf("waiting on B for the notification sent on A: %w", err)
	}
	fmt.Fprintf(stdout, "sent on A: POST %s/api/notifications -> %s\n", c.a.url, sent)
	fmt.Fprintf(stdout, "received on B %v after the POST on A: %s\n", f.at.Sub(start).Round(time.Microsecond), f.raw)

	// The browser loses its connection; a notification is sent meanwhile.
	client.close()
	fmt.Fprintf(stdout, "browser disconnected, holding cursor %s\n", client.cursor)
	missed, err := sendREST(ctx, c.a.url, "Deploy rolled back ("+tag+")")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent on A while it was away: %s\n", missed)

	// It comes back, to the other instance, with its cursor.
	again, err := connect(ctx, c.a.url, userToken, client.cursor)
	if err != nil {
		return err
	}
	defer again.close()
	f, err = again.await(ctx, missed)
	if err != nil {
		return fmt.Errorf("waiting for the replay of the missed notification: %w", err)
	}
	fmt.Fprintf(stdout, "reconnected to A with ?since=%s, replayed: %s\n", client.cursor, f.raw)
	return nil
}

// sendREST sends alice a notification through an instance's REST API, as
// an external service would, and returns its id.
func sendREST(ctx context.Context, baseURL, title string) (string, error) {
	body, err := json.Marshal(map[string]any{
		"recipients": map[string]any{"type": "entity", "entityRef": userRef},
		"payload":    map[string]any{"title": title, "topic": "deploys"},
	})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/api/notifications", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+serviceToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s/api/notifications: %s: %s", baseURL, resp.Status, raw)
	}
	var sent []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &sent); err != nil || len(sent) != 1 {
		return "", fmt.Errorf("POST %s/api/notifications: unexpected answer %s", baseURL, raw)
	}
	return sent[0].ID, nil
}
