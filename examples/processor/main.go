// Command processor shows custom processors next to a built-in one: a
// pre-processor that links every build notification to the CI page, an
// audit post-processor, and the webhook processor delivering signed calls
// to a receiver that verifies them.
//
//	go run ./examples/processor
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors"
	"github.com/heraldhq/herald/processors/webhook"
	"github.com/heraldhq/herald/store"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	st, err := store.OpenSQLite(ctx, ":memory:")
	if err != nil {
		return err
	}
	defer st.Close()

	// Post-processing runs in background workers: collect, print at the end.
	var mu sync.Mutex
	var lines []string
	record := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}

	// A receiver that trusts only correctly signed calls.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := webhook.Verify(secret, r.Header, body, 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var env webhook.Envelope
		if err := json.Unmarshal(body, &env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		record("webhook: %s %q link=%q", env.Type, env.Data.Payload.Title, env.Data.Payload.Link)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// 1. A pre-processor, limited by filters to the "build" topic: it
	// rewrites each notification before it is stored.
	linker := &notifications.PreProcessorFunc{
		ProcessorName:   "ci-links",
		ProcessorFilter: notifications.ProcessorFilter{IncludedTopics: []string{"build"}},
		Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
			if n.Payload.Link == "" {
				n.Payload.Link = "/ci/builds"
			}
			return n, nil
		},
	}

	// 2. A post-processor in one function: an audit line per delivery.
	audit := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
		to := n.User
		if n.IsBroadcast() {
			to = "everyone"
		}
		record("audit: %q from %s to %s", n.Payload.Title, n.Origin, to)
		return nil
	}}

	// 3. A built-in processor, with metrics the host can read.
	metrics := &processors.Metrics{}
	hooks, err := webhook.New(webhook.Config{URL: receiver.URL, Secret: secret, Metrics: metrics})
	if err != nil {
		return err
	}

	svc, err := notifications.New(notifications.Config{
		Store:      st,
		Processors: []notifications.Processor{linker, audit, hooks}, // run in this order
	})
	if err != nil {
		return err
	}
	ci := svc.Sender("plugin:ci")
	if _, err := ci.Send(ctx, notifications.Entity("user:default/jane"), notifications.Payload{Title: "Build 42 failed", Topic: "build", Severity: notifications.SeverityHigh}); err != nil {
		return err
	}
	if _, err := ci.Send(ctx, notifications.Broadcast(), notifications.Payload{Title: "CI maintenance at noon"}); err != nil {
		return err
	}
	// Close drains post-processing, so every webhook has been delivered.
	if err := svc.Close(ctx); err != nil {
		return err
	}

	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	s := metrics.Snapshot()
	fmt.Printf("webhook metrics: sent=%d failed=%d retried=%d\n", s.Sent, s.Failed, s.Retried)
	return nil
}
