package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/signals/auth"
	"github.com/heraldhq/herald/store"
)

// Mount the API where Backstage mounts the notifications plugin, send as a
// service and read the inbox as a user.
func ExampleNew() {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, ":memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	svc, err := notifications.New(notifications.Config{
		Store: st,
		// A fixed clock and id, so the output below is stable.
		Now:       func() time.Time { return time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC) },
		NewIDFunc: func() string { return "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11" },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close(ctx)

	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{"s3cret": "external:ci"},
		Users:    map[string]auth.StaticUser{"u1": {Ref: "user:default/alice"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	api, err := rest.New(rest.Config{Service: svc, Authenticator: tokens})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/api/notifications/", http.StripPrefix("/api/notifications", api))
	mux.Handle("/api/notifications", http.StripPrefix("/api/notifications", api))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, token, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		fmt.Println(res.StatusCode, strings.TrimSpace(string(b)))
	}
	call("POST", "/api/notifications", "s3cret",
		`{"recipients":{"type":"entity","entityRef":"user:default/alice"},"payload":{"title":"Build failed","topic":"ci"}}`)
	call("GET", "/api/notifications/status", "u1", "")
	call("GET", "/api/notifications/topics", "u1", "")
	call("GET", "/api/notifications/status", "s3cret", "") // a service is not a user
	// Output:
	// 200 [{"id":"6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11","user":"user:default/alice","created":"2025-01-01T10:00:00.000Z","origin":"external:ci","payload":{"title":"Build failed","severity":"normal","topic":"ci"}}]
	// 200 {"unread":1,"read":0,"unseen":1}
	// 200 {"topics":["ci"]}
	// 403 {"error":{"name":"NotAllowedError","message":"This endpoint requires user credentials"},"request":{"method":"GET","url":"/status"},"response":{"statusCode":403}}
}
