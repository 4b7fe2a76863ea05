// Command watch prints the signals a user receives, one JSON frame per
// line, the way the Backstage frontend's signals client receives them:
// it connects to the signals WebSocket with the user's token as the
// sub-protocol and subscribes to a channel.
//
//	go run ./examples/server/watch -token u1
//
// Flags: -url (default ws://127.0.0.1:7007/api/signals), -token (a user
// token, required), -channel (default notifications). Ctrl-C closes the
// connection normally (1000).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/coder/websocket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "ws://127.0.0.1:7007/api/signals", "the signals WebSocket")
	token := fs.String("token", "", "a user token (required)")
	channel := fs.String("channel", "notifications", "the channel to subscribe to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("-token is required")
	}
	c, _, err := websocket.Dial(ctx, *url, &websocket.DialOptions{Subprotocols: []string{*token}})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *url, err)
	}
	defer c.CloseNow()
	sub, _ := json.Marshal(map[string]string{"action": "subscribe", "channel": *channel})
	if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "connected to %s, subscribed to %q; Ctrl-C to stop\n", *url, *channel)
	// Read on a context of its own: cancelling a Read drops the
	// connection, and Ctrl-C should close it with a handshake instead.
	ended := make(chan error, 1)
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				ended <- err
				return
			}
			fmt.Fprintf(stdout, "%s\n", data)
		}
	}()
	select {
	case <-ctx.Done():
		return c.Close(websocket.StatusNormalClosure, "")
	case err := <-ended:
		return fmt.Errorf("connection ended: %w", err)
	}
}
