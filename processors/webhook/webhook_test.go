package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors"
	"github.com/heraldhq/herald/processors/internal/processortest"
	"github.com/heraldhq/herald/processors/webhook"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hit is one request a receiver got.
type hit struct {
	Header http.Header
	Body   []byte
}

// receiver is an httptest server answering with the queued status codes
// (then 204), recording every request.
type receiver struct {
	URL string

	mu      sync.Mutex
	hits    []hit
	answers []func(w http.ResponseWriter)
}

func newReceiver(t *testing.T, answers ...func(w http.ResponseWriter)) *receiver {
	t.Helper()
	r := &receiver{answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hits = append(r.hits, hit{Header: req.Header.Clone(), Body: body})
		var answer func(http.ResponseWriter)
		if len(r.answers) > 0 {
			answer, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hook?key=k"
	return r
}

func (r *receiver) recorded() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func code(c int, retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(c)
	}
}

func setup(t *testing.T, cfg webhook.Config) *webhook.Processor {
	t.Helper()
	p, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// inDelivery returns a context carrying delivery id's attempt, as the
// Service sets it.
func inDelivery(t *testing.T, id string, attempt int) context.Context {
	t.Helper()
	return notifications.ContextWithDelivery(t.Context(), notifications.Delivery{ID: id, Processor: webhook.DefaultName, Attempts: attempt})
}

var created = time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)

func note() notifications.Notification {
	return notifications.Notification{
		ID: "6f1c2a9e-1111-4222-8333-944455556666", User: "user:default/jane", Origin: "plugin:ci", Created: created,
		Payload: notifications.Payload{Title: "Build failed", Link: "/ci/42", Severity: notifications.SeverityHigh, Metadata: map[string]any{"run": 42.0}},
	}
}

func TestDeliverySigned(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p := setup(t, webhook.Config{URL: r.URL, Secret: secret})
	if p.Name() != "Webhook" {
		t.Fatalf("Name() = %q", p.Name())
	}
	if err := p.PostProcess(t.Context(), note(), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	hits := r.recorded()
	if len(hits) != 1 {
		t.Fatalf("%d calls", len(hits))
	}
	h := hits[0]
	if ct := h.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	// The envelope and the notification's own JSON form.
	var env struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(h.Body, &env); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(note())
	if env.Type != webhook.EventCreated || !bytes.Equal(env.Data, want) {
		t.Fatalf("type %q data %s, want %s", env.Type, env.Data, want)
	}
	if ts, err := time.Parse(time.RFC3339, env.Timestamp); err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("timestamp %q: %v", env.Timestamp, err)
	}
	var decoded webhook.Envelope
	if err := json.Unmarshal(h.Body, &decoded); err != nil || decoded.Data.ID != note().ID || decoded.Data.Payload.Title != "Build failed" {
		t.Fatalf("Envelope decode: %+v, %v", decoded, err)
	}

	// The signature checks with Verify and with an independent computation.
	if err := webhook.Verify(secret, h.Header, h.Body, 0); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	id, ts := h.Header.Get("webhook-id"), h.Header.Get("webhook-timestamp")
	if !strings.HasPrefix(id, "msg_") {
		t.Errorf("webhook-id %q", id)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(unix, 0)) > time.Minute {
		t.Fatalf("webhook-timestamp %q", ts)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(h.Body)))
	if got, want := h.Header.Get("webhook-signature"), "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("webhook-signature %q, want %q", got, want)
	}

	// A scoped re-send is an update, with a new message id.
	n := note()
	n.Updated = &created
	if err := p.PostProcess(t.Context(), n, notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	h2 := r.recorded()[1]
	if err := json.Unmarshal(h2.Body, &env); err != nil || env.Type != webhook.EventUpdated {
		t.Fatalf("type %q, %v", env.Type, err)
	}
	if h2.Header.Get("webhook-id") == id {
		t.Fatal("webhook-id reused for a different message")
	}
}

// The clock and the id generator are injectable, so a test of the host's
// can predict every header and the envelope byte for byte.
func TestInjectedClockAndID(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	at := time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.UTC)
	ids := 0
	p := setup(t, webhook.Config{
		URL: r.URL, Secret: secret,
		NowFunc:   func() time.Time { return at },
		NewIDFunc: func() string { ids++; return "msg_fixed_" + strconv.Itoa(ids) },
	})
	if err := p.PostProcess(t.Context(), note(), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	h := r.recorded()[0]
	if id, ts := h.Header.Get("webhook-id"), h.Header.Get("webhook-timestamp"); id != "msg_fixed_1" || ts != strconv.FormatInt(at.Unix(), 10) {
		t.Fatalf("webhook-id %q webhook-timestamp %q", id, ts)
	}
	var env struct {
		Timestamp string `json:"timestamp"`
	}
	if err := json.Unmarshal(h.Body, &env); err != nil || env.Timestamp != "2025-03-04T05:06:07.891Z" {
		t.Fatalf("envelope timestamp %q (%v), want the injected clock to the millisecond", env.Timestamp, err)
	}
	want, err := webhook.Sign(secret, "msg_fixed_1", at, h.Body)
	if err != nil || h.Header.Get("webhook-signature") != want {
		t.Fatalf("webhook-signature %q, want %q (%v)", h.Header.Get("webhook-signature"), want, err)
	}
}

func TestUnsignedAndHeaders(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p := setup(t, webhook.Config{Endpoints: []webhook.Endpoint{{URL: r.URL, Header: http.Header{"Authorization": {"Bearer k"}}}}})
	b := note()
	b.User = ""
	if err := p.PostProcess(t.Context(), b, notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	h := r.recorded()[0]
	if h.Header.Get("webhook-signature") != "" || h.Header.Get("Authorization") != "Bearer k" || h.Header.Get("webhook-id") == "" {
		t.Fatalf("headers %v", h.Header)
	}
	if !bytes.Contains(h.Body, []byte(`"user":null`)) {
		t.Fatalf("broadcast body %s", h.Body)
	}
}

// Inside a Service, webhook-id is the delivery id, the same on every
// attempt, so a receiver can de-duplicate a retry; a re-send that replaced
// the delivery's content in place is a new message.
func TestWebhookIDIsTheDeliveryID(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p := setup(t, webhook.Config{URL: r.URL, Secret: secret, NewIDFunc: func() string { return "msg_random" }})
	const id = "0b6f0c1e-2d3a-4b5c-8d7e-9f0a1b2c3d4e"
	for attempt := 1; attempt <= 2; attempt++ {
		if err := p.PostProcess(inDelivery(t, id, attempt), note(), notifications.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n := note()
	updated := created.Add(time.Minute)
	n.Updated = &updated
	if err := p.PostProcess(inDelivery(t, id, 1), n, notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.PostProcess(t.Context(), note(), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	hits := r.recorded()
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Header.Get("webhook-id"))
		if err := webhook.Verify(secret, h.Header, h.Body, 0); err != nil {
			t.Fatalf("call not signed with its id: %v", err)
		}
	}
	want := []string{id, id, id + "_" + strconv.FormatInt(updated.UnixNano(), 10), "msg_random"}
	if !slices.Equal(ids, want) {
		t.Fatalf("webhook-ids %q, want %q", ids, want)
	}
}

// Each PostProcess is one attempt: one call per endpoint, whatever the
// answer, with the failure classified for the Service's retries.
func TestClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter)
		permanent  bool
		retryAfter time.Duration // 0: no RetryLater
	}{
		{"429 Retry-After 7", code(429, "7"), false, 7 * time.Second},
		{"503 Retry-After 2", code(503, "2"), false, 2 * time.Second},
		{"503 Retry-After absurd", code(503, "99999999"), false, processors.MaxRetryAfter},
		{"429 without Retry-After", code(429, ""), false, 0},
		{"500", code(500, ""), false, 0},
		{"502 Retry-After ignored", code(502, "9"), false, 0},
		{"408", code(408, ""), false, 0},
		{"400", code(400, "1"), true, 0},
		{"401", code(401, ""), true, 0},
		{"404", code(404, ""), true, 0},
		{"410", code(410, ""), true, 0},
		{"422", code(422, ""), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReceiver(t, tt.answer)
			var logs bytes.Buffer
			p := setup(t, webhook.Config{URL: r.URL, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			err := p.PostProcess(inDelivery(t, "d-1", 1), note(), notifications.SendOptions{})
			se, ok := errors.AsType[*webhook.StatusError](err)
			if !ok {
				t.Fatalf("err = %v, want a *StatusError", err)
			}
			if n := len(r.recorded()); n != 1 {
				t.Fatalf("%d calls, want 1: the Service retries, not the processor", n)
			}
			if got := notifications.IsPermanent(err); got != tt.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			d, later := notifications.RetryAfter(err)
			if later != (tt.retryAfter > 0) || d != tt.retryAfter {
				t.Fatalf("RetryAfter(%v) = %s, %v; want %s", err, d, later, tt.retryAfter)
			}
			if tt.retryAfter > 0 && se.RetryAfter != tt.retryAfter {
				t.Fatalf("StatusError.RetryAfter = %s", se.RetryAfter)
			}
			if e := err.Error(); !strings.Contains(e, note().ID) || !strings.Contains(e, strconv.Itoa(se.Code)) || !strings.Contains(e, "/hook") || strings.Contains(e, "key=k") {
				t.Fatalf("err = %q, want the notification id, the status and the URL without its query", e)
			}
			// The failure is returned, for the Service to log; not logged here too.
			if l := logs.String(); l != "" {
				t.Fatalf("the processor logged the failure it returned: %s", l)
			}
		})
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	t.Parallel()
	srv, calls := processortest.DroppingServer(t)
	url := srv.URL + "/hook?token=s3cret"
	p := setup(t, webhook.Config{URL: url})
	err := p.PostProcess(inDelivery(t, "d-1", 1), note(), notifications.SendOptions{})
	if err == nil || notifications.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if _, later := notifications.RetryAfter(err); later {
		t.Fatalf("err = %v asks for a wait", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	// net/http's *url.Error names the URL it called: its query is
	// redacted too, not only the processor's own wrapping.
	if _, ok := errors.AsType[*neturl.Error](err); !ok {
		t.Fatalf("err = %v, want the *url.Error kept in the chain", err)
	}
	if e := err.Error(); strings.Contains(e, "s3cret") || !strings.Contains(e, srv.URL+"/hook") {
		t.Fatalf("err = %q, want the URL without its query", e)
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	p := setup(t, webhook.Config{URL: srv.URL, Timeout: 20 * time.Millisecond})
	err := p.PostProcess(t.Context(), note(), notifications.SendOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || notifications.IsPermanent(err) {
		t.Fatalf("err = %v, want the attempt's deadline, transient", err)
	}
}

func TestOneEndpointFailingDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	good, bad := newReceiver(t), newReceiver(t, code(400, ""))
	p := setup(t, webhook.Config{Endpoints: []webhook.Endpoint{{URL: bad.URL}, {URL: good.URL, Secret: secret}}})
	err := p.PostProcess(t.Context(), note(), notifications.SendOptions{})
	if err == nil || len(good.recorded()) != 1 || len(bad.recorded()) != 1 {
		t.Fatalf("err=%v good=%d bad=%d", err, len(good.recorded()), len(bad.recorded()))
	}
	// The only failure is permanent, so the attempt is.
	if !notifications.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
}

// A retry of the delivery calls only the endpoints that failed; an attempt
// that met a permanent and a transient failure is worth retrying.
func TestRetryCallsOnlyFailedEndpoints(t *testing.T) {
	t.Parallel()
	good, flaky, bad := newReceiver(t), newReceiver(t, code(500, "")), newReceiver(t, code(404, ""), code(404, ""))
	p := setup(t, webhook.Config{Endpoints: []webhook.Endpoint{{URL: good.URL}, {URL: flaky.URL}, {URL: bad.URL}}})
	err := p.PostProcess(inDelivery(t, "d-1", 1), note(), notifications.SendOptions{})
	if err == nil || notifications.IsPermanent(err) {
		t.Fatalf("first attempt: err = %v, want transient (the 500 may pass next time)", err)
	}
	err = p.PostProcess(inDelivery(t, "d-1", 2), note(), notifications.SendOptions{})
	if !notifications.IsPermanent(err) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("second attempt: err = %v, want the 404 alone, permanent", err)
	}
	if g, f, b := len(good.recorded()), len(flaky.recorded()), len(bad.recorded()); g != 1 || f != 2 || b != 2 {
		t.Fatalf("calls good=%d flaky=%d bad=%d, want 1, 2, 2", g, f, b)
	}
	if a, b := flaky.recorded()[0].Header.Get("webhook-id"), flaky.recorded()[1].Header.Get("webhook-id"); a != "d-1" || b != "d-1" {
		t.Fatalf("webhook-ids %q, %q", a, b)
	}

	// Another delivery starts from scratch.
	if err := p.PostProcess(inDelivery(t, "d-2", 1), note(), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if g := len(good.recorded()); g != 2 {
		t.Fatalf("good endpoint called %d times, want 2", g)
	}
}

func TestConcurrentPostProcess(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p := setup(t, webhook.Config{URL: r.URL, Secret: secret})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := p.PostProcess(t.Context(), note(), notifications.SendOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, h := range r.recorded() {
		ids[h.Header.Get("webhook-id")] = true
	}
	if len(ids) != 20 {
		t.Fatalf("%d distinct ids for 20 messages", len(ids))
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := map[string]webhook.Config{
		"nothing":        {},
		"secret no url":  {Secret: secret},
		"relative url":   {URL: "/hook"},
		"ftp url":        {URL: "ftp://x/hook"},
		"bad secret":     {URL: "https://x/hook", Secret: "whsec_!!!"},
		"bad filter":     {URL: "https://x/hook", Filter: notifications.ProcessorFilter{MinSeverity: "x"}},
		"negative limit": {URL: "https://x/hook", Timeout: -1},
	}
	for name, cfg := range tests {
		if _, err := webhook.New(cfg); !errors.Is(err, webhook.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
	p, err := webhook.New(webhook.Config{Name: "Audit hook", URL: "https://x/hook"})
	if err != nil || p.Name() != "Audit hook" {
		t.Fatalf("%v %v", p, err)
	}
}
