// Package email is Herald's email processor, Backstage's
// notifications-backend-module-email: it mails each delivered
// notification over SMTP to the recipient's catalog address
// (spec.profile.email), and broadcasts to a configured list or to every
// user.
//
// The processor only post-processes, so mail goes out in the background
// after the notification is stored, once per recipient. Users can turn the
// "Email" channel off per origin and topic in their notification settings;
// the service then does not call the processor for them.
//
// Addresses pass Backstage's checks in order: syntax (no white space, none
// of " ' , ; < > :, exactly one @ and not at either end), allowlist and
// allowed domains, then the denylist; one that fails is skipped, not an
// error. Mail is throttled (2 per 100 ms by default); each address gets
// its own email.
//
// # Delivery, retries and Message-ID
//
// Inside a notifications Service, each PostProcess call is one attempt of
// a durable delivery: the Service retries a failed attempt with backoff
// (notifications.Config.Retry), after a restart too, and records the
// outcome. The processor itself does not retry. It classifies each
// address's failure for the Service: a 5xx SMTP reply (550 no such
// mailbox, 535 bad credentials...) is permanent (notifications.Permanent);
// a 4xx reply (451 try again later, greylisting), an unreachable server,
// a broken connection or a timeout is transient (a plain error, retried).
// An attempt with several addresses is permanent only when every failure
// in it is. An address that accepted the email is remembered, in memory,
// for a day: the retries this process runs mail only the addresses that
// failed.
//
// Delivery is at least once: a retry after a crash, on another instance,
// or after a reply lost on the way mails an address again. Each email's
// Message-ID is therefore derived from the delivery
// (notifications.DeliveryFromContext) and the address,
// <deliveryID.hash@domain> with the domain of Config.From, the same on
// every attempt and on every instance, and different for each recipient
// of one delivery (a broadcast's addresses, or a user's several), so mail
// systems and clients can recognise a repeat. A scoped re-send that
// replaced a pending delivery's content changes the hash, so its email is
// not taken for a repeat of the old one. Called outside a Service (no
// delivery in the context), each email gets a random Message-ID.
//
// Failures are returned joined, each wrapped
// with the notification id and the address; the processor does not log
// them, the notifications Service does, once.
package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"time"
	"unicode"

	mail "github.com/wneessen/go-mail"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors"
	"github.com/heraldhq/herald/processors/internal/attempt"
	"github.com/heraldhq/herald/processors/internal/configerr"
)

// Name is the processor's name and settings channel id, Backstage's.
const Name = "Email"

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("email: invalid config")

// TLSMode says how the SMTP connection is encrypted.
type TLSMode string

// The TLS modes.
const (
	// TLSOpportunistic upgrades with STARTTLS when the server offers it
	// and goes on in plain text otherwise, as nodemailer does by default.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSStartTLS requires STARTTLS: a server that does not offer it is a
	// delivery failure.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte ("SMTPS", port 465).
	TLSImplicit TLSMode = "tls"
	// TLSNone never encrypts. Use it only towards a relay on a trusted
	// network.
	TLSNone TLSMode = "none"
)

// Receiver says who gets a broadcast by email.
type Receiver string

// The broadcast receivers, Backstage's broadcastConfig.receiver values.
const (
	// ReceiverNone mails broadcasts to nobody.
	ReceiverNone Receiver = "none"
	// ReceiverConfig mails broadcasts to Config.BroadcastAddresses.
	ReceiverConfig Receiver = "config"
	// ReceiverUsers mails broadcasts to every user the lookup knows
	// (every catalog user with an email address); the lookup must
	// implement AllLookup.
	ReceiverUsers Receiver = "users"
)

// Config configures the email processor. The zero value of every optional
// field means its default; New validates the rest.
type Config struct {
	// Host is the SMTP server's host name. Required.
	Host string
	// Port is the SMTP server's port. Defaults to 465 with TLSImplicit and
	// 587 otherwise.
	Port int
	// TLS says how the connection is encrypted. Defaults to
	// TLSOpportunistic.
	TLS TLSMode
	// TLSConfig verifies the server's certificate. Defaults to the system
	// roots and Host as the server name.
	TLSConfig *tls.Config
	// Username and Password authenticate (the strongest mechanism both
	// sides support; PLAIN and LOGIN only over TLS), and only when both
	// are set. Defaults to no authentication.
	Username, Password string
	// Timeout bounds one email of one attempt: connecting, the SMTP
	// dialogue and the upload. Defaults to 30 seconds.
	Timeout time.Duration

	// From is the sender address, like "Backstage <noreply@example.com>".
	// Required.
	From string
	// ReplyTo is the Reply-To address. Defaults to none.
	ReplyTo string
	// BaseURL is the application's base URL (Backstage's app.baseUrl);
	// relative links are made absolute against it and a notification
	// without a link points to BaseURL + "/notifications". Required.
	BaseURL string

	// Catalog finds users' addresses (spec.profile.email) for the default
	// Lookup. Required unless Lookup is set.
	Catalog notifications.Catalog
	// CacheTTL is how long the default Lookup keeps a resolved address,
	// or the absence of one. Defaults to 1 hour.
	CacheTTL time.Duration
	// Lookup resolves users to addresses, for a directory other than the
	// catalog. Defaults to the catalog users' spec.profile.email, each
	// result (an absent address too) cached for CacheTTL.
	Lookup Lookup

	// BroadcastReceiver says who gets broadcasts. Defaults to
	// ReceiverNone.
	BroadcastReceiver Receiver
	// BroadcastAddresses are ReceiverConfig's recipients. Defaults to
	// none.
	BroadcastAddresses []string

	// Allowlist, when set, limits mail to these addresses and to
	// AllowedDomains. Compared case-insensitively after trimming. Defaults
	// to every address.
	Allowlist []string
	// AllowedDomains, when set, limits mail to addresses in these domains
	// (exact match, case-insensitive) and to Allowlist. Defaults to every
	// domain.
	AllowedDomains []string
	// Denylist removes these addresses, after the allow rules.
	// Case-insensitive, trimmed. Defaults to none.
	Denylist []string

	// Filter limits the processor to some severities and topics. Defaults
	// to every notification.
	Filter notifications.ProcessorFilter
	// ConcurrencyLimit is how many emails may start per ThrottleInterval.
	// Defaults to 2.
	ConcurrencyLimit int
	// ThrottleInterval is the throttle's window. Defaults to 100ms.
	ThrottleInterval time.Duration
	// Template replaces the built-in subject and bodies. Defaults to none.
	// It does not apply to digests.
	Template Template
	// DigestSubject is the Subject of a digest's email (see
	// PostProcessDigest), with "{count}" replaced by the number of
	// notifications it lists. Defaults to "{count} new notifications".
	DigestSubject string
	// Logger receives skipped addresses: malformed ones at warning level,
	// those the allow and deny rules drop and those an earlier attempt
	// already mailed at debug level. Failures are returned, not logged.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// Processor is the email processor. It is safe for concurrent use.
type Processor struct {
	cfg      Config
	client   *mail.Client
	lookup   Lookup
	throttle *processors.Throttle
	log      *slog.Logger
	markdown goldmark.Markdown

	allow, deny map[string]bool
	domains     map[string]bool
	broadcast   []string
	idDomain    string // the right-hand side of Message-IDs: From's domain
	reached     *attempt.Reached
}

var (
	_ notifications.Processor         = (*Processor)(nil)
	_ notifications.PostProcessor     = (*Processor)(nil)
	_ notifications.FilteredProcessor = (*Processor)(nil)
	_ notifications.DigestProcessor   = (*Processor)(nil)
)

// New validates cfg and returns the processor. It does not connect to the
// SMTP server; a wrong host or password shows in the first delivery's
// error.
func New(cfg Config) (*Processor, error) {
	faults := configerr.New(ErrConfig)
	bad := faults.Addf
	if cfg.Host == "" {
		bad("Host is required")
	}
	var idDomain string
	if cfg.From == "" {
		bad("From is required")
	} else if from, err := netmail.ParseAddress(cfg.From); err != nil {
		bad("From %q: %v", cfg.From, err)
	} else {
		idDomain = messageIDDomain(from.Address)
	}
	if cfg.ReplyTo != "" {
		if _, err := netmail.ParseAddress(cfg.ReplyTo); err != nil {
			bad("ReplyTo %q: %v", cfg.ReplyTo, err)
		}
	}
	if u, err := url.Parse(cfg.BaseURL); cfg.BaseURL == "" || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		bad("BaseURL %q must be an absolute http or https URL", cfg.BaseURL)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		bad("Port %d is out of range", cfg.Port)
	}
	if cfg.Timeout < 0 || cfg.CacheTTL < 0 || cfg.ThrottleInterval < 0 || cfg.ConcurrencyLimit < 0 {
		bad("Timeout, CacheTTL, ThrottleInterval and ConcurrencyLimit must not be negative")
	}
	if err := cfg.Filter.Validate(); err != nil {
		faults.Add(err)
	}

	if cfg.TLS == "" {
		cfg.TLS = TLSOpportunistic
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = time.Hour
	}
	if cfg.ConcurrencyLimit == 0 {
		cfg.ConcurrencyLimit = 2
	}
	if cfg.ThrottleInterval == 0 {
		cfg.ThrottleInterval = 100 * time.Millisecond
	}
	if cfg.BroadcastReceiver == "" {
		cfg.BroadcastReceiver = ReceiverNone
	}

	opts := []mail.Option{mail.WithPort(cfg.Port), mail.WithTimeout(cfg.Timeout)}
	switch cfg.TLS {
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		bad("TLS mode %q is not one of opportunistic, starttls, tls, none", cfg.TLS)
	}
	if cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(cfg.TLSConfig))
	}
	if cfg.Username != "" && cfg.Password != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}

	lookup := cfg.Lookup
	if lookup == nil {
		if cfg.Catalog == nil {
			bad("Catalog is required when Lookup is not set")
		} else {
			lookup = newCatalogLookup(cfg.Catalog, cfg.CacheTTL)
		}
	}
	p := &Processor{
		cfg:       cfg,
		lookup:    lookup,
		throttle:  processors.NewThrottle(cfg.ConcurrencyLimit, cfg.ThrottleInterval),
		log:       cfg.Logger,
		markdown:  goldmark.New(goldmark.WithExtensions(extension.GFM)),
		allow:     addressSet(cfg.Allowlist),
		deny:      addressSet(cfg.Denylist),
		domains:   addressSet(cfg.AllowedDomains),
		broadcast: cfg.BroadcastAddresses,
		idDomain:  idDomain,
		reached:   attempt.NewReached(),
	}
	switch cfg.BroadcastReceiver {
	case ReceiverNone, ReceiverConfig:
	case ReceiverUsers:
		if lookup != nil && !canListUsers(lookup) {
			bad("BroadcastReceiver %q needs a Lookup that implements AllLookup, or a Catalog that implements notifications.UserCatalog", cfg.BroadcastReceiver)
		}
	default:
		bad("BroadcastReceiver %q is not one of none, config, users", cfg.BroadcastReceiver)
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if err := faults.Err(); err != nil {
		return nil, err
	}
	client, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	p.client = client
	return p, nil
}

func canListUsers(l Lookup) bool {
	if cl, ok := l.(*catalogLookup); ok {
		_, ok := cl.catalog.(notifications.UserCatalog)
		return ok
	}
	_, ok := l.(AllLookup)
	return ok
}

// Name returns "Email".
func (p *Processor) Name() string { return Name }

// Filter returns Config.Filter.
func (p *Processor) Filter() notifications.ProcessorFilter { return p.cfg.Filter }

// PostProcess makes one attempt at mailing n: to its user's addresses, or
// for a broadcast to the broadcast receivers, after the syntax, allow and
// deny rules, skipping the addresses an earlier attempt of the same
// delivery mailed. One email goes to each address, throttled; each is
// counted, and the failures are returned joined, each wrapped with the
// notification id and the address, and classified as the package
// documentation says. A failed address lookup is transient; a Template
// error is permanent only when the template marked it with
// notifications.Permanent. An entity notification without a user, or with
// no address left, sends nothing and returns nil.
func (p *Processor) PostProcess(ctx context.Context, n notifications.Notification, _ notifications.SendOptions) error {
	log := p.log.With("processor", Name, "notification_id", n.ID)
	addrs, err := p.recipients(ctx, n)
	if err != nil {
		return fmt.Errorf("email: notification %s: recipients: %w", n.ID, err)
	}
	addrs = p.filterAddresses(log, addrs)
	if len(addrs) == 0 {
		log.Debug("email: no recipients", "user", n.User)
		return nil
	}
	msg, err := p.render(ctx, n)
	if err != nil {
		return fmt.Errorf("email: notification %s: render: %w", n.ID, err)
	}
	id, stable := attempt.MessageID(ctx, n)
	d, _ := notifications.DeliveryFromContext(ctx)
	return p.mailAll(ctx, log, addrs, mailing{msg: msg, id: id, deliveryID: d.ID, stable: stable, what: "notification " + n.ID})
}

// mailing is one attempt's message, for mailAll.
type mailing struct {
	msg Message
	// id is the base of each Message-ID and the key of the addresses
	// earlier attempts reached; stable says it is the same on every
	// attempt (it comes from the delivery), so that both hold.
	id         string
	stable     bool
	deliveryID string
	what       string // "notification <id>" or "digest for <user>", for errors
}

// mailAll sends m to each address in turn, skipping those an earlier
// attempt of the same delivery reached, counts each, and returns the
// failures joined and classified.
func (p *Processor) mailAll(ctx context.Context, log *slog.Logger, addrs []string, m mailing) error {
	done := p.reached.Load(m.id)
	var out attempt.Outcome
	var reached []string
	for _, addr := range addrs {
		key := normalize(addr)
		if done[key] {
			log.Debug("email: address mailed by an earlier attempt; skipped", "to", addr)
			continue
		}
		messageID := p.newMessageID()
		if m.stable {
			messageID = p.messageID(m.deliveryID, m.id, key)
		}
		if err := p.sendOne(ctx, addr, m.msg, messageID); err != nil {
			out.Add(fmt.Errorf("email: %s to %s: %w", m.what, addr, err), permanent(err), 0)
			continue
		}
		reached = append(reached, key)
	}
	err := out.Err()
	if m.stable {
		p.reached.Finish(m.id, done, reached, err != nil)
	}
	return err
}

func (p *Processor) recipients(ctx context.Context, n notifications.Notification) ([]string, error) {
	if !n.IsBroadcast() {
		return p.lookup.Addresses(ctx, n.User)
	}
	switch p.cfg.BroadcastReceiver {
	case ReceiverConfig:
		return p.broadcast, nil
	case ReceiverUsers:
		return p.lookup.(AllLookup).AllAddresses(ctx)
	}
	return nil, nil
}

// filterAddresses applies Backstage's rules in order: syntax, allow, deny;
// it also drops duplicates, compared case-insensitively.
func (p *Processor) filterAddresses(log *slog.Logger, addrs []string) []string {
	out := make([]string, 0, len(addrs))
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if !validAddress(a) {
			log.Warn("email: dropping malformed address", "address", a)
			continue
		}
		key := normalize(a)
		if seen[key] {
			continue
		}
		seen[key] = true
		if !p.allowed(key) {
			log.Debug("email: address not allowed", "address", a)
			continue
		}
		if p.deny[key] {
			log.Debug("email: address denied", "address", a)
			continue
		}
		out = append(out, a)
	}
	return out
}

func (p *Processor) allowed(key string) bool {
	if p.allow[key] {
		return true
	}
	if len(p.domains) > 0 {
		return p.domains[key[strings.LastIndexByte(key, '@')+1:]]
	}
	return len(p.allow) == 0
}

// sendOne makes one attempt at mailing msg to addr.
func (p *Processor) sendOne(ctx context.Context, addr string, msg Message, messageID string) error {
	if err := p.throttle.Wait(ctx); err != nil {
		return err
	}
	m := mail.NewMsg()
	if err := m.From(p.cfg.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := m.To(addr); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	if p.cfg.ReplyTo != "" {
		if err := m.ReplyTo(p.cfg.ReplyTo); err != nil {
			return fmt.Errorf("reply-to: %w", err)
		}
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageIDWithValue(messageID)
	switch {
	case msg.Text != "" && msg.HTML != "":
		m.SetBodyString(mail.TypeTextPlain, msg.Text)
		m.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	case msg.HTML != "":
		m.SetBodyString(mail.TypeTextHTML, msg.HTML)
	default:
		m.SetBodyString(mail.TypeTextPlain, msg.Text)
	}
	return p.client.DialAndSendWithContext(ctx, m)
}

// permanent reports whether err, one email's failure, is a 5xx SMTP reply,
// which retrying cannot fix. A 4xx reply, and every failure that is not a
// reply (a refused or broken connection, a timeout, a TLS handshake), is
// worth retrying.
func permanent(err error) bool {
	if se, ok := errors.AsType[*mail.SendError](err); ok && se.ErrorCode() != 0 {
		return se.ErrorCode() >= 500
	}
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return te.Code >= 500 && te.Code < 600
	}
	return false
}

// messageID returns the Message-ID (without its angle brackets) of the
// email to the normalized address addr for the message id of a delivery
// (attempt.MessageID): the delivery id, a dot and a hash of the message id
// and the address, at From's domain. The hash keeps addresses out of the
// header and makes one id per recipient of a delivery.
func (p *Processor) messageID(deliveryID, id, addr string) string {
	sum := sha256.Sum256([]byte(id + "\x00" + addr))
	left := deliveryID
	if !idSafe(left) {
		// Not a UUID-like id (a custom store's): its hash keeps the
		// header well formed.
		h := sha256.Sum256([]byte(deliveryID))
		left = hex.EncodeToString(h[:16])
	}
	return left + "." + hex.EncodeToString(sum[:10]) + "@" + p.idDomain
}

// newMessageID returns a random Message-ID at From's domain, for an email
// sent outside a delivery.
func (p *Processor) newMessageID() string {
	return uuid.New() + "@" + p.idDomain
}

// messageIDDomain returns the right-hand side of Message-IDs for the From
// address: its domain in lower case, or "localhost" when that is not a
// plain host name (a domain literal, say).
func messageIDDomain(address string) string {
	domain := strings.ToLower(address[strings.LastIndexByte(address, '@')+1:])
	if !idSafe(strings.ReplaceAll(domain, ".", "")) || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "localhost"
	}
	return domain
}

// idSafe reports whether s is non-empty, at most 64 bytes, and only ASCII
// letters, digits and hyphens: safe as a part of a Message-ID.
func idSafe(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(c rune) bool {
		return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-'
	})
}

// Message is one rendered email.
type Message struct {
	// Subject is the Subject header.
	Subject string
	// HTML is the text/html part; empty leaves it out.
	HTML string
	// Text is the text/plain part; empty leaves it out unless HTML is
	// empty too.
	Text string
}

// Template customises emails, Backstage's notifications.email.templates
// extension point. Render gets the notification and the built-in message
// and returns the message to send: it may change any field and keep the
// others. An empty Subject falls back to the title. An error skips the
// notification's emails for this attempt: PostProcess returns it and
// counts one failure, and the Service retries it unless Render marked it
// with notifications.Permanent (or asked for a wait with
// notifications.RetryLater). Render is called once per attempt, and
// concurrently.
type Template interface {
	Render(ctx context.Context, n notifications.Notification, m Message) (Message, error)
}

// TemplateFunc adapts a function to a Template.
type TemplateFunc func(ctx context.Context, n notifications.Notification, m Message) (Message, error)

// Render calls f(ctx, n, m).
func (f TemplateFunc) Render(ctx context.Context, n notifications.Notification, m Message) (Message, error) {
	return f(ctx, n, m)
}

// render builds the built-in message, then lets the template change it.
//
// Without Markdown: subject = title; text = description, a blank line and
// the absolute link; HTML = the escaped description in a paragraph, then
// the link. With a string under notifications.MetadataMarkdownBody, the
// Markdown stands in for the description: rendered (raw HTML dropped,
// unsafe links removed) in the HTML part, as written in the text part.
func (p *Processor) render(ctx context.Context, n notifications.Notification) (Message, error) {
	msg, err := p.builtIn(n)
	if err != nil || p.cfg.Template == nil {
		return msg, err
	}
	if msg, err = p.cfg.Template.Render(ctx, n, msg); err != nil {
		return Message{}, err
	}
	if msg.Subject == "" {
		msg.Subject = n.Payload.Title
	}
	return msg, nil
}

// builtIn is the built-in message for n, before any Template.
func (p *Processor) builtIn(n notifications.Notification) (Message, error) {
	link := processors.AbsoluteLink(p.cfg.BaseURL, n.Payload.Link)
	msg := Message{Subject: n.Payload.Title}
	var body strings.Builder
	if md, ok := n.Payload.Metadata[notifications.MetadataMarkdownBody].(string); ok && md != "" {
		var buf bytes.Buffer
		if err := p.markdown.Convert([]byte(md), &buf); err != nil {
			// The same Markdown fails the same way on every attempt.
			return Message{}, notifications.Permanent(fmt.Errorf("markdown: %w", err))
		}
		body.Write(buf.Bytes())
		msg.Text = md + "\n\n" + link
	} else {
		if d := n.Payload.Description; d != "" {
			body.WriteString("<p>" + html.EscapeString(d) + "</p>")
		}
		msg.Text = n.Payload.Description + "\n\n" + link
	}
	esc := html.EscapeString(link)
	body.WriteString(`<p><a href="` + esc + `">` + esc + `</a></p>`)
	msg.HTML = body.String()
	return msg, nil
}

// validAddress reports whether s passes Backstage's address syntax check:
// not empty, no white space anywhere (so none around it either), none of
// " ' , ; < > :, exactly one @, and not at either end. It is deliberately
// simpler than RFC 5322: it accepts what mail servers accept and rejects
// display names and lists, which a profile address never is.
func validAddress(s string) bool {
	if s == "" || strings.ContainsAny(s, "\"',;<>:") || strings.Count(s, "@") != 1 ||
		s[0] == '@' || s[len(s)-1] == '@' {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsSpace)
}

func normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func addressSet(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, a := range list {
		if a = normalize(a); a != "" {
			m[a] = true
		}
	}
	return m
}
