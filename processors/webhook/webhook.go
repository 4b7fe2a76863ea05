// Package webhook is a processor that POSTs each delivered notification as
// JSON to HTTP endpoints, signed per Standard Webhooks
// (https://www.standardwebhooks.com), so any receiver can check that a
// call came from Herald and was not replayed. Receivers written in Go use
// Verify.
//
// Each call's body is an Envelope:
//
//	{
//	  "type": "notification.created",      // or "notification.updated" for a scoped re-send
//	  "timestamp": "2025-01-01T10:00:00.123Z", // when the event was built, RFC 3339 UTC
//	  "data": { ...the notification... }   // notifications.Notification's JSON: id, user (null for a broadcast), origin, created, updated, read, saved, payload
//	}
//
// and its headers are webhook-id (see below), webhook-timestamp (unix
// seconds of the attempt) and webhook-signature ("v1,<base64 HMAC-SHA256
// of id.timestamp.body>"). The processor runs once per delivered
// recipient, so a notification to ten users is ten calls to each endpoint
// (one for a broadcast).
//
// # Delivery, retries and de-duplication
//
// Inside a notifications Service, each PostProcess call is one attempt of
// a durable delivery: the Service retries a failed attempt with backoff
// (notifications.Config.Retry), after a restart too, and records the
// outcome. The processor itself does not retry. Delivery is at least once:
// a receiver can get the same call twice (an answer lost on the way, a
// crash before the outcome was recorded), so receivers de-duplicate by
// webhook-id, which is the same on every attempt: the delivery id
// (notifications.DeliveryFromContext), followed for a notification.updated
// event by "_" and the update's time in Unix nanoseconds, so that a scoped
// re-send that replaced a pending delivery's content is a new message, not
// taken for a retry of the old one. Called outside a Service (no delivery
// in the context), PostProcess takes a new id from Config.NewIDFunc.
//
// An attempt calls every endpoint once, in parallel, so one slow receiver
// does not delay the others, and classifies each failure for the Service:
//
//   - an answer below 500 that is neither 2xx, 408 nor 429 (a 400, 401,
//     404, 410...) is permanent (notifications.Permanent): retrying cannot
//     fix it, the delivery fails at once;
//   - a 429 or 503 with a Retry-After header is retried no sooner than it
//     asks (notifications.RetryLater), at most processors.MaxRetryAfter (an
//     hour) later;
//   - any other 408, 429 or 5xx answer, a network error and a timeout
//     (Config.Timeout) are transient: a plain error, retried after the
//     Service's backoff.
//
// With several endpoints, an attempt is permanent only when every failure
// in it is. An endpoint that answered 2xx is remembered, in memory, for a
// day: the retries this process runs call only the endpoints that failed
// (after a restart, or on another instance, every endpoint is called
// again, with the same webhook-id).
//
// Failures are returned joined, each wrapped
// with the notification id and the endpoint's URL without its user info,
// query and fragment, where receivers put keys (the URL inside a
// *url.Error from net/http is redacted the same way); the processor does
// not log them, the notifications Service does, once.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors"
	"github.com/heraldhq/herald/processors/internal/attempt"
	"github.com/heraldhq/herald/processors/internal/configerr"
)

// DefaultName is the processor's name, and so its settings channel id,
// when Config.Name is empty.
const DefaultName = "Webhook"

// Event types.
const (
	// EventCreated is a new notification.
	EventCreated = "notification.created"
	// EventUpdated is a scoped re-send that replaced a notification's
	// content (its Updated is set).
	EventUpdated = "notification.updated"
)

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("webhook: invalid config")

// Envelope is the JSON body of every call. Receivers can decode it.
type Envelope struct {
	// Type is EventCreated or EventUpdated.
	Type string `json:"type"`
	// Timestamp is when the event was built: RFC 3339 in UTC, to the
	// millisecond.
	Timestamp time.Time `json:"timestamp"`
	// Data is the notification as Herald's REST API returns it.
	Data notifications.Notification `json:"data"`
}

// Endpoint is one receiver.
type Endpoint struct {
	// URL is where to POST; http or https. Required.
	URL string
	// Secret signs calls: "whsec_" and base64, as Standard Webhooks
	// secrets are written. Defaults to none: calls are not signed.
	Secret string
	// Header is added to every call, for an API key or routing. Defaults
	// to none.
	Header http.Header
}

// Config configures the webhook processor. The zero value of every
// optional field means its default; New validates the rest.
type Config struct {
	// Name is the processor's name and settings channel id; give each
	// webhook processor of one service its own. Defaults to "Webhook".
	Name string
	// Endpoints receive every notification. Required, unless URL is set.
	Endpoints []Endpoint
	// URL and Secret are a shorthand for one more endpoint. Defaults to
	// none.
	URL, Secret string
	// Timeout bounds each call, whatever the context's deadline. Defaults
	// to 10 seconds.
	Timeout time.Duration
	// Filter limits the processor to some severities and topics. Defaults
	// to every notification.
	Filter notifications.ProcessorFilter
	// HTTPClient makes the calls. Defaults to a new http.Client with a
	// connection pool of its own (a clone of http.DefaultTransport), so
	// nothing else in the process that closes the default transport's
	// idle connections (httptest.Server.Close does) cuts a call short.
	HTTPClient *http.Client
	// Logger receives debug lines about endpoints a retry skips because an
	// earlier attempt reached them. Delivery failures are returned, not
	// logged. Defaults to slog.Default().
	Logger *slog.Logger
	// NowFunc is the clock for envelopes and signatures. Defaults to
	// time.Now.
	NowFunc func() time.Time
	// NewIDFunc returns the webhook-id of a call made outside a Service (no
	// delivery in the context); inside one, webhook-id comes from the
	// delivery id. It must be unique per message. Defaults to "msg_" and a
	// random UUID.
	NewIDFunc func() string
}

// Processor is the webhook processor. It is safe for concurrent use.
type Processor struct {
	cfg       Config
	endpoints []endpoint
	log       *slog.Logger
	reached   *attempt.Reached
}

type endpoint struct {
	url    string
	secret string
	header http.Header
}

var (
	_ notifications.Processor         = (*Processor)(nil)
	_ notifications.PostProcessor     = (*Processor)(nil)
	_ notifications.FilteredProcessor = (*Processor)(nil)
)

// New validates cfg and returns the processor.
func New(cfg Config) (*Processor, error) {
	faults := configerr.New(ErrConfig)
	bad := faults.Addf
	all := append([]Endpoint(nil), cfg.Endpoints...)
	if cfg.URL != "" {
		all = append(all, Endpoint{URL: cfg.URL, Secret: cfg.Secret})
	} else if cfg.Secret != "" {
		bad("Secret is set without URL")
	}
	if len(all) == 0 {
		bad("Endpoints or URL is required")
	}
	p := &Processor{}
	for i, e := range all {
		u, err := url.Parse(e.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad("endpoint %d: URL %q must be an absolute http or https URL", i, e.URL)
			continue
		}
		if e.Secret != "" {
			if _, err := decodeSecret(e.Secret); err != nil {
				bad("endpoint %d: %v", i, err)
				continue
			}
		}
		p.endpoints = append(p.endpoints, endpoint{url: e.URL, secret: e.Secret, header: e.Header.Clone()})
	}
	if cfg.Timeout < 0 {
		bad("Timeout must not be negative")
	}
	if err := cfg.Filter.Validate(); err != nil {
		faults.Add(err)
	}
	if err := faults.Err(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		cfg.HTTPClient = &http.Client{Transport: transport}
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.NewIDFunc == nil {
		cfg.NewIDFunc = func() string { return "msg_" + uuid.New() }
	}
	p.cfg = cfg
	p.reached = attempt.NewReached()
	p.log = cfg.Logger
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// Name returns Config.Name, "Webhook" by default.
func (p *Processor) Name() string { return p.cfg.Name }

// Filter returns Config.Filter.
func (p *Processor) Filter() notifications.ProcessorFilter { return p.cfg.Filter }

// PostProcess makes one attempt at delivering n: it POSTs n in an
// Envelope to every endpoint not reached by an earlier attempt of the same
// delivery, in parallel, and waits for them. Each endpoint's outcome is
// counted; the failures are returned joined, each wrapped with the
// notification id and the redacted URL, and classified as the package
// documentation says.
func (p *Processor) PostProcess(ctx context.Context, n notifications.Notification, _ notifications.SendOptions) error {
	env := Envelope{Type: EventCreated, Timestamp: p.cfg.NowFunc().UTC().Truncate(time.Millisecond), Data: n}
	if n.Updated != nil {
		env.Type = EventUpdated
	}
	body, err := json.Marshal(env)
	if err != nil {
		// The same notification encodes the same way on every attempt.
		return notifications.Permanent(fmt.Errorf("webhook: notification %s: encode: %w", n.ID, err))
	}
	id, stable := attempt.MessageID(ctx, n)
	if !stable {
		id = p.cfg.NewIDFunc()
	}
	done := p.reached.Load(id)
	var (
		out     attempt.Outcome
		mu      sync.Mutex
		reached []string
		wg      sync.WaitGroup
	)
	for i, e := range p.endpoints {
		// Endpoints are told apart by position: two may share a URL.
		key := strconv.Itoa(i)
		if done[key] {
			p.log.Debug("webhook: endpoint reached by an earlier attempt; skipped",
				"processor", p.cfg.Name, "notification_id", n.ID, "webhook_id", id, "url", attempt.RedactURL(e.url))
			continue
		}
		wg.Go(func() {
			err := p.deliver(ctx, e, id, body)
			if err == nil {
				mu.Lock()
				reached = append(reached, key)
				mu.Unlock()
				return
			}
			permanent, after := classify(err)
			out.Add(fmt.Errorf("webhook: notification %s to %s: %w", n.ID, attempt.RedactURL(e.url), err), permanent, after)
		})
	}
	wg.Wait()
	err = out.Err()
	if stable {
		p.reached.Finish(id, done, reached, err != nil)
	}
	return err
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// RetryAfter is the answer's Retry-After on a 429 or 503, at most
	// processors.MaxRetryAfter; 0 when it had none (or another code).
	RetryAfter time.Duration
}

// Error says which status the endpoint answered.
func (e *StatusError) Error() string {
	return "answered " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
}

// classify says whether err, one endpoint's failure, is permanent, and how
// long the endpoint asked to wait before the next attempt.
func classify(err error) (permanent bool, after time.Duration) {
	se, ok := errors.AsType[*StatusError](err)
	if !ok {
		return false, 0 // a network error or a timeout
	}
	switch {
	case se.Code == http.StatusRequestTimeout, se.Code == http.StatusTooManyRequests, se.Code >= 500:
		return false, se.RetryAfter
	}
	return true, 0
}

// deliver makes one call to e.
func (p *Processor) deliver(ctx context.Context, e endpoint, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return attempt.RedactError(err)
	}
	for k, vs := range e.header {
		req.Header[k] = vs
	}
	now := p.cfg.NowFunc()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Webhook/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if e.secret != "" {
		sig, err := Sign(e.secret, id, now, body)
		if err != nil {
			return err
		}
		req.Header.Set(HeaderSignature, sig)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return attempt.RedactError(err) // refused, reset, or this call's timeout
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	serr := &StatusError{Code: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		serr.RetryAfter, _ = processors.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return serr
}
