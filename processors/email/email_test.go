package email_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/email"
)

var testCatalog = notifications.NewMemoryCatalog(
	notifications.CatalogEntity{Ref: "user:default/jane", Profile: notifications.Profile{Email: "jane@example.com"}},
	notifications.CatalogEntity{Ref: "user:default/bob", Profile: notifications.Profile{Email: " Bob@Y.com "}},
	notifications.CatalogEntity{Ref: "user:default/nomail"},
	notifications.CatalogEntity{Ref: "user:default/bad", Profile: notifications.Profile{Email: "not an address"}},
	notifications.CatalogEntity{Ref: "group:default/team", Profile: notifications.Profile{Email: "team@example.com"}},
)

// setup returns a processor mailing srv in plain text, with cfg's
// non-zero fields layered over test defaults.
func setup(t *testing.T, srv *smtpServer, cfg email.Config) *email.Processor {
	t.Helper()
	cfg.Host, cfg.Port = srv.Host, srv.Port
	if cfg.TLS == "" {
		cfg.TLS = email.TLSNone
	}
	if cfg.From == "" {
		cfg.From = "Backstage <noreply@example.com>"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://localhost"
	}
	if cfg.Catalog == nil && cfg.Lookup == nil {
		cfg.Catalog = testCatalog
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ThrottleInterval == 0 {
		cfg.ThrottleInterval = time.Nanosecond
	}
	p, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func note(user string, p notifications.Payload) notifications.Notification {
	return notifications.Notification{ID: "n-1", User: user, Origin: "plugin:test", Created: time.Now(), Payload: p}
}

func TestUserEmail(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{ReplyTo: "help@example.com"})
	if p.Name() != "Email" {
		t.Fatalf("Name() = %q", p.Name())
	}
	err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{
		Title: "Build ✓ finished", Description: "D", Link: "/catalog",
	}), notifications.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	if got.From != "noreply@example.com" || !slices.Equal(got.To, []string{"jane@example.com"}) {
		t.Fatalf("envelope from %q to %v", got.From, got.To)
	}
	if got.Subject != "Build ✓ finished" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if to := got.Header.Get("To"); !strings.Contains(to, "jane@example.com") {
		t.Errorf("To header = %q", to)
	}
	if rt := got.Header.Get("Reply-To"); !strings.Contains(rt, "help@example.com") {
		t.Errorf("Reply-To header = %q", rt)
	}
	// The text part: description, blank line, absolute link.
	if got.Text != "D\n\nhttp://localhost/catalog" {
		t.Errorf("text part = %q", got.Text)
	}
	if want := `<p>D</p><p><a href="http://localhost/catalog">http://localhost/catalog</a></p>`; got.HTML != want {
		t.Errorf("HTML part = %q, want %q", got.HTML, want)
	}
	srv.none()
}

func TestNoLinkPointsToInbox(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{BaseURL: "http://localhost/"})
	if err := p.PostProcess(t.Context(), note("user:jane", notifications.Payload{Title: "T"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	if got.Text != "\n\nhttp://localhost/notifications" {
		t.Errorf("text part = %q", got.Text)
	}
	if want := `<p><a href="http://localhost/notifications">http://localhost/notifications</a></p>`; got.HTML != want {
		t.Errorf("HTML part = %q, want %q", got.HTML, want)
	}
}

func TestHTMLIsEscaped(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{})
	err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{
		Title: "T", Description: `<script>alert("x")</script> & <b>bold</b>`, Link: `/a?b=1&c="2"`,
	}), notifications.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	if strings.Contains(got.HTML, "<script>") || strings.Contains(got.HTML, "<b>") {
		t.Fatalf("raw HTML passed through: %q", got.HTML)
	}
	for _, want := range []string{"&lt;script&gt;", "&amp; &lt;b&gt;bold&lt;/b&gt;", `href="http://localhost/a?b=1&amp;c=&#34;2&#34;"`} {
		if !strings.Contains(got.HTML, want) {
			t.Errorf("HTML %q lacks %q", got.HTML, want)
		}
	}
	if !strings.HasPrefix(got.Text, `<script>alert("x")</script> & <b>bold</b>`) {
		t.Errorf("text part should carry the description as written: %q", got.Text)
	}
}

func TestNoHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{})
	title := "Hello\r\nBcc: victim@example.com\r\nX-Evil: 1"
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: title}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	if got.Header.Get("Bcc") != "" || got.Header.Get("X-Evil") != "" || !slices.Equal(got.To, []string{"jane@example.com"}) {
		t.Fatalf("title injected headers: %v, envelope to %v", got.Header, got.To)
	}
	if !strings.HasPrefix(got.Subject, "Hello") {
		t.Fatalf("subject %q", got.Subject)
	}
}

func TestMarkdownBody(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{})
	md := "# Release 1.2\n\nIt is **out**. <script>alert(1)</script>\n\n<div onclick=\"x()\">raw block</div>\n\n[docs](/docs) [bad](javascript:alert(1))\n\n- one\n- two\n"
	err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{
		Title: "T", Description: "plain description", Link: "/release",
		Metadata: map[string]any{notifications.MetadataMarkdownBody: md},
	}), notifications.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	for _, want := range []string{"<h1>Release 1.2</h1>", "<strong>out</strong>", `<a href="/docs">docs</a>`, "<li>one</li>", `<a href="http://localhost/release">`} {
		if !strings.Contains(got.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, got.HTML)
		}
	}
	for _, bad := range []string{"<script", "onclick", "<div", "javascript:", "plain description"} {
		if strings.Contains(got.HTML, bad) {
			t.Errorf("HTML contains %q:\n%s", bad, got.HTML)
		}
	}
	if want := md + "\n\nhttp://localhost/release"; got.Text != want {
		t.Errorf("text part = %q, want the markdown source then the link %q", got.Text, want)
	}
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{Template: email.TemplateFunc(func(_ context.Context, n notifications.Notification, m email.Message) (email.Message, error) {
		m.Subject = "[" + n.Origin + "] " + m.Subject
		m.HTML = "<h1>" + n.Payload.Title + "</h1>" + m.HTML
		return m, nil
	})})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "T", Description: "D"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	if got.Subject != "[plugin:test] T" || !strings.HasPrefix(got.HTML, "<h1>T</h1><p>D</p>") || got.Text != "D\n\nhttp://localhost/notifications" {
		t.Fatalf("subject %q HTML %q text %q", got.Subject, got.HTML, got.Text)
	}

	// An empty subject falls back to the title; an error sends nothing.
	p = setup(t, srv, email.Config{Template: email.TemplateFunc(func(_ context.Context, n notifications.Notification, msg email.Message) (email.Message, error) {
		if n.Payload.Topic == "fail" {
			return email.Message{}, errors.New("template broke")
		}
		return email.Message{Text: "only text"}, nil
	})})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "Fallback"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got = srv.next()
	if got.Subject != "Fallback" || got.Text != "only text" || got.HTML != "" {
		t.Fatalf("subject %q HTML %q text %q", got.Subject, got.HTML, got.Text)
	}
	err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "x", Topic: "fail"}), notifications.SendOptions{})
	if err == nil || !strings.Contains(err.Error(), "template broke") {
		t.Fatalf("err = %v", err)
	}
	srv.none()
}

// The allow and deny rules end to end, over a broadcast list: one email per
// address left.
func TestAllowDenyDelivery(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{
		BroadcastReceiver:  email.ReceiverConfig,
		BroadcastAddresses: []string{"A@x.com", "b@y.com", "c@z.com", "bad address", "d@Y.COM", "a@X.com"},
		Allowlist:          []string{" a@x.com "},
		AllowedDomains:     []string{"Y.com"},
		Denylist:           []string{"D@y.com"},
	})
	if err := p.PostProcess(t.Context(), note("", notifications.Payload{Title: "T"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if to, want := srv.drainTo(), []string{"A@x.com", "b@y.com"}; !slices.Equal(to, want) {
		t.Fatalf("delivered to %v, want %v", to, want)
	}
}

// Broadcasts go to nobody by default and with ReceiverNone (even with
// addresses configured), to one email per configured address with
// ReceiverConfig, and to every catalog user with an address with
// ReceiverUsers.
func TestBroadcastReceivers(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	broadcast := note("", notifications.Payload{Title: "Maintenance"})
	for _, tc := range []struct {
		name string
		cfg  email.Config
		want []string
	}{
		{"default", email.Config{}, nil},
		{"none", email.Config{BroadcastReceiver: email.ReceiverNone, BroadcastAddresses: []string{"x@example.com"}}, nil},
		{"config", email.Config{BroadcastReceiver: email.ReceiverConfig, BroadcastAddresses: []string{"ops@example.com", "dev@example.com"}},
			[]string{"dev@example.com", "ops@example.com"}},
		// Every catalog user with a valid address; groups are not users.
		{"users", email.Config{BroadcastReceiver: email.ReceiverUsers}, []string{"Bob@Y.com", "jane@example.com"}},
	} {
		p := setup(t, srv, tc.cfg)
		if err := p.PostProcess(t.Context(), broadcast, notifications.SendOptions{}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if to := srv.drainTo(); !slices.Equal(to, tc.want) {
			t.Errorf("%s: the broadcast went to %v, want %v", tc.name, to, tc.want)
		}
	}
}

func TestNoAddress(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{})
	for _, user := range []string{"user:default/nomail", "user:default/ghost", "user:default/bad"} {
		if err := p.PostProcess(t.Context(), note(user, notifications.Payload{Title: "T"}), notifications.SendOptions{}); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
	}
	srv.none()
}

func TestStartTLSWithAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, serverOptions{startTLS: serverTLS, auth: true})
	p := setup(t, srv, email.Config{TLS: email.TLSStartTLS, TLSConfig: clientTLS, Username: "u", Password: "p"})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "secure"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	if !got.TLS || got.User != "u" || got.Subject != "secure" {
		t.Fatalf("TLS=%v user=%q subject=%q", got.TLS, got.User, got.Subject)
	}

	// Opportunistic (the default) upgrades too.
	p = setup(t, srv, email.Config{TLS: email.TLSOpportunistic, TLSConfig: clientTLS, Username: "u", Password: "p"})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "opportunistic"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.next(); !got.TLS {
		t.Fatal("opportunistic mode did not use STARTTLS")
	}

	// Without trusting the certificate, delivery fails rather than going
	// out unverified (transient: a renewed certificate may be trusted).
	p = setup(t, srv, email.Config{TLS: email.TLSStartTLS, Username: "u", Password: "p"})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "x"}), notifications.SendOptions{}); err == nil || notifications.IsPermanent(err) {
		t.Fatalf("untrusted certificate: err = %v, want a transient failure", err)
	}
	// A wrong password gets 535: permanent.
	p = setup(t, srv, email.Config{TLS: email.TLSStartTLS, TLSConfig: clientTLS, Username: "u", Password: "wrong"})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "x"}), notifications.SendOptions{}); !notifications.IsPermanent(err) || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: err = %v, want the 535, permanent", err)
	}
	srv.none()
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSigned(t)
	srv := startSMTP(t, serverOptions{implicit: serverTLS})
	p := setup(t, srv, email.Config{TLS: email.TLSImplicit, TLSConfig: clientTLS})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "smtps"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.next(); got.Subject != "smtps" {
		t.Fatalf("subject %q", got.Subject)
	}
}

func TestStartTLSRequiredButNotOffered(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	var logs bytes.Buffer
	p := setup(t, srv, email.Config{TLS: email.TLSStartTLS, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "x"}), notifications.SendOptions{})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "n-1") {
		t.Fatalf("err = %v", err)
	}
	srv.none()
	// The failure is returned, for the Service to log; not logged here too.
	if l := logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "STARTTLS") {
		t.Fatalf("the processor logged the failure it returned: %s", l)
	}
}

// inDelivery returns a context carrying delivery id's attempt, as the
// Service sets it.
func inDelivery(t *testing.T, id string, attempt int) context.Context {
	t.Helper()
	return notifications.ContextWithDelivery(t.Context(), notifications.Delivery{ID: id, Processor: email.Name, Attempts: attempt})
}

const deliveryID = "0b6f0c1e-2d3a-4b5c-8d7e-9f0a1b2c3d4e"

// A 4xx reply is transient: one attempt per PostProcess, a plain error the
// Service retries. A server answering 451 twice, then accepting, gets one
// email over three attempts of the delivery.
func TestTemporaryFailureIsTransient(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	srv.failRcpt(2, reply451)
	p := setup(t, srv, email.Config{})
	n := note("user:default/jane", notifications.Payload{Title: "x"})
	for attempt := 1; attempt <= 2; attempt++ {
		err := p.PostProcess(inDelivery(t, deliveryID, attempt), n, notifications.SendOptions{})
		if err == nil || notifications.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
			t.Fatalf("attempt %d: err = %v, want the 451, transient", attempt, err)
		}
		if _, later := notifications.RetryAfter(err); later {
			t.Fatalf("attempt %d: err = %v asks for a wait", attempt, err)
		}
		if got := srv.rcptCount(); got != attempt {
			t.Fatalf("attempt %d: %d RCPTs, want one per attempt", attempt, got)
		}
		srv.none()
	}
	if err := p.PostProcess(inDelivery(t, deliveryID, 3), n, notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := srv.next()
	if id := got.Header.Get("Message-ID"); !strings.HasPrefix(id, "<"+deliveryID+".") || !strings.HasSuffix(id, "@example.com>") {
		t.Fatalf("Message-ID %q, want <deliveryID.hash@example.com>", id)
	}
	srv.none()
}

// A 5xx reply is permanent: the email fails after one attempt, is counted
// as failed, and PostProcess says the Service must not retry it.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	// More 550s than one: a retry would be seen as a second RCPT.
	srv.failRcpt(5, reply550)
	p := setup(t, srv, email.Config{})
	err := p.PostProcess(inDelivery(t, deliveryID, 1), note("user:default/jane", notifications.Payload{Title: "x"}), notifications.SendOptions{})
	if !notifications.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "jane@example.com") || !strings.Contains(err.Error(), "n-1") {
		t.Fatalf("err = %v, want the reply, the address and the notification id", err)
	}
	if n := srv.rcptCount(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	srv.none()
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	srv.Port = 1 // nothing listens there
	p := setup(t, srv, email.Config{})
	err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "x"}), notifications.SendOptions{})
	if err == nil || notifications.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
}

// Message-ID derives from the delivery and the recipient: the same on
// every attempt, different per recipient of one delivery, and different
// for a re-send that replaced the delivery's content.
func TestMessageID(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{BroadcastReceiver: email.ReceiverConfig, BroadcastAddresses: []string{"ops@example.com", "dev@example.com"}})
	ids := func(ctx context.Context, n notifications.Notification) map[string]string {
		t.Helper()
		if err := p.PostProcess(ctx, n, notifications.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range srv.drain() {
			out[r.To[0]] = r.Header.Get("Message-ID")
		}
		return out
	}
	broadcast := note("", notifications.Payload{Title: "B"})
	first := ids(inDelivery(t, deliveryID, 1), broadcast)
	again := ids(inDelivery(t, deliveryID, 2), broadcast)
	if len(first) != 2 || first["ops@example.com"] == first["dev@example.com"] {
		t.Fatalf("Message-IDs %v, want two distinct ones", first)
	}
	for addr, id := range first {
		if again[addr] != id || !strings.HasPrefix(id, "<"+deliveryID+".") || !strings.HasSuffix(id, "@example.com>") {
			t.Fatalf("%s: Message-ID %q then %q, want the same <deliveryID.hash@example.com>", addr, id, again[addr])
		}
	}
	other := ids(inDelivery(t, "1c7e1d2f-3e4b-4c6d-9e8f-0a1b2c3d4e5f", 1), broadcast)
	updated := time.Now()
	broadcast.Updated = &updated
	resent := ids(inDelivery(t, deliveryID, 1), broadcast)
	outside := ids(t.Context(), broadcast)
	for addr, id := range first {
		if other[addr] == id || resent[addr] == id || outside[addr] == id || outside[addr] == "" {
			t.Fatalf("%s: Message-ID %q reused: other delivery %q, re-send %q, outside a delivery %q", addr, id, other[addr], resent[addr], outside[addr])
		}
	}

	// A delivery id unfit for a header (a custom store's) is hashed.
	odd := ids(inDelivery(t, "odd id\r\nBcc: victim@example.com", 1), broadcast)
	for _, id := range odd {
		if strings.ContainsAny(id, " \r\n") || strings.Contains(id, "Bcc") || !strings.HasSuffix(id, "@example.com>") {
			t.Fatalf("Message-ID %q from an odd delivery id", id)
		}
	}

	// A user with two addresses: one id each.
	dir := directory{users: map[string][]string{"user:default/jane": {"jane@corp.example", "jane@home.example"}}}
	p = setup(t, srv, email.Config{Lookup: dir})
	got := ids(inDelivery(t, deliveryID, 1), note("user:default/jane", notifications.Payload{Title: "T"}))
	if len(got) != 2 || got["jane@corp.example"] == got["jane@home.example"] {
		t.Fatalf("Message-IDs %v, want two distinct ones", got)
	}
}

// A retry of the delivery mails only the addresses that failed, with the
// same Message-ID; the attempt is transient while one failure is.
func TestRetryMailsOnlyFailedAddresses(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	srv.failAddr("b@example.com", 1, reply451)
	srv.failAddr("c@example.com", 2, reply550)
	p := setup(t, srv, email.Config{BroadcastReceiver: email.ReceiverConfig, BroadcastAddresses: []string{"a@example.com", "b@example.com", "c@example.com"}})
	broadcast := note("", notifications.Payload{Title: "B"})
	err := p.PostProcess(inDelivery(t, deliveryID, 1), broadcast, notifications.SendOptions{})
	if err == nil || notifications.IsPermanent(err) || !strings.Contains(err.Error(), "b@example.com") || !strings.Contains(err.Error(), "c@example.com") {
		t.Fatalf("first attempt: err = %v, want b's 451 and c's 550, transient", err)
	}
	if got := srv.drain(); len(got) != 1 || got[0].To[0] != "a@example.com" {
		t.Fatalf("first attempt mailed %+v, want a only", got)
	}
	err = p.PostProcess(inDelivery(t, deliveryID, 2), broadcast, notifications.SendOptions{})
	if !notifications.IsPermanent(err) || strings.Contains(err.Error(), "b@example.com") {
		t.Fatalf("second attempt: err = %v, want c's 550 alone, permanent", err)
	}
	got := srv.drain()
	if len(got) != 1 || got[0].To[0] != "b@example.com" {
		t.Fatalf("second attempt mailed %+v, want b only", got)
	}
	if n := srv.rcptCount(); n != 5 {
		t.Fatalf("%d RCPTs, want a, b, c then b, c", n)
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	// Two emails per hour: the third must wait, so cancelling the context
	// once two have arrived fails it, without the test waiting on a clock.
	p := setup(t, srv, email.Config{
		ConcurrencyLimit: 2, ThrottleInterval: time.Hour,
		BroadcastReceiver: email.ReceiverConfig, BroadcastAddresses: []string{"a@example.com", "b@example.com", "c@example.com"},
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- p.PostProcess(ctx, note("", notifications.Payload{Title: "T"}), notifications.SendOptions{})
	}()
	srv.next()
	srv.next()
	select {
	case err := <-done:
		t.Fatalf("PostProcess returned before the throttle let the third email go: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "c@example.com") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PostProcess did not return after cancel")
	}
	srv.none()
}

// countingCatalog counts lookups.
type countingCatalog struct {
	notifications.Catalog
	calls atomic.Int64
}

func (c *countingCatalog) GetEntitiesByRefs(ctx context.Context, refs []string) ([]notifications.CatalogEntity, error) {
	c.calls.Add(1)
	return c.Catalog.GetEntitiesByRefs(ctx, refs)
}

func TestLookupIsCached(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	cat := &countingCatalog{Catalog: testCatalog}
	p := setup(t, srv, email.Config{Catalog: cat})
	for _, user := range []string{"user:default/jane", "user:jane", "user:default/nomail", "user:default/nomail"} {
		if err := p.PostProcess(t.Context(), note(user, notifications.Payload{Title: "T"}), notifications.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(srv.drain()); n != 2 {
		t.Fatalf("%d emails, want 2", n)
	}
	if n := cat.calls.Load(); n != 2 {
		t.Fatalf("%d catalog calls, want 2 (one per distinct user, misses cached too)", n)
	}
}

// directory is a Lookup outside the catalog; with all set it can also
// list every address, for ReceiverUsers.
type directory struct {
	users map[string][]string
	all   []string
}

func (d directory) Addresses(_ context.Context, userRef string) ([]string, error) {
	if userRef == "user:default/broken" {
		return nil, errors.New("directory down")
	}
	return d.users[userRef], nil
}

type listingDirectory struct{ directory }

func (d listingDirectory) AllAddresses(context.Context) ([]string, error) { return d.all, nil }

// Config.Lookup replaces the catalog: a user's email goes to what it
// returns, its error fails that user's email, and ReceiverUsers needs it to
// implement AllLookup.
func TestCustomLookup(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	dir := directory{users: map[string][]string{"user:default/jane": {"jane@corp.example"}}, all: []string{"a@corp.example", "b@corp.example"}}
	p := setup(t, srv, email.Config{Lookup: dir})
	if err := p.PostProcess(t.Context(), note("user:default/jane", notifications.Payload{Title: "T"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.next(); !slices.Equal(got.To, []string{"jane@corp.example"}) {
		t.Fatalf("mailed %v, want the directory's address, not the catalog's", got.To)
	}
	err := p.PostProcess(t.Context(), note("user:default/broken", notifications.Payload{Title: "T"}), notifications.SendOptions{})
	if err == nil || !strings.Contains(err.Error(), "directory down") || !strings.Contains(err.Error(), "n-1") {
		t.Fatalf("err = %v, want the lookup's error with the notification id", err)
	}
	srv.none()

	if _, err := email.New(email.Config{Host: "h", From: "a@example.com", BaseURL: "https://b.example", Lookup: dir, BroadcastReceiver: email.ReceiverUsers}); !errors.Is(err, email.ErrConfig) {
		t.Fatalf("ReceiverUsers with a Lookup that cannot list: err = %v, want ErrConfig", err)
	}
	p = setup(t, srv, email.Config{Lookup: listingDirectory{dir}, BroadcastReceiver: email.ReceiverUsers})
	if err := p.PostProcess(t.Context(), note("", notifications.Payload{Title: "B"}), notifications.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, r := range srv.drain() {
		to = append(to, r.To...)
	}
	slices.Sort(to)
	if !slices.Equal(to, dir.all) {
		t.Fatalf("broadcast mailed %v, want %v", to, dir.all)
	}
}

func TestConcurrentPostProcess(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{ConcurrencyLimit: 100})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			n := note("user:default/jane", notifications.Payload{Title: "T", Metadata: map[string]any{notifications.MetadataMarkdownBody: "**n**"}})
			n.ID = string(rune('a' + i))
			if err := p.PostProcess(t.Context(), n, notifications.SendOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range 20 {
		if got := srv.next(); !strings.Contains(got.HTML, "<strong>n</strong>") {
			t.Fatalf("HTML %q", got.HTML)
		}
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOptions{})
	p := setup(t, srv, email.Config{Filter: notifications.ProcessorFilter{MinSeverity: notifications.SeverityHigh, ExcludedTopics: []string{"noise"}}})
	f := p.Filter()
	if f.Allow(notifications.SeverityNormal, "") || !f.Allow(notifications.SeverityCritical, "") || f.Allow(notifications.SeverityCritical, "noise") {
		t.Fatalf("Filter() = %+v", f)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	good := email.Config{Host: "smtp.example.com", From: "a@example.com", BaseURL: "https://b.example.com", Catalog: testCatalog}
	if _, err := email.New(good); err != nil {
		t.Fatal(err)
	}
	tests := map[string]func(*email.Config){
		"no host":         func(c *email.Config) { c.Host = "" },
		"no from":         func(c *email.Config) { c.From = "" },
		"bad from":        func(c *email.Config) { c.From = "not an address" },
		"bad reply-to":    func(c *email.Config) { c.ReplyTo = "<" },
		"no base url":     func(c *email.Config) { c.BaseURL = "" },
		"relative base":   func(c *email.Config) { c.BaseURL = "/portal" },
		"no lookup":       func(c *email.Config) { c.Catalog = nil },
		"bad tls":         func(c *email.Config) { c.TLS = "ssl" },
		"bad port":        func(c *email.Config) { c.Port = 70000 },
		"bad receiver":    func(c *email.Config) { c.BroadcastReceiver = "all" },
		"bad severity":    func(c *email.Config) { c.Filter.MinSeverity = "urgent" },
		"negative limit":  func(c *email.Config) { c.ConcurrencyLimit = -1 },
		"users no lister": func(c *email.Config) { c.BroadcastReceiver = email.ReceiverUsers; c.Catalog = plainCatalog{} },
	}
	for name, mutate := range tests {
		cfg := good
		mutate(&cfg)
		if _, err := email.New(cfg); !errors.Is(err, email.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

// plainCatalog cannot list users.
type plainCatalog struct{}

func (plainCatalog) GetEntitiesByRefs(context.Context, []string) ([]notifications.CatalogEntity, error) {
	return nil, nil
}
