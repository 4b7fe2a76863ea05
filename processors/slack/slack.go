// Package slack is Herald's Slack processor, Backstage's
// notifications-backend-module-slack: it posts notifications to Slack
// channels and as direct messages with a bot token, over the Slack Web API
// (chat.postMessage, chat.update, users.lookupByEmail).
//
// Where messages go:
//
//   - A send to non-user entities (groups, components...) posts one message
//     per entity to the channel in the entity's slack.com/bot-notify
//     annotation, or to metadata.slackChannel when the payload sets it.
//     This happens in the options phase, once per send, before the send is
//     stored; the members the group resolves to get no direct message.
//   - A user explicitly named in the send's entity refs gets a direct
//     message: to the Slack id in their bot-notify annotation, else to the
//     Slack user with their profile email.
//   - A broadcast goes to the first matching Config.BroadcastRoutes entry,
//     else to Config.BroadcastChannels.
//
// Mentions written <@user:default/jane> in a description become real Slack
// mentions when the user can be resolved.
//
// A scoped re-send edits the earlier message (chat.update) when its
// timestamp is known. Timestamps live in a TimestampStore for TimestampTTL
// (see Processor.RunTimestampCleaner). Herald's bun store,
// [github.com/heraldhq/herald/store.Store], implements TimestampStore in a
// table of its own: pass it as Config.Timestamps, so that every instance on
// one database edits the same messages and a restart forgets none. The
// table stays in the store, beside the notifications, so that one migration
// track covers every table Herald creates. Without Config.Timestamps the
// processor keeps timestamps in memory (NewMemoryTimestamps): edits then
// work only within one process, and are forgotten on restart.
//
// Posting is throttled (10 messages per minute by default, Backstage's
// defaults). Failures are returned joined,
// each wrapped with the notification id (in the post-processing phase)
// and the channel; the processor does not log them, the notifications
// Service does, once.
//
// # Delivery, retries and duplicates
//
// Inside a notifications Service, each PostProcess call is one attempt of
// a durable delivery: the Service retries a failed attempt with backoff
// (notifications.Config.Retry), after a restart too, and records the
// outcome. PostProcess makes each API call once and classifies what
// failed for the Service:
//
//   - a rate limit (HTTP 429 with Retry-After) is retried no sooner than
//     Slack asks (notifications.RetryLater), at most
//     processors.MaxRetryAfter (an hour) later;
//   - a Slack error that retrying cannot fix is permanent
//     (notifications.Permanent): a bad channel (channel_not_found,
//     not_in_channel, is_archived, restricted_action...), a bad token or
//     missing rights (not_authed, invalid_auth, account_inactive,
//     token_revoked, token_expired, no_permission, missing_scope...), a
//     message Slack refuses (msg_too_long, no_text, invalid_blocks,
//     invalid_attachments, invalid_arguments...); so are another 4xx
//     answer and a user without a Slack account;
//   - anything else (5xx answers, internal_error, fatal_error, network
//     errors, a failing catalog) is transient: a plain error, retried after
//     the Service's backoff.
//
// With several channels (a routed broadcast), an attempt is permanent only
// when every failure in it is.
//
// Slack has no idempotency key for chat.postMessage, so the processor
// keeps its own: after each post (or edit) of a delivery it records the
// message in Config.Timestamps under the delivery's id, and an attempt of
// the same delivery skips a channel already recorded. A broadcast that
// failed in one of its channels is therefore not re-posted in the others,
// by any instance sharing the TimestampStore, and a crash after the post
// was recorded but before the Service recorded the outcome does not post
// twice either. What is left is at least once: a post Slack made whose
// answer was lost (a timeout), or that a crash cut off before it was
// recorded, is posted again by the retry. A scoped re-send that replaced a
// pending delivery's content is a new message under the same delivery, so
// it is posted (or edits the earlier one) as usual.
//
// The options phase (channel posts for groups and components) runs inside
// Send, before anything is stored, so no delivery backs it: there each
// API call is tried up to Config.OptionsAttempts times in process, waiting
// Slack's Retry-After when it is at most 10 seconds, else about 1 s, then
// about 2 s (with jitter); a longer rate limit, a permanent error or the
// last failure is returned for the Service to log. Keep OptionsAttempts
// low: these waits delay Send.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/heraldhq/herald/internal/entityref"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors"
	"github.com/heraldhq/herald/processors/internal/attempt"
	"github.com/heraldhq/herald/processors/internal/configerr"
	"github.com/heraldhq/herald/processors/internal/ttlcache"
)

// Name is the processor's name and settings channel id, Backstage's.
const Name = "SlackNotificationProcessor"

// Well-known keys.
const (
	// AnnotationBotNotify is the entity annotation naming where the bot
	// posts for it: a channel for a group or component, a Slack user id
	// for a user.
	AnnotationBotNotify = "slack.com/bot-notify"
	// MetadataChannel is the payload metadata key that overrides the
	// channel of an entity send.
	MetadataChannel = "slackChannel"
)

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("slack: invalid config")

// TimestampTTL is how long message timestamps are kept for scoped updates,
// and a delivery's record of its posts against a repeat.
const TimestampTTL = 24 * time.Hour

// Route sends broadcasts of an origin, a topic, or both, to channels. Among
// routes, the first matching both origin and topic wins, then the first
// matching the origin alone (a route without a topic), then the first
// matching the topic alone (a route without an origin).
type Route struct {
	// Origin matches the sender, like "plugin:catalog". Defaults to any
	// origin (a topic-only route).
	Origin string `json:"origin,omitempty"`
	// Topic matches the notification's topic. Defaults to any topic (an
	// origin-only route).
	Topic string `json:"topic,omitempty"`
	// Channels are the channel ids or names to post to. Required.
	Channels []string `json:"channel"`
}

// Config configures the Slack processor. The zero value of every optional
// field means its default; New validates the rest.
type Config struct {
	// Token is the bot token (xoxb-...). Required.
	Token string
	// BroadcastChannels receive broadcasts no route matches (Backstage's
	// deprecated broadcastChannels). Defaults to none.
	BroadcastChannels []string
	// BroadcastRoutes pick broadcast channels by origin and topic.
	// Defaults to none.
	BroadcastRoutes []Route
	// Username is the sender name shown on messages. Defaults to the
	// bot's own.
	Username string
	// ConcurrencyLimit is how many messages may be posted per
	// ThrottleInterval. Defaults to 10.
	ConcurrencyLimit int
	// ThrottleInterval is the throttle's window. Defaults to 1 minute.
	ThrottleInterval time.Duration

	// Catalog finds entities' bot-notify annotations and users' profile
	// emails. Defaults to none: only broadcasts and sends carrying
	// metadata.slackChannel are delivered.
	Catalog notifications.Catalog
	// CacheTTL is how long catalog entities and Slack user ids are kept.
	// Defaults to 10 minutes.
	CacheTTL time.Duration
	// Timestamps keeps posted messages' timestamps for scoped updates;
	// pass the *store.Store to share them between instances and keep them
	// across restarts. Defaults to NewMemoryTimestamps(): one process
	// only, forgotten on restart.
	Timestamps TimestampStore
	// BaseURL is the application's base URL; relative links are made
	// absolute against it for the "View More" button. Defaults to none:
	// only absolute links get a button.
	BaseURL string

	// Filter limits the processor to some severities and topics. Defaults
	// to every notification.
	Filter notifications.ProcessorFilter
	// OptionsAttempts bounds the attempts of each API call of the options
	// phase (a group's channel post), which the processor retries in
	// process because no delivery backs it. 1 turns these retries off; at
	// most 10. Post-processing calls are tried once each: the Service
	// retries the delivery. Defaults to 3.
	OptionsAttempts int
	// Timeout bounds one API call when the context has no deadline.
	// Defaults to 30 seconds.
	Timeout time.Duration
	// HTTPClient makes the API calls. Defaults to a new http.Client with a
	// connection pool of its own (a clone of http.DefaultTransport), so
	// code elsewhere that closes the default transport's idle connections
	// cannot cut a call short.
	HTTPClient *http.Client
	// APIURL is the Web API's base URL, for tests and proxies. Defaults to
	// "https://slack.com/api/".
	APIURL string
	// Logger receives the options phase's retries, what the processor
	// skips or falls back from (an entity missing from the catalog, a
	// mention it cannot resolve, a message it cannot edit, a channel an
	// earlier attempt already posted to) and timestamp cleaner failures.
	// Delivery failures are returned, not logged. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// NowFunc is the clock for stored timestamps and the cleaner. Defaults
	// to time.Now.
	NowFunc func() time.Time
}

// Processor is the Slack processor. It is safe for concurrent use.
type Processor struct {
	cfg      Config
	api      *slack.Client
	throttle *processors.Throttle
	log      *slog.Logger
	entities *ttlcache.Cache[string, entityResult]
	userIDs  *ttlcache.Cache[string, string]
	sleep    func(ctx context.Context, d time.Duration) error // between the options phase's attempts
}

type entityResult struct {
	entity notifications.CatalogEntity
	found  bool
}

var (
	_ notifications.Processor         = (*Processor)(nil)
	_ notifications.OptionsProcessor  = (*Processor)(nil)
	_ notifications.PostProcessor     = (*Processor)(nil)
	_ notifications.FilteredProcessor = (*Processor)(nil)
)

// New validates cfg and returns the processor. It makes no API call.
func New(cfg Config) (*Processor, error) {
	faults := configerr.New(ErrConfig)
	bad := faults.Addf
	if cfg.Token == "" {
		bad("Token is required")
	}
	for i, r := range cfg.BroadcastRoutes {
		if len(r.Channels) == 0 || slices.Contains(r.Channels, "") {
			bad("BroadcastRoutes[%d] needs channels", i)
		}
		if r.Origin == "" && r.Topic == "" {
			bad("BroadcastRoutes[%d] needs an origin or a topic (BroadcastChannels is the catch-all)", i)
		}
	}
	if cfg.ConcurrencyLimit < 0 || cfg.ThrottleInterval < 0 || cfg.CacheTTL < 0 || cfg.Timeout < 0 {
		bad("ConcurrencyLimit, ThrottleInterval, CacheTTL and Timeout must not be negative")
	}
	if cfg.OptionsAttempts < 0 || cfg.OptionsAttempts > 10 {
		bad("OptionsAttempts %d is not between 1 and 10", cfg.OptionsAttempts)
	}
	if cfg.BaseURL != "" && !processors.IsAbsoluteURL(cfg.BaseURL) {
		bad("BaseURL %q must be an absolute http or https URL", cfg.BaseURL)
	}
	if cfg.APIURL != "" {
		if u, err := url.Parse(cfg.APIURL); err != nil || u.Host == "" {
			bad("APIURL %q must be an absolute URL", cfg.APIURL)
		}
	}
	if err := cfg.Filter.Validate(); err != nil {
		faults.Add(err)
	}
	if err := faults.Err(); err != nil {
		return nil, err
	}

	if cfg.ConcurrencyLimit == 0 {
		cfg.ConcurrencyLimit = 10
	}
	if cfg.ThrottleInterval == 0 {
		cfg.ThrottleInterval = time.Minute
	}
	if cfg.OptionsAttempts == 0 {
		cfg.OptionsAttempts = 3
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 10 * time.Minute
	}
	if cfg.Timestamps == nil {
		cfg.Timestamps = NewMemoryTimestamps()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	p := &Processor{
		cfg:      cfg,
		api:      slack.New(cfg.Token, slack.OptionAPIURL(cfg.APIURL), slack.OptionHTTPClient(cfg.HTTPClient)),
		throttle: processors.NewThrottle(cfg.ConcurrencyLimit, cfg.ThrottleInterval),
		log:      cfg.Logger,
		entities: ttlcache.New[string, entityResult](cfg.CacheTTL, nil),
		userIDs:  ttlcache.New[string, string](cfg.CacheTTL, nil),
		sleep:    sleep,
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("processor", Name)
	return p, nil
}

// Name returns "SlackNotificationProcessor".
func (p *Processor) Name() string { return Name }

// Filter returns Config.Filter.
func (p *Processor) Filter() notifications.ProcessorFilter { return p.cfg.Filter }

// ProcessOptions posts one channel message per non-user entity of an
// entity send: to metadata.slackChannel when set, else to the entity's
// bot-notify annotation; entities without either are skipped, entities
// missing from the catalog are logged at warning level and skipped. A
// channel named by several entities gets one message. A scoped send whose
// earlier message in a channel is known edits it. It runs before the send
// is stored and waits for the posts (the throttle, and in-process retries
// of each call up to Config.OptionsAttempts, within ctx). The options are
// returned unchanged; failures are counted and returned joined.
func (p *Processor) ProcessOptions(ctx context.Context, o notifications.SendOptions) (notifications.SendOptions, error) {
	if o.Recipients.IsBroadcast() {
		return o, nil
	}
	r := run{log: p.log.With("origin", o.Origin), attempts: p.cfg.OptionsAttempts}
	override, _ := o.Payload.Metadata[MetadataChannel].(string)
	override = strings.TrimSpace(override)
	var channels []string
	var errs []error
	for _, raw := range o.Recipients.EntityRefs {
		ref, err := entityref.Parse(raw)
		if err != nil || ref.IsUser() {
			continue
		}
		channel := override
		if channel == "" {
			e, found, err := p.entity(ctx, ref.String())
			if err != nil {
				errs = append(errs, fmt.Errorf("slack: entity %s: %w", ref, err))
				continue
			}
			if !found {
				r.log.Warn("slack: entity not found in the catalog; skipped", "entity", ref.String())
				continue
			}
			channel = strings.TrimSpace(e.Annotations[AnnotationBotNotify])
		}
		if channel != "" && !slices.Contains(channels, channel) {
			channels = append(channels, channel)
		}
	}
	for _, channel := range channels {
		if err := p.deliver(ctx, r, o.Origin, o.Payload, channel, o.Payload.Scope != ""); err != nil {
			errs = append(errs, fmt.Errorf("slack: %w", err))
		}
	}
	return o, errors.Join(errs...)
}

// PostProcess makes one attempt at delivering n: it posts a broadcast to
// its routed channels, and sends a direct message to a user named
// explicitly in the send's entity refs (refs compared canonically); users
// reached through a group get nothing here, their group's channel was
// posted in ProcessOptions. A user without a resolvable Slack account is a
// permanent error. A scoped re-send (n.Updated set) edits the earlier
// message when its timestamp is known; when it is not (first send, after
// TimestampTTL, or a re-send post-processed before the first delivery
// finished) a new message is posted. Inside a Service, a channel an
// earlier attempt of the same delivery posted to is skipped. Each API call
// is made once; failures are classified as the package documentation says.
func (p *Processor) PostProcess(ctx context.Context, n notifications.Notification, o notifications.SendOptions) error {
	r := run{log: p.log.With("notification_id", n.ID, "origin", n.Origin), attempts: 1}
	r.messageID, _ = attempt.MessageID(ctx, n)
	updated := n.Updated != nil
	var out attempt.Outcome
	fail := func(err error) {
		err = fmt.Errorf("slack: notification %s: %w", n.ID, err)
		permanent, after := classify(err)
		out.Add(err, permanent, after)
	}
	if n.IsBroadcast() {
		for _, channel := range p.routeChannels(n.Origin, n.Payload.Topic) {
			if err := p.deliver(ctx, r, n.Origin, n.Payload, channel, updated); err != nil {
				fail(err)
			}
		}
		return out.Err()
	}
	if !explicitlyNamed(n.User, o.Recipients.EntityRefs) {
		return nil
	}
	target, err := p.slackUserID(ctx, r, n.User)
	if err == nil && target == "" {
		err = fmt.Errorf("%w for %s: no %s annotation and no account with its profile email", errNoSlackUser, n.User, AnnotationBotNotify)
	}
	if err != nil {
		fail(fmt.Errorf("recipient %s: %w", n.User, err))
		return out.Err()
	}
	if err := p.deliver(ctx, r, n.Origin, n.Payload, target, updated); err != nil {
		fail(err)
	}
	return out.Err()
}

// errNoSlackUser is wrapped by the error for a user the processor cannot
// find in Slack. It is permanent: a missing annotation or account is fixed
// by a person, not by waiting (and the lookups are cached for CacheTTL).
var errNoSlackUser = errors.New("no Slack user")

// run is what one phase's calls share.
type run struct {
	log *slog.Logger
	// attempts bounds each API call's attempts: 1 in PostProcess, where the
	// Service retries; Config.OptionsAttempts in ProcessOptions.
	attempts int
	// messageID is the delivery's message id (attempt.MessageID), "" outside
	// a delivery: the key under which posts are recorded against repeats.
	messageID string
}

func explicitlyNamed(user string, refs []string) bool {
	want, err := entityref.Canonical(user)
	if err != nil {
		return false
	}
	for _, r := range refs {
		if c, err := entityref.Canonical(r); err == nil && c == want {
			return true
		}
	}
	return false
}

// RouteChannels returns the channels a broadcast of origin and topic ("" for
// none) goes to: the first route matching both, else the first origin-only
// route matching origin, else the first topic-only route matching topic,
// else Config.BroadcastChannels (none when that is empty). The slice is the
// caller's.
func (p *Processor) RouteChannels(origin, topic string) []string {
	return slices.Clone(p.routeChannels(origin, topic))
}

func (p *Processor) routeChannels(origin, topic string) []string {
	routes := p.cfg.BroadcastRoutes
	if topic != "" {
		for _, r := range routes {
			if r.Origin == origin && r.Topic == topic {
				return r.Channels
			}
		}
	}
	for _, r := range routes {
		if r.Topic == "" && r.Origin == origin {
			return r.Channels
		}
	}
	if topic != "" {
		for _, r := range routes {
			if r.Origin == "" && r.Topic == topic {
				return r.Channels
			}
		}
	}
	return p.cfg.BroadcastChannels
}

// deliveryScope prefixes the scope under which a delivery's posts are
// recorded in the TimestampStore, with an empty origin: a scoped
// notification's own entries always have an origin, so the two never meet.
const deliveryScope = "herald-delivery:"

// deliver posts payload to channel, or edits the earlier message of the
// same origin and scope there when update is set and one is known, then
// remembers the message for later edits. Inside a delivery it first looks
// for the post an earlier attempt recorded, and skips the channel when
// there is one; after posting it records the post. It counts the outcome
// and returns a failure wrapped with the channel.
func (p *Processor) deliver(ctx context.Context, r run, origin string, payload notifications.Payload, channel string, update bool) error {
	log := r.log.With("channel", channel)
	if r.messageID != "" {
		_, posted, err := p.cfg.Timestamps.SlackTimestamp(ctx, "", deliveryScope+r.messageID, channel)
		if err != nil {
			// Posting regardless could post twice; the retry will know.
			return fmt.Errorf("channel %s: reading the delivery's earlier posts: %w", channel, err)
		}
		if posted {
			log.Debug("slack: posted by an earlier attempt of the delivery; skipped")
			return nil
		}
	}
	ref, err := p.deliverOnce(ctx, r, log, origin, payload, channel, update)
	if err != nil {
		return fmt.Errorf("channel %s: %w", channel, err)
	}
	if r.messageID != "" {
		if ref == "" {
			ref = "posted"
		}
		if err := p.cfg.Timestamps.PutSlackTimestamp(ctx, "", deliveryScope+r.messageID, channel, ref, p.cfg.NowFunc()); err != nil {
			// The message went out; only the guard against a repeat is lost.
			log.Warn("slack: recording the delivery's post failed; a retry may post it again", "error", err)
		}
	}
	return nil
}

// deliverOnce posts or edits, and returns the message's stored reference
// (encodeTimestamp's form).
func (p *Processor) deliverOnce(ctx context.Context, r run, log *slog.Logger, origin string, payload notifications.Payload, channel string, update bool) (string, error) {
	scope := payload.Scope
	scoped := origin != "" && scope != ""
	payload.Description = p.replaceMentions(ctx, r, log, payload.Description)
	opts := p.message(payload)

	if scoped && update {
		stored, ok, err := p.cfg.Timestamps.SlackTimestamp(ctx, origin, scope, channel)
		if err != nil {
			log.Warn("slack: reading the stored message timestamp failed; posting a new message", "error", err)
		}
		if ok {
			msgChannel, ts := decodeTimestamp(stored, channel)
			err := p.call(ctx, r, "chat.update", true, func(ctx context.Context) error {
				_, _, _, err := p.api.UpdateMessageContext(ctx, msgChannel, ts, opts...)
				return err
			})
			if err == nil {
				return stored, nil
			}
			if !isSlackError(err, "message_not_found", "cant_update_message", "edit_window_closed") {
				return "", err
			}
			log.Info("slack: the earlier message cannot be edited; posting a new one", "error", err)
		}
	}

	var respChannel, ts string
	err := p.call(ctx, r, "chat.postMessage", true, func(ctx context.Context) error {
		var err error
		respChannel, ts, err = p.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		return "", err
	}
	ref := encodeTimestamp(respChannel, ts, channel)
	if scoped && ts != "" {
		if err := p.cfg.Timestamps.PutSlackTimestamp(ctx, origin, scope, channel, ref, p.cfg.NowFunc()); err != nil {
			// The message went out; only a later edit is lost.
			log.Warn("slack: storing the message timestamp failed", "error", err)
		}
	}
	return ref, nil
}

// encodeTimestamp stores the channel Slack answered with beside ts when it
// differs from the target: a direct message posted to a user id lives in a
// D... channel, and chat.update needs that one.
func encodeTimestamp(respChannel, ts, target string) string {
	if respChannel == "" || respChannel == target {
		return ts
	}
	return respChannel + "/" + ts
}

func decodeTimestamp(v, target string) (channel, ts string) {
	if i := strings.LastIndexByte(v, '/'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return target, v
}

// Bounds of the options phase's in-process retries.
const (
	optionsBackoff = time.Second      // before the second attempt; doubled for each next one
	optionsMaxWait = 10 * time.Second // the longest Retry-After waited in process
)

// call runs one API call, throttled when it posts, with a timeout when ctx
// has none, up to r.attempts times: a transient failure is retried after
// Slack's Retry-After (when at most optionsMaxWait) or a jittered backoff.
// The error is the last attempt's, with the URL of a *url.Error redacted.
func (p *Processor) call(ctx context.Context, r run, method string, throttled bool, fn func(ctx context.Context) error) error {
	for n := 1; ; n++ {
		err := p.callOnce(ctx, method, throttled, fn)
		if err == nil || n >= r.attempts || ctx.Err() != nil {
			return err
		}
		permanent, wait := classify(err)
		if permanent {
			return err
		}
		if wait == 0 {
			d := optionsBackoff << (n - 1)
			wait = d/2 + rand.N(d/2+1)
		}
		if wait > optionsMaxWait {
			return err
		}
		r.log.Info("slack: retrying", "method", method, "attempt", n+1, "wait", wait, "error", err)
		if serr := p.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (last error: %w)", serr, err)
		}
	}
}

func (p *Processor) callOnce(ctx context.Context, method string, throttled bool, fn func(ctx context.Context) error) error {
	if throttled {
		if err := p.throttle.Wait(ctx); err != nil {
			return err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}
	if err := fn(ctx); err != nil {
		return fmt.Errorf("%s: %w", method, attempt.RedactError(err))
	}
	return nil
}

// permanentErrors are the Slack error codes (of chat.postMessage,
// chat.update, users.lookupByEmail and every method's common ones) that
// retrying cannot fix: the channel, the token, the app's rights or the
// message itself must change first.
var permanentErrors = map[string]bool{
	// the channel or the user
	"channel_not_found": true, "not_in_channel": true, "is_archived": true, "user_not_found": true,
	"user_not_visible": true, "user_disabled": true, "cannot_dm_bot": true, "messages_tab_disabled": true,
	"restricted_action": true, "restricted_action_read_only_channel": true,
	"restricted_action_thread_only_channel": true, "restricted_action_non_threadable_channel": true,
	"team_access_not_granted": true, "ekm_access_denied": true, "as_user_not_supported": true,
	// the token and the app's rights
	"not_authed": true, "invalid_auth": true, "account_inactive": true, "token_revoked": true,
	"token_expired": true, "no_permission": true, "missing_scope": true, "not_allowed_token_type": true,
	"org_login_required": true, "two_factor_setup_required": true, "access_denied": true,
	"enterprise_is_restricted": true, "method_deprecated": true, "deprecated_endpoint": true,
	// the message
	"msg_too_long": true, "no_text": true, "too_many_attachments": true, "invalid_blocks": true,
	"invalid_blocks_format": true, "invalid_attachments": true, "invalid_metadata_format": true,
	"invalid_metadata_schema": true, "metadata_too_large": true, "invalid_arguments": true,
	"invalid_arg_name": true, "invalid_array_arg": true, "invalid_charset": true, "invalid_form_data": true,
	"invalid_post_type": true, "missing_post_type": true, "cant_update_message": true,
	"edit_window_closed": true, "message_not_found": true,
}

// classify says whether err, one call's or one channel's failure, is
// permanent, and how long Slack asked to wait before the next attempt.
func classify(err error) (permanent bool, after time.Duration) {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return false, min(max(rl.RetryAfter, 0), processors.MaxRetryAfter)
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok {
		return sc.Code < 500 && sc.Code != http.StatusRequestTimeout && sc.Code != http.StatusTooManyRequests, 0
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return permanentErrors[se.Err], 0
	}
	return errors.Is(err, errNoSlackUser), 0
}

func isSlackError(err error, codes ...string) bool {
	se, ok := errors.AsType[slack.SlackErrorResponse](err)
	return ok && slices.Contains(codes, se.Err)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Attachment colours by severity, Backstage's.
const (
	colorCritical = "#FF0000"
	colorHigh     = "#FFA500"
	colorOther    = "#00A699"
)

// message lays a payload out as Backstage does: text = title; one
// attachment coloured by severity with the title as fallback, a mrkdwn
// section with the description and a "View More" button to the link, and
// a context line with severity and topic.
func (p *Processor) message(payload notifications.Payload) []slack.MsgOption {
	color := colorOther
	switch payload.Severity {
	case notifications.SeverityCritical:
		color = colorCritical
	case notifications.SeverityHigh:
		color = colorHigh
	}
	description := payload.Description
	if description == "" {
		description = "No description provided"
	}
	var accessory *slack.Accessory
	if link := p.link(payload.Link); link != "" {
		button := slack.NewButtonBlockElement("button-action", "", slack.NewTextBlockObject(slack.PlainTextType, "View More", false, false)).WithURL(link)
		accessory = slack.NewAccessory(button)
	}
	topic := payload.Topic
	if topic == "" {
		topic = "N/A"
	}
	attachment := slack.Attachment{
		Color:    color,
		Fallback: payload.Title,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, description, false, false), nil, accessory),
			slack.NewContextBlock("",
				slack.NewTextBlockObject(slack.PlainTextType, "Severity: "+string(payload.Severity.OrDefault()), true, false),
				slack.NewTextBlockObject(slack.PlainTextType, "Topic: "+topic, true, false),
			),
		}},
	}
	// The title is escaped (&, <, >) so a sender cannot smuggle <!channel>
	// or a disguised link into it; the description keeps Slack markup, as
	// Backstage's does, because mentions are written in it.
	opts := []slack.MsgOption{slack.MsgOptionText(payload.Title, true), slack.MsgOptionAttachments(attachment)}
	if p.cfg.Username != "" {
		opts = append(opts, slack.MsgOptionUsername(p.cfg.Username))
	}
	return opts
}

// link returns the button's URL: the link made absolute against BaseURL,
// or "" when there is no link or it cannot be made absolute.
func (p *Processor) link(link string) string {
	if strings.TrimSpace(link) == "" {
		return ""
	}
	if processors.IsAbsoluteURL(link) {
		return link
	}
	if p.cfg.BaseURL == "" {
		return ""
	}
	if abs := processors.AbsoluteLink(p.cfg.BaseURL, link); processors.IsAbsoluteURL(abs) {
		return abs
	}
	return ""
}

var mention = regexp.MustCompile(`<@(user:[^<>|\s]+)>`)

// replaceMentions turns <@user:ns/name> into <@SLACKID> for each user that
// resolves; the others are left as written.
func (p *Processor) replaceMentions(ctx context.Context, r run, log *slog.Logger, s string) string {
	if !strings.Contains(s, "<@user:") {
		return s
	}
	return mention.ReplaceAllStringFunc(s, func(m string) string {
		ref := mention.FindStringSubmatch(m)[1]
		id, err := p.slackUserID(ctx, r, ref)
		if err != nil {
			log.Warn("slack: cannot resolve a mention", "user", ref, "error", err)
		}
		if id == "" {
			return m
		}
		return "<@" + id + ">"
	})
}

// slackUserID returns the Slack user id of a user entity: its bot-notify
// annotation, else the Slack account with its profile email; "" when
// neither exists.
func (p *Processor) slackUserID(ctx context.Context, r run, userRef string) (string, error) {
	ref, err := entityref.Canonical(userRef)
	if err != nil {
		return "", err
	}
	e, found, err := p.entity(ctx, ref)
	if err != nil || !found {
		return "", err
	}
	if id := strings.TrimSpace(e.Annotations[AnnotationBotNotify]); id != "" {
		return id, nil
	}
	email := strings.ToLower(strings.TrimSpace(e.Profile.Email))
	if email == "" {
		return "", nil
	}
	if id, ok := p.userIDs.Get(email); ok {
		return id, nil
	}
	var id string
	err = p.call(ctx, r, "users.lookupByEmail", false, func(ctx context.Context) error {
		u, err := p.api.GetUserByEmailContext(ctx, email)
		if err != nil {
			return err
		}
		id = u.ID
		return nil
	})
	if isSlackError(err, "users_not_found") {
		err = nil
	}
	if err != nil {
		return "", err
	}
	p.userIDs.Set(email, id)
	return id, nil
}

// entity returns a catalog entity, cached; found is false when the catalog
// lacks it (or there is no catalog).
func (p *Processor) entity(ctx context.Context, ref string) (notifications.CatalogEntity, bool, error) {
	if r, ok := p.entities.Get(ref); ok {
		return r.entity, r.found, nil
	}
	if p.cfg.Catalog == nil {
		return notifications.CatalogEntity{}, false, nil
	}
	list, err := p.cfg.Catalog.GetEntitiesByRefs(ctx, []string{ref})
	if err != nil {
		return notifications.CatalogEntity{}, false, fmt.Errorf("catalog: %w", err)
	}
	var r entityResult
	for _, e := range list {
		if c, err := entityref.Canonical(e.Ref); err == nil && c == ref {
			r = entityResult{entity: e, found: true}
			break
		}
	}
	p.entities.Set(ref, r)
	return r.entity, r.found, nil
}

// CleanTimestamps removes stored message timestamps older than
// TimestampTTL, after which a scoped re-send posts a new message; it
// returns how many it removed.
func (p *Processor) CleanTimestamps(ctx context.Context) (int, error) {
	return p.cfg.Timestamps.DeleteSlackTimestampsBefore(ctx, p.cfg.NowFunc().Add(-TimestampTTL))
}

// RunTimestampCleaner calls CleanTimestamps now and then every interval
// (zero or less: daily, as Backstage does) until ctx is done, and returns
// ctx's error. Failures are logged and retried at the next tick. Run it in
// a goroutine of its own.
func (p *Processor) RunTimestampCleaner(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 24 * time.Hour
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if n, err := p.CleanTimestamps(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.log.Error("slack: cleaning message timestamps failed", "error", err)
		} else if n > 0 {
			p.log.Debug("slack: cleaned message timestamps", "removed", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
