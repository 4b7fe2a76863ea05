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
// and its headers are webhook-id (unique per message, the same on every
// retry of it, so receivers can de-duplicate), webhook-timestamp (unix
// seconds of the attempt) and webhook-signature ("v1,<base64 HMAC-SHA256
// of id.timestamp.body>"). The processor runs once per delivered recipient,
// so a notification to ten users is ten calls (one for a broadcast).
//
// Network errors, 429 (after its Retry-After) and 5xx answers are retried
// with exponential backoff and jitter, at most Config.Retry.MaxAttempts
// (5) times in all; other answers are final. Endpoints are called in
// parallel, so one slow receiver does not delay the others. Failures are
// counted in Config.Metrics and returned joined, each wrapped with the
// notification id and the endpoint's URL without its user info, query and
// fragment, where receivers put keys; the processor does not log them, the
// notifications Service does, once.
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
	// Timeout bounds each attempt, whatever the context's deadline.
	// Defaults to 10 seconds.
	Timeout time.Duration
	// Retry bounds the attempts (MaxAttempts, 5 by default, the first
	// included) and the backoff between them (BaseDelay 500ms doubling to
	// MaxDelay 1 minute, with full jitter). A Retry-After longer than
	// MaxDelay is given up on. Defaults to processors.Retry's defaults.
	Retry processors.Retry
	// Filter limits the processor to some severities and topics. Defaults
	// to every notification.
	Filter notifications.ProcessorFilter
	// HTTPClient makes the calls. Defaults to a new http.Client.
	HTTPClient *http.Client
	// Logger receives retries. Delivery failures are returned, not
	// logged. Defaults to slog.Default().
	Logger *slog.Logger
	// Metrics counts calls delivered, failed and retried, per endpoint.
	// Defaults to none.
	Metrics *processors.Metrics
	// NowFunc is the clock for envelopes and signatures. Defaults to
	// time.Now.
	NowFunc func() time.Time
	// NewIDFunc returns a webhook-id, which must be unique per message.
	// Defaults to "msg_" and a random UUID.
	NewIDFunc func() string
}

// Processor is the webhook processor. It is safe for concurrent use.
type Processor struct {
	cfg       Config
	endpoints []endpoint
	log       *slog.Logger
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
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
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
		errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
	}
	if err := cfg.Retry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.NewIDFunc == nil {
		cfg.NewIDFunc = func() string { return "msg_" + uuid.New() }
	}
	p.cfg = cfg
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

// PostProcess POSTs n in an Envelope to every endpoint in parallel and
// waits for them. Each endpoint's failure (after retries) is counted and
// returned, wrapped with the notification id and the redacted URL, joined
// with the others.
func (p *Processor) PostProcess(ctx context.Context, n notifications.Notification, _ notifications.SendOptions) error {
	env := Envelope{Type: EventCreated, Timestamp: p.cfg.NowFunc().UTC().Truncate(time.Millisecond), Data: n}
	if n.Updated != nil {
		env.Type = EventUpdated
	}
	body, err := json.Marshal(env)
	if err != nil {
		p.cfg.Metrics.Add(p.cfg.Name, processors.EventFailed)
		return fmt.Errorf("webhook: notification %s: encode: %w", n.ID, err)
	}
	id := p.cfg.NewIDFunc()
	errs := make([]error, len(p.endpoints))
	var wg sync.WaitGroup
	for i, e := range p.endpoints {
		wg.Go(func() {
			log := p.log.With("processor", p.cfg.Name, "notification_id", n.ID, "webhook_id", id, "url", redact(e.url))
			if err := p.deliver(ctx, log, e, id, body); err != nil {
				p.cfg.Metrics.Add(p.cfg.Name, processors.EventFailed)
				errs[i] = fmt.Errorf("webhook: notification %s to %s: %w", n.ID, redact(e.url), err)
				return
			}
			p.cfg.Metrics.Add(p.cfg.Name, processors.EventSent)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// StatusError is a final non-2xx answer.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
}

// Error says which status the endpoint answered.
func (e *StatusError) Error() string {
	return "answered " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
}

func (p *Processor) deliver(ctx context.Context, log *slog.Logger, e endpoint, id string, body []byte) error {
	return p.cfg.Retry.Do(ctx, func(ctx context.Context, attempt int) error {
		if attempt > 1 {
			p.cfg.Metrics.Add(p.cfg.Name, processors.EventRetried)
			log.Info("webhook: retrying", "attempt", attempt)
		}
		actx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(actx, http.MethodPost, e.url, bytes.NewReader(body))
		if err != nil {
			return redactError(err)
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
			err = redactError(err)
			if ctx.Err() != nil {
				return err
			}
			return processors.Retryable(err) // refused, reset, or this attempt's timeout
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil
		}
		serr := &StatusError{Code: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			after, _ := processors.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
			return processors.RetryAfter(serr, after)
		}
		return serr
	})
}

// redact drops the user info, query and fragment from a URL for error
// texts and logs: receivers often put a key there.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// redactError redacts the URL a *url.Error in err's chain carries (net/http
// wraps every failed call in one, naming the whole URL), and returns err.
func redactError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		ue.URL = redact(ue.URL)
	}
	return err
}
