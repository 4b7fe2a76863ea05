package socket_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/signals/socket"
)

// Mount the endpoint at /api/signals, where the Backstage frontend looks
// for it, and talk to it as the browser client does: the token as the
// WebSocket sub-protocol, then a subscribe frame. The same tokens would
// serve the REST API (rest.Config.Authenticator).
func Example() {
	hub := signals.NewHub(signals.HubConfig{})
	defer hub.Close()

	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Users: map[string]auth.StaticUser{
			"jane-secret": {Ref: "user:default/jane", OwnershipRefs: []string{"group:default/team-a"}},
		},
	})
	if err != nil {
		panic(err)
	}
	h, err := socket.New(socket.Config{Hub: hub, Authenticator: tokens})
	if err != nil {
		panic(err)
	}
	defer h.Close()

	mux := http.NewServeMux()
	mux.Handle("/api/signals", http.StripPrefix("/api/signals", h))
	mux.Handle("/api/signals/", http.StripPrefix("/api/signals", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/signals"
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"jane-secret"}})
	if err != nil {
		panic(err)
	}
	defer conn.CloseNow()

	frames := make(chan string)
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				close(frames)
				return
			}
			frames <- string(data)
		}
	}()
	_ = conn.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","channel":"notifications"}`))
	// The server handles a connection's frames in order, so once the ping
	// is answered the subscription is in place.
	_ = conn.Ping(ctx)

	_ = hub.Publish(ctx, signals.Signal{
		Recipients: signals.Entity("group:default/team-a"),
		Channel:    "notifications",
		Message:    map[string]string{"action": "new_notification", "notification_id": "n1"},
	})
	fmt.Println(<-frames)
	// Output:
	// {"channel":"notifications","message":{"action":"new_notification","notification_id":"n1"}}
}
