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
// defaults) and rate limits (HTTP 429) are waited out as Slack's
// Retry-After says. Failures are counted in Config.Metrics and returned
// joined, each wrapped with the notification id (in the post-processing
// phase) and the channel; the processor does not log them, the
// notifications Service does, once.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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

// TimestampTTL is how long message timestamps are kept for scoped updates.
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
	// Retry bounds retries of rate-limited (429, after its Retry-After),
	// failing (5xx) and unreachable API calls. Defaults to
	// processors.Retry's defaults: 5 attempts, Retry-After up to 1 minute.
	Retry processors.Retry
	// Timeout bounds one API call when the context has no deadline.
	// Defaults to 30 seconds.
	Timeout time.Duration
	// HTTPClient makes the API calls. Defaults to a new http.Client.
	HTTPClient *http.Client
	// APIURL is the Web API's base URL, for tests and proxies. Defaults to
	// "https://slack.com/api/".
	APIURL string
	// Logger receives retries, what the processor skips or falls back
	// from (an entity missing from the catalog, a mention it cannot
	// resolve, a message it cannot edit) and timestamp cleaner failures.
	// Delivery failures are returned, not logged. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Metrics counts messages sent (edits included), failed and retried.
	// Defaults to none.
	Metrics *processors.Metrics
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
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
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
	if cfg.BaseURL != "" && !processors.IsAbsoluteURL(cfg.BaseURL) {
		bad("BaseURL %q must be an absolute http or https URL", cfg.BaseURL)
	}
	if cfg.APIURL != "" {
		if u, err := url.Parse(cfg.APIURL); err != nil || u.Host == "" {
			bad("APIURL %q must be an absolute URL", cfg.APIURL)
		}
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

	if cfg.ConcurrencyLimit == 0 {
		cfg.ConcurrencyLimit = 10
	}
	if cfg.ThrottleInterval == 0 {
		cfg.ThrottleInterval = time.Minute
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
		cfg.HTTPClient = &http.Client{}
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
// is stored and waits for the posts (and the throttle, within ctx). The
// options are returned unchanged; failures are counted and returned
// joined.
func (p *Processor) ProcessOptions(ctx context.Context, o notifications.SendOptions) (notifications.SendOptions, error) {
	if o.Recipients.IsBroadcast() {
		return o, nil
	}
	log := p.log.With("origin", o.Origin)
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
				log.Warn("slack: entity not found in the catalog; skipped", "entity", ref.String())
				continue
			}
			channel = strings.TrimSpace(e.Annotations[AnnotationBotNotify])
		}
		if channel != "" && !slices.Contains(channels, channel) {
			channels = append(channels, channel)
		}
	}
	for _, channel := range channels {
		if err := p.deliver(ctx, log, o.Origin, o.Payload, channel, o.Payload.Scope != ""); err != nil {
			errs = append(errs, fmt.Errorf("slack: %w", err))
		}
	}
	return o, errors.Join(errs...)
}

// PostProcess posts a broadcast to its routed channels, and sends a direct
// message to a user named explicitly in the send's entity refs (refs
// compared canonically); users reached through a group get nothing here,
// their group's channel was posted in ProcessOptions. A user without a
// resolvable Slack account is an error. A scoped re-send (n.Updated set)
// edits the earlier message when its timestamp is known; when it is not
// (first send, after TimestampTTL, or a re-send post-processed before the
// first delivery finished) a new message is posted.
func (p *Processor) PostProcess(ctx context.Context, n notifications.Notification, o notifications.SendOptions) error {
	log := p.log.With("notification_id", n.ID, "origin", n.Origin)
	updated := n.Updated != nil
	if n.IsBroadcast() {
		var errs []error
		for _, channel := range p.routeChannels(n.Origin, n.Payload.Topic) {
			if err := p.deliver(ctx, log, n.Origin, n.Payload, channel, updated); err != nil {
				errs = append(errs, fmt.Errorf("slack: notification %s: %w", n.ID, err))
			}
		}
		return errors.Join(errs...)
	}
	if !explicitlyNamed(n.User, o.Recipients.EntityRefs) {
		return nil
	}
	target, err := p.slackUserID(ctx, n.User)
	if err == nil && target == "" {
		err = fmt.Errorf("no Slack user for %s: no %s annotation and no account with its profile email", n.User, AnnotationBotNotify)
	}
	if err != nil {
		p.cfg.Metrics.Add(Name, processors.EventFailed)
		return fmt.Errorf("slack: notification %s: recipient %s: %w", n.ID, n.User, err)
	}
	if err := p.deliver(ctx, log, n.Origin, n.Payload, target, updated); err != nil {
		return fmt.Errorf("slack: notification %s: %w", n.ID, err)
	}
	return nil
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

// deliver posts payload to channel, or edits the earlier message of the
// same origin and scope there when update is set and one is known, then
// remembers the message for later edits. It counts the outcome and
// returns a failure wrapped with the channel.
func (p *Processor) deliver(ctx context.Context, log *slog.Logger, origin string, payload notifications.Payload, channel string, update bool) error {
	log = log.With("channel", channel)
	err := p.deliverOnce(ctx, log, origin, payload, channel, update)
	if err != nil {
		p.cfg.Metrics.Add(Name, processors.EventFailed)
		return fmt.Errorf("channel %s: %w", channel, err)
	}
	p.cfg.Metrics.Add(Name, processors.EventSent)
	return nil
}

func (p *Processor) deliverOnce(ctx context.Context, log *slog.Logger, origin string, payload notifications.Payload, channel string, update bool) error {
	scope := payload.Scope
	scoped := origin != "" && scope != ""
	payload.Description = p.replaceMentions(ctx, log, payload.Description)
	opts := p.message(payload)

	if scoped && update {
		stored, ok, err := p.cfg.Timestamps.SlackTimestamp(ctx, origin, scope, channel)
		if err != nil {
			log.Warn("slack: reading the stored message timestamp failed; posting a new message", "error", err)
		}
		if ok {
			msgChannel, ts := decodeTimestamp(stored, channel)
			err := p.call(ctx, log, "chat.update", true, func(ctx context.Context) error {
				_, _, _, err := p.api.UpdateMessageContext(ctx, msgChannel, ts, opts...)
				return err
			})
			if err == nil || !isSlackError(err, "message_not_found", "cant_update_message", "edit_window_closed") {
				return err
			}
			log.Info("slack: the earlier message cannot be edited; posting a new one", "error", err)
		}
	}

	var respChannel, ts string
	err := p.call(ctx, log, "chat.postMessage", true, func(ctx context.Context) error {
		var err error
		respChannel, ts, err = p.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		return err
	}
	if scoped && ts != "" {
		if err := p.cfg.Timestamps.PutSlackTimestamp(ctx, origin, scope, channel, encodeTimestamp(respChannel, ts, channel), p.cfg.NowFunc()); err != nil {
			// The message went out; only a later edit is lost.
			log.Warn("slack: storing the message timestamp failed", "error", err)
		}
	}
	return nil
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

// call runs one API call: throttled when it posts, with a timeout when ctx
// has none, retried on rate limits, 5xx and unreachable servers.
func (p *Processor) call(ctx context.Context, log *slog.Logger, method string, throttled bool, fn func(ctx context.Context) error) error {
	return p.cfg.Retry.Do(ctx, func(ctx context.Context, attempt int) error {
		if attempt > 1 {
			p.cfg.Metrics.Add(Name, processors.EventRetried)
			log.Info("slack: retrying", "method", method, "attempt", attempt)
		}
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
		err := fn(ctx)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("%s: %w", method, err)
		var rl *slack.RateLimitedError
		var sc slack.StatusCodeError
		var op *net.OpError
		switch {
		case errors.As(err, &rl):
			return processors.RetryAfter(err, rl.RetryAfter)
		case errors.As(err, &sc) && (sc.Code >= 500 || sc.Code == http.StatusTooManyRequests):
			return processors.Retryable(err)
		case errors.As(err, &op) && op.Op == "dial":
			return processors.Retryable(err)
		}
		return err
	})
}

func isSlackError(err error, codes ...string) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se) && slices.Contains(codes, se.Err)
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
func (p *Processor) replaceMentions(ctx context.Context, log *slog.Logger, s string) string {
	if !strings.Contains(s, "<@user:") {
		return s
	}
	return mention.ReplaceAllStringFunc(s, func(m string) string {
		ref := mention.FindStringSubmatch(m)[1]
		id, err := p.slackUserID(ctx, ref)
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
func (p *Processor) slackUserID(ctx context.Context, userRef string) (string, error) {
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
	err = p.call(ctx, p.log, "users.lookupByEmail", false, func(ctx context.Context) error {
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
