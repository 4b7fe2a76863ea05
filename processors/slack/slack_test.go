package slack_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors"
	"github.com/heraldhq/herald/processors/internal/processortest"
	"github.com/heraldhq/herald/processors/slack"
)

var testCatalog = notifications.NewMemoryCatalog(
	notifications.CatalogEntity{Ref: "group:default/g", Annotations: map[string]string{slack.AnnotationBotNotify: "C123"},
		Relations: []notifications.Relation{{Type: notifications.RelationHasMember, TargetRef: "user:default/member"}}},
	notifications.CatalogEntity{Ref: "group:default/plain"},
	notifications.CatalogEntity{Ref: "component:default/api", Annotations: map[string]string{slack.AnnotationBotNotify: "C123"}},
	notifications.CatalogEntity{Ref: "user:default/jane", Annotations: map[string]string{slack.AnnotationBotNotify: "U111"}},
	notifications.CatalogEntity{Ref: "user:default/bob", Profile: notifications.Profile{Email: "Bob@Example.com"}},
	notifications.CatalogEntity{Ref: "user:default/member", Annotations: map[string]string{slack.AnnotationBotNotify: "U333"}},
	notifications.CatalogEntity{Ref: "user:default/nobody", Profile: notifications.Profile{Email: "nobody@example.com"}},
)

type recordedSleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *recordedSleeps) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recordedSleeps) all() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.d)
}

// setup returns a processor talking to a fresh fake Slack, with cfg's
// non-zero fields over test defaults (no throttling, the options phase's
// retries recorded instead of waited).
func setup(t *testing.T, cfg slack.Config) (*slack.Processor, *fakeSlack, *recordedSleeps) {
	t.Helper()
	f := newFakeSlack(t)
	f.users["bob@example.com"] = "U222"
	sleeps := &recordedSleeps{}
	if cfg.Token == "" {
		cfg.Token = "xoxb-test"
	}
	cfg.APIURL = f.URL
	if cfg.Catalog == nil {
		cfg.Catalog = testCatalog
	}
	if cfg.ThrottleInterval == 0 {
		cfg.ThrottleInterval = time.Nanosecond
	}
	p, err := slack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	slack.SetSleep(p, sleeps.sleep)
	return p, f, sleeps
}

func entitySend(p notifications.Payload, refs ...string) notifications.SendOptions {
	return notifications.SendOptions{Origin: "plugin:test", Recipients: notifications.Entity(refs...), Payload: p}
}

func userNote(user string, o notifications.SendOptions) notifications.Notification {
	return notifications.Notification{ID: "n-1", User: user, Origin: o.Origin, Created: time.Now(), Payload: o.Payload}
}

func TestMessageLayout(t *testing.T) {
	t.Parallel()
	p, f, _ := setup(t, slack.Config{Username: "Backstage", BaseURL: "https://backstage.example.com"})
	if p.Name() != "SlackNotificationProcessor" {
		t.Fatalf("Name() = %q", p.Name())
	}
	o := entitySend(notifications.Payload{Title: "Deploy failed", Description: "*prod* is down", Link: "/catalog/x", Severity: notifications.SeverityCritical}, "group:default/g")
	got, err := p.ProcessOptions(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got.Payload.Title != o.Payload.Title || len(got.Recipients.EntityRefs) != 1 {
		t.Fatalf("options changed: %+v", got)
	}
	calls := f.recorded()
	if len(calls) != 1 || calls[0].Method != "chat.postMessage" {
		t.Fatalf("calls = %+v", calls)
	}
	c := calls[0]
	if (c.Auth != "Bearer xoxb-test" && c.Form.Get("token") != "xoxb-test") || c.Form.Get("channel") != "C123" || c.Form.Get("text") != "Deploy failed" || c.Form.Get("username") != "Backstage" {
		t.Fatalf("auth %q form %v", c.Auth, c.Form)
	}
	att := c.attachments(t)
	if len(att) != 1 || att[0]["color"] != "#FF0000" || att[0]["fallback"] != "Deploy failed" {
		t.Fatalf("attachments = %v", att)
	}
	blocks := att[0]["blocks"].([]any)
	section := blocks[0].(map[string]any)
	text := section["text"].(map[string]any)
	button := section["accessory"].(map[string]any)
	if section["type"] != "section" || text["type"] != "mrkdwn" || text["text"] != "*prod* is down" {
		t.Fatalf("section = %v", section)
	}
	if button["type"] != "button" || button["url"] != "https://backstage.example.com/catalog/x" || button["text"].(map[string]any)["text"] != "View More" {
		t.Fatalf("button = %v", button)
	}
	ctxBlock := blocks[1].(map[string]any)
	elems := ctxBlock["elements"].([]any)
	if ctxBlock["type"] != "context" || elems[0].(map[string]any)["text"] != "Severity: critical" || elems[1].(map[string]any)["text"] != "Topic: N/A" {
		t.Fatalf("context = %v", ctxBlock)
	}
}

func TestTitleIsEscaped(t *testing.T) {
	t.Parallel()
	p, f, _ := setup(t, slack.Config{})
	o := entitySend(notifications.Payload{Title: "<!channel> a & b <https://evil.example|click>"}, "group:default/g")
	if _, err := p.ProcessOptions(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	c := f.recorded()[0]
	if got, want := c.Form.Get("text"), "&lt;!channel&gt; a &amp; b &lt;https://evil.example|click&gt;"; got != want {
		t.Fatalf("text = %q, want %q", got, want)
	}
	if got := c.attachments(t)[0]["fallback"]; got != o.Payload.Title {
		t.Fatalf("fallback = %q", got)
	}
}

func TestMessageDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		severity notifications.Severity
		color    string
	}{{notifications.SeverityHigh, "#FFA500"}, {notifications.SeverityNormal, "#00A699"}, {"", "#00A699"}, {notifications.SeverityLow, "#00A699"}}
	for _, tt := range tests {
		p, f, _ := setup(t, slack.Config{}) // no BaseURL: a relative link gets no button
		o := entitySend(notifications.Payload{Title: "T", Severity: tt.severity, Topic: "builds", Link: "/relative"}, "group:default/g")
		if _, err := p.ProcessOptions(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		att := f.recorded()[0].attachments(t)[0]
		blocks := att["blocks"].([]any)
		section := blocks[0].(map[string]any)
		elems := blocks[1].(map[string]any)["elements"].([]any)
		if att["color"] != tt.color || section["text"].(map[string]any)["text"] != "No description provided" || section["accessory"] != nil ||
			elems[0].(map[string]any)["text"] != "Severity: "+string(tt.severity.OrDefault()) || elems[1].(map[string]any)["text"] != "Topic: builds" {
			t.Fatalf("severity %q: attachment = %v", tt.severity, att)
		}
	}
}

// An entity send posts once per channel its non-user entities name (their
// bot-notify annotation, or metadata.slackChannel instead), in the options
// phase; the users the group resolves to get no direct message.
func TestGroupSendPostsToChannelOnly(t *testing.T) {
	t.Parallel()
	p, f, _ := setup(t, slack.Config{})
	o := entitySend(notifications.Payload{Title: "T"}, "group:default/g", "component:default/api", "group:default/plain", "group:default/missing")
	if _, err := p.ProcessOptions(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	// The member the group resolved to gets no DM.
	if err := p.PostProcess(t.Context(), userNote("user:default/member", o), o); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	if len(calls) != 1 || calls[0].Form.Get("channel") != "C123" {
		t.Fatalf("want one post to C123 (the group and the component share it), got %+v", calls)
	}

	p, f, _ = setup(t, slack.Config{})
	o = entitySend(notifications.Payload{Title: "T", Metadata: map[string]any{"slackChannel": "C999"}}, "group:default/g")
	if _, err := p.ProcessOptions(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if calls := f.recorded(); len(calls) != 1 || calls[0].Form.Get("channel") != "C999" {
		t.Fatalf("want one post to C999, got %+v", calls)
	}

	// Broadcasts and user-only sends post nothing in the options phase.
	p, f, _ = setup(t, slack.Config{BroadcastChannels: []string{"C1"}})
	for _, o := range []notifications.SendOptions{
		{Origin: "o", Recipients: notifications.Broadcast(), Payload: notifications.Payload{Title: "T"}},
		entitySend(notifications.Payload{Title: "T"}, "user:default/jane"),
	} {
		if _, err := p.ProcessOptions(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestDirectMessages(t *testing.T) {
	t.Parallel()
	p, f, _ := setup(t, slack.Config{})
	// Named as "user:jane", delivered as the canonical ref.
	o := entitySend(notifications.Payload{Title: "Hi"}, "user:jane", "user:default/bob", "user:default/nobody", "group:default/plain")
	if err := p.PostProcess(t.Context(), userNote("user:default/jane", o), o); err != nil {
		t.Fatal(err)
	}
	if err := p.PostProcess(t.Context(), userNote("user:default/bob", o), o); err != nil {
		t.Fatal(err)
	}
	err := p.PostProcess(t.Context(), userNote("user:default/nobody", o), o)
	if !notifications.IsPermanent(err) || !strings.Contains(err.Error(), "no Slack user") {
		t.Fatalf("nobody: err = %v, want a permanent failure", err)
	}
	var posted []string
	lookups := 0
	for _, c := range f.recorded() {
		switch c.Method {
		case "chat.postMessage":
			posted = append(posted, c.Form.Get("channel"))
		case "users.lookupByEmail":
			lookups++
			if e := c.Form.Get("email"); e != "bob@example.com" && e != "nobody@example.com" {
				t.Errorf("looked up %q", e)
			}
		}
	}
	if !slices.Equal(posted, []string{"U111", "U222"}) || lookups != 2 {
		t.Fatalf("posted to %v after %d lookups", posted, lookups)
	}

	// Lookups are cached, misses too.
	_ = p.PostProcess(t.Context(), userNote("user:default/bob", o), o)
	_ = p.PostProcess(t.Context(), userNote("user:default/nobody", o), o)
	lookups = 0
	for _, c := range f.recorded() {
		if c.Method == "users.lookupByEmail" {
			lookups++
		}
	}
	if lookups != 2 {
		t.Fatalf("%d lookups, want the 2 cached ones", lookups)
	}
}

func TestMentions(t *testing.T) {
	t.Parallel()
	p, f, _ := setup(t, slack.Config{})
	o := entitySend(notifications.Payload{Title: "T", Description: "ping <@user:default/jane>, <@user:bob> and <@user:default/ghost>"}, "group:default/g")
	if _, err := p.ProcessOptions(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	var text string
	for _, c := range f.recorded() {
		if c.Method == "chat.postMessage" {
			text = c.attachments(t)[0]["blocks"].([]any)[0].(map[string]any)["text"].(map[string]any)["text"].(string)
		}
	}
	if want := "ping <@U111>, <@U222> and <@user:default/ghost>"; text != want {
		t.Fatalf("description = %q, want %q", text, want)
	}
}

// Broadcast routing: a route matching origin and topic wins, then an
// origin-only route, then a topic-only route, then BroadcastChannels.
func TestBroadcastRoutes(t *testing.T) {
	t.Parallel()
	routes := []slack.Route{
		{Origin: "o", Channels: []string{"c1"}},
		{Origin: "o", Topic: "t", Channels: []string{"c2", "c3"}},
		{Topic: "t", Channels: []string{"c4"}},
	}
	tests := []struct {
		origin, topic string
		fallback      []string
		want          []string
	}{
		{"o", "t", nil, []string{"c2", "c3"}},
		{"o", "u", nil, []string{"c1"}},
		{"o", "", nil, []string{"c1"}},
		{"p", "t", nil, []string{"c4"}},
		{"p", "", nil, nil},
		{"p", "", []string{"fallback"}, []string{"fallback"}},
		{"p", "u", []string{"fallback"}, []string{"fallback"}},
	}
	for _, tt := range tests {
		p, f, _ := setup(t, slack.Config{BroadcastRoutes: routes, BroadcastChannels: tt.fallback})
		if got := p.RouteChannels(tt.origin, tt.topic); !slices.Equal(got, tt.want) {
			t.Errorf("RouteChannels(%q, %q) = %v, want %v", tt.origin, tt.topic, got, tt.want)
		}
		n := notifications.Notification{ID: "b", Origin: tt.origin, Payload: notifications.Payload{Title: "T", Topic: tt.topic}}
		if err := p.PostProcess(t.Context(), n, notifications.SendOptions{Origin: tt.origin, Recipients: notifications.Broadcast(), Payload: n.Payload}); err != nil {
			t.Fatal(err)
		}
		var posted []string
		for _, c := range f.recorded() {
			posted = append(posted, c.Form.Get("channel"))
		}
		if !slices.Equal(posted, tt.want) {
			t.Errorf("origin %q topic %q posted to %v, want %v", tt.origin, tt.topic, posted, tt.want)
		}
	}
}

func TestScopedUpdate(t *testing.T) {
	t.Parallel()
	store := slack.NewMemoryTimestamps()
	now := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	p, f, _ := setup(t, slack.Config{Timestamps: store, BroadcastChannels: []string{"C1"}, NowFunc: func() time.Time { return now }})

	o := entitySend(notifications.Payload{Title: "Build 1 running", Scope: "build-1"}, "user:default/jane")
	first := userNote("user:default/jane", o)
	if err := p.PostProcess(t.Context(), first, o); err != nil {
		t.Fatal(err)
	}
	ts, ok, err := store.SlackTimestamp(t.Context(), "plugin:test", "build-1", "U111")
	if err != nil || !ok {
		t.Fatalf("no stored timestamp: %v", err)
	}
	postedTS := strings.TrimPrefix(ts, "D111/")
	if ts == postedTS {
		t.Fatalf("stored %q: the DM channel should be kept for chat.update", ts)
	}

	o.Payload.Title = "Build 1 passed"
	second := userNote("user:default/jane", o)
	updated := now.Add(time.Minute)
	second.Updated = &updated
	if err := p.PostProcess(t.Context(), second, o); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	if len(calls) != 2 || calls[1].Method != "chat.update" {
		t.Fatalf("calls = %+v", calls)
	}
	if c := calls[1]; c.Form.Get("channel") != "D111" || c.Form.Get("ts") != postedTS || c.Form.Get("text") != "Build 1 passed" {
		t.Fatalf("chat.update form = %v", c.Form)
	}

	// An edit Slack refuses falls back to a new post, whose ts is stored.
	f.failNext("chat.update", slackError("message_not_found"))
	if err := p.PostProcess(t.Context(), second, o); err != nil {
		t.Fatal(err)
	}
	calls = f.recorded()
	if len(calls) != 4 || calls[2].Method != "chat.update" || calls[3].Method != "chat.postMessage" {
		t.Fatalf("calls = %+v", calls)
	}
	if ts2, _, _ := store.SlackTimestamp(t.Context(), "plugin:test", "build-1", "U111"); ts2 == ts {
		t.Fatal("timestamp not replaced after the fallback post")
	}

	// A re-send without a stored timestamp (another scope) posts.
	o.Payload.Scope = "build-2"
	third := userNote("user:default/jane", o)
	third.Updated = &updated
	if err := p.PostProcess(t.Context(), third, o); err != nil {
		t.Fatal(err)
	}
	if calls := f.recorded(); calls[len(calls)-1].Method != "chat.postMessage" {
		t.Fatalf("last call %s", calls[len(calls)-1].Method)
	}

	// Channel messages of a scoped entity send are edited from the options
	// phase: the scope alone marks a re-send there.
	g := entitySend(notifications.Payload{Title: "v1", Scope: "deploy"}, "group:default/g")
	if _, err := p.ProcessOptions(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	g.Payload.Title = "v2"
	if _, err := p.ProcessOptions(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	calls = f.recorded()
	last := calls[len(calls)-1]
	if last.Method != "chat.update" || last.Form.Get("channel") != "C123" || last.Form.Get("text") != "v2" {
		t.Fatalf("last call %s %v", last.Method, last.Form)
	}

	// Timestamps are stored and cleaned by Config.NowFunc's clock: a day
	// later by that clock, every one of them is old.
	if n, err := p.CleanTimestamps(t.Context()); err != nil || n != 0 {
		t.Fatalf("CleanTimestamps at the same time = %d, %v; want 0", n, err)
	}
	now = now.Add(slack.TimestampTTL + time.Second)
	if n, err := p.CleanTimestamps(t.Context()); err != nil || n != 3 {
		t.Fatalf("CleanTimestamps a day later = %d, %v; want the 3 stored (build-1, build-2, deploy)", n, err)
	}
}

// inDelivery returns a context carrying delivery id's attempt, as the
// Service sets it.
func inDelivery(t *testing.T, id string, attempt int) context.Context {
	t.Helper()
	return notifications.ContextWithDelivery(t.Context(), notifications.Delivery{ID: id, Processor: slack.Name, Attempts: attempt})
}

// PostProcess makes each call once and classifies the failure for the
// Service's retries.
func TestClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter)
		permanent  bool
		retryAfter time.Duration
	}{
		{"rate limited", status(http.StatusTooManyRequests, "7"), false, 7 * time.Second},
		{"rate limited for days", status(http.StatusTooManyRequests, "999999"), false, processors.MaxRetryAfter},
		{"500", status(http.StatusInternalServerError, ""), false, 0},
		{"503", status(http.StatusServiceUnavailable, ""), false, 0},
		{"internal_error", slackError("internal_error"), false, 0},
		{"fatal_error", slackError("fatal_error"), false, 0},
		{"an error unknown to the processor", slackError("something_new"), false, 0},
		{"channel_not_found", slackError("channel_not_found"), true, 0},
		{"not_in_channel", slackError("not_in_channel"), true, 0},
		{"invalid_auth", slackError("invalid_auth"), true, 0},
		{"token_revoked", slackError("token_revoked"), true, 0},
		{"missing_scope", slackError("missing_scope"), true, 0},
		{"msg_too_long", slackError("msg_too_long"), true, 0},
		{"404", status(http.StatusNotFound, ""), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			p, f, sleeps := setup(t, slack.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			f.failNext("chat.postMessage", tt.answer)
			f.failNext("chat.postMessage", tt.answer)
			o := entitySend(notifications.Payload{Title: "T"}, "user:default/jane")
			err := p.PostProcess(inDelivery(t, "d-1", 1), userNote("user:default/jane", o), o)
			if err == nil || !strings.Contains(err.Error(), "n-1") || !strings.Contains(err.Error(), "U111") {
				t.Fatalf("err = %v, want the notification id and the channel", err)
			}
			if n := len(f.recorded()); n != 1 || len(sleeps.all()) != 0 {
				t.Fatalf("%d requests, waits %v: PostProcess must make one call and leave retries to the Service", n, sleeps.all())
			}
			if got := notifications.IsPermanent(err); got != tt.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			d, later := notifications.RetryAfter(err)
			if later != (tt.retryAfter > 0) || d != tt.retryAfter {
				t.Fatalf("RetryAfter(%v) = %s, %v; want %s", err, d, later, tt.retryAfter)
			}
			// The failure is returned, for the Service to log; not logged here too.
			if l := logs.String(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				t.Fatalf("the processor logged the failure it returned: %s", l)
			}

			// The Service's next attempt goes through once Slack does.
			if !tt.permanent {
				if err := p.PostProcess(inDelivery(t, "d-1", 2), userNote("user:default/jane", o), o); err == nil {
					t.Fatal("the second queued failure was not met")
				}
				if err := p.PostProcess(inDelivery(t, "d-1", 3), userNote("user:default/jane", o), o); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A network error is transient, and the API URL inside net/http's
// *url.Error is redacted like a webhook's.
func TestNetworkError(t *testing.T) {
	t.Parallel()
	srv, _ := processortest.DroppingServer(t)
	p, err := slack.New(slack.Config{Token: "xoxb-test", APIURL: srv.URL + "/api/?proxy_key=s3cret&m=", BroadcastChannels: []string{"C1"}, ThrottleInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	n := notifications.Notification{ID: "b", Origin: "o", Payload: notifications.Payload{Title: "B"}}
	err = p.PostProcess(inDelivery(t, "d-1", 1), n, notifications.SendOptions{Recipients: notifications.Broadcast()})
	if err == nil || notifications.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if _, ok := errors.AsType[*url.Error](err); !ok || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %q, want the *url.Error with its query redacted", err)
	}
}

// The options phase runs inside Send, with no delivery behind it, so it
// retries each call in process: after Slack's Retry-After when that is
// short, else after a jittered backoff, up to OptionsAttempts.
func TestOptionsPhaseRetries(t *testing.T) {
	t.Parallel()
	p, f, sleeps := setup(t, slack.Config{})
	f.failNext("chat.postMessage", status(http.StatusTooManyRequests, "1"))
	f.failNext("chat.postMessage", status(http.StatusServiceUnavailable, ""))
	o := entitySend(notifications.Payload{Title: "T"}, "group:default/g")
	if _, err := p.ProcessOptions(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if n := len(f.recorded()); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	d := sleeps.all()
	if len(d) != 2 || d[0] != time.Second || d[1] < time.Second || d[1] > 2*time.Second {
		t.Fatalf("waits = %v, want Retry-After's 1s, then a backoff within [1s, 2s]", d)
	}

	// Bounded by OptionsAttempts; a permanent error and a long rate limit
	// are not retried.
	p, f, _ = setup(t, slack.Config{OptionsAttempts: 2})
	for range 5 {
		f.failNext("chat.postMessage", status(http.StatusInternalServerError, ""))
	}
	if _, err := p.ProcessOptions(t.Context(), o); err == nil || len(f.recorded()) != 2 {
		t.Fatalf("err = %v after %d requests, want a failure after 2", err, len(f.recorded()))
	}
	p, f, sleeps = setup(t, slack.Config{})
	f.failNext("chat.postMessage", slackError("channel_not_found"))
	if _, err := p.ProcessOptions(t.Context(), o); err == nil || len(f.recorded()) != 1 {
		t.Fatalf("channel_not_found: err = %v after %d requests, want 1", err, len(f.recorded()))
	}
	f.failNext("chat.postMessage", status(http.StatusTooManyRequests, "30"))
	if _, err := p.ProcessOptions(t.Context(), o); err == nil || len(f.recorded()) != 2 || len(sleeps.all()) != 0 {
		t.Fatalf("a 30s rate limit: err = %v after %d requests, waits %v; want no wait inside Send", err, len(f.recorded())-1, sleeps.all())
	}
}

// A delivery's posts are recorded in the TimestampStore: a retry posts
// only to the channels that failed, from any instance sharing the store,
// and an attempt repeated after it succeeded (a crash before the Service
// recorded it) posts nothing.
func TestRetryDoesNotRepost(t *testing.T) {
	t.Parallel()
	shared := slack.NewMemoryTimestamps()
	p, f, _ := setup(t, slack.Config{Timestamps: shared, BroadcastChannels: []string{"C1", "C2"}})
	b := notifications.Notification{ID: "b", Origin: "o", Payload: notifications.Payload{Title: "B"}}
	opts := notifications.SendOptions{Origin: "o", Recipients: notifications.Broadcast(), Payload: b.Payload}
	posts := func(f *fakeSlack) []string {
		var out []string
		for _, c := range f.recorded() {
			if c.Method == "chat.postMessage" {
				out = append(out, c.Form.Get("channel"))
			}
		}
		return out
	}

	// C1 goes out, C2 fails.
	f.failChannel("C2", status(http.StatusInternalServerError, ""))
	err := p.PostProcess(inDelivery(t, "d-1", 1), b, opts)
	if err == nil || notifications.IsPermanent(err) || !strings.Contains(err.Error(), "C2") {
		t.Fatalf("first attempt: err = %v, want C2's 500, transient", err)
	}
	// The retry runs on another instance sharing the store.
	other, f2, _ := setup(t, slack.Config{Timestamps: shared, BroadcastChannels: []string{"C1", "C2"}})
	if err := other.PostProcess(inDelivery(t, "d-1", 2), b, opts); err != nil {
		t.Fatal(err)
	}
	if got, got2 := posts(f), posts(f2); !slices.Equal(got, []string{"C1", "C2"}) || !slices.Equal(got2, []string{"C2"}) {
		t.Fatalf("posted %v then %v, want C1 (and C2 failing), then C2 alone", got, got2)
	}
	// Repeated after it succeeded: nothing posted.
	if err := other.PostProcess(inDelivery(t, "d-1", 3), b, opts); err != nil || len(posts(f2)) != 1 {
		t.Fatalf("repeat: err = %v, posts %v", err, posts(f2))
	}

	// A re-send that replaced the delivery's content posts it (here, with
	// no stored scope to edit, as a new message); another delivery too.
	updated := time.Now()
	b2 := b
	b2.Updated = &updated
	if err := other.PostProcess(inDelivery(t, "d-1", 1), b2, opts); err != nil {
		t.Fatal(err)
	}
	if err := other.PostProcess(inDelivery(t, "d-2", 1), b, opts); err != nil {
		t.Fatal(err)
	}
	if got := posts(f2); len(got) != 5 {
		t.Fatalf("posts %v, want C2, then C1 and C2 twice", got)
	}
	// Outside a delivery nothing is recorded, so nothing is skipped.
	for range 2 {
		if err := other.PostProcess(t.Context(), b, opts); err != nil {
			t.Fatal(err)
		}
	}
	if got := posts(f2); len(got) != 9 {
		t.Fatalf("posts %v, want 4 more", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	p, f, _ := setup(t, slack.Config{ConcurrencyLimit: 1000, BroadcastChannels: []string{"C1", "C2"}})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			o := entitySend(notifications.Payload{Title: "T", Scope: "s", Description: "<@user:bob>"}, "user:default/bob", "group:default/g")
			if _, err := p.ProcessOptions(t.Context(), o); err != nil {
				t.Error(err)
			}
			if err := p.PostProcess(t.Context(), userNote("user:default/bob", o), o); err != nil {
				t.Error(err)
			}
			b := notifications.Notification{ID: "b", Origin: "o", Payload: notifications.Payload{Title: "B"}}
			if err := p.PostProcess(t.Context(), b, notifications.SendOptions{Recipients: notifications.Broadcast()}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Each round posts or edits 4 messages: the user's, two broadcast
	// channels, and the options phase's scoped edit.
	messages := 0
	for _, c := range f.recorded() {
		if c.Method == "chat.postMessage" || c.Method == "chat.update" {
			messages++
		}
	}
	if messages != 80 {
		t.Fatalf("%d messages posted or edited, want 80 (%d calls)", messages, len(f.recorded()))
	}
}

func TestTimestampCleaner(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := slack.NewMemoryTimestamps()
		p, err := slack.New(slack.Config{Token: "x", Timestamps: store})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		_ = store.PutSlackTimestamp(ctx, "o", "old", "C1", "1.1", time.Now())
		time.Sleep(23 * time.Hour)
		_ = store.PutSlackTimestamp(ctx, "o", "new", "C1", "1.2", time.Now())
		time.Sleep(2 * time.Hour) // "old" is now 25 h old, "new" 2 h

		if n, err := p.CleanTimestamps(ctx); err != nil || n != 1 {
			t.Fatalf("CleanTimestamps = %d, %v; want 1", n, err)
		}
		if _, ok, _ := store.SlackTimestamp(ctx, "o", "new", "C1"); !ok {
			t.Fatal("fresh timestamp removed")
		}

		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.RunTimestampCleaner(runCtx, time.Hour) }()
		time.Sleep(23*time.Hour + time.Second) // "new" passes 24 h; the next hourly tick removes it
		synctest.Wait()
		if _, ok, _ := store.SlackTimestamp(ctx, "o", "new", "C1"); ok {
			t.Fatal("the periodic cleaner did not remove an expired timestamp")
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("RunTimestampCleaner = %v", err)
		}
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := map[string]slack.Config{
		"no token":          {},
		"route no channel":  {Token: "x", BroadcastRoutes: []slack.Route{{Origin: "o"}}},
		"route no matcher":  {Token: "x", BroadcastRoutes: []slack.Route{{Channels: []string{"c"}}}},
		"bad base url":      {Token: "x", BaseURL: "/relative"},
		"bad api url":       {Token: "x", APIURL: "nope"},
		"bad filter":        {Token: "x", Filter: notifications.ProcessorFilter{MaxSeverity: "huge"}},
		"attempts too many": {Token: "x", OptionsAttempts: 11},
		"attempts negative": {Token: "x", OptionsAttempts: -1},
		"negative throttle": {Token: "x", ThrottleInterval: -time.Second},
	}
	for name, cfg := range tests {
		if _, err := slack.New(cfg); !errors.Is(err, slack.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}
