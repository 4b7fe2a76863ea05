package notifications_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/store"
)

const (
	mockUser = "user:default/mock"
	origin   = "external:test-service"
)

// signalLog records published signals.
type signalLog struct {
	mu   sync.Mutex
	sigs []signals.Signal
}

func (l *signalLog) Publish(_ context.Context, s signals.Signal) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sigs = append(l.sigs, s)
	return nil
}

func (l *signalLog) all() []signals.Signal {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sigs)
}

type fixture struct {
	svc     *notifications.Service
	signals *signalLog
	ctx     context.Context
}

// setup builds a Service on a fresh in-memory SQLite store with a
// catalog holding user mock and group mock, and Web defaults for two
// origins (one off, one with a topic off). It runs no delivery workers:
// a test runs deliveries with deliver. edit may change the config.
func setup(t *testing.T, edit func(*notifications.Config)) fixture {
	t.Helper()
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := &signalLog{}
	cfg := notifications.Config{
		Store:           st,
		Signals:         log,
		DeliveryWorkers: -1,
		Catalog: notifications.NewMemoryCatalog(
			notifications.CatalogEntity{Ref: mockUser},
			notifications.CatalogEntity{Ref: "group:default/mock", Relations: []notifications.Relation{{Type: notifications.RelationHasMember, TargetRef: mockUser}}},
		),
		DefaultSettings: notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "Web", Origins: []notifications.OriginSettings{
			{ID: "external:test-service2", Enabled: false},
			{ID: "external:test-service3", Enabled: true, Topics: []notifications.TopicSettings{{ID: "test-topic3", Enabled: false}}},
		}}}},
	}
	if edit != nil {
		edit(&cfg)
	}
	svc := startService(t, cfg)
	return fixture{svc: svc, signals: log, ctx: ctx}
}

func (f fixture) send(t *testing.T, r notifications.Recipients, p notifications.Payload) []notifications.Notification {
	t.Helper()
	ns, err := f.svc.Sender(origin).Send(f.ctx, r, p)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return ns
}

// deliver runs every delivery due now.
func (f fixture) deliver(t *testing.T) int {
	t.Helper()
	return notificationstest.DeliverAll(t, f.svc)
}

func (f fixture) count(t *testing.T, user string) int {
	t.Helper()
	res, err := f.svc.List(f.ctx, user, notifications.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.TotalCount
}

func TestSendLinks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		link string
		ok   bool
	}{
		{"javascript:alert(document.domain)", false},
		{"ftp://example.com", false},
		{"http://localhost/test", true},
		{"https://example.com", true},
		{"/catalog", true},
		{"//evil.example/x", false},
		{`/\evil.example/x`, false},
	} {
		t.Run(tt.link, func(t *testing.T) {
			t.Parallel()
			f := setup(t, nil)
			ns, err := f.svc.Sender(origin).Send(f.ctx, notifications.Broadcast(), notifications.Payload{Title: "test notification", Link: tt.link})
			if !tt.ok {
				if !errors.Is(err, notifications.ErrInvalid) {
					t.Fatalf("Send = %v, want ErrInvalid", err)
				}
				if f.count(t, mockUser) != 0 {
					t.Fatal("an invalid send stored something")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ns) != 1 || ns[0].User != "" || ns[0].Origin != origin || ns[0].Payload.Link != tt.link || ns[0].Payload.Severity != notifications.SeverityNormal {
				t.Fatalf("Send = %+v", ns)
			}
		})
	}
}

func TestSendToEntities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		to    notifications.Recipients
		users int
	}{
		{"user", notifications.Entity(mockUser), 1},
		{"user excluded", notifications.Entity(mockUser).Excluding(mockUser), 0},
		{"group", notifications.Entity("group:default/mock"), 1},
		{"group excluded", notifications.Entity("group:default/mock").Excluding("group:default/mock"), 0},
		{"group with member excluded", notifications.Entity("group:default/mock").Excluding(mockUser), 0},
		{"group and user de-duplicated", notifications.Entity("group:default/mock", mockUser), 1},
		{"refs canonicalised (unlike Backstage)", notifications.Entity("user:mock", "User:Default/mock"), 1},
		{"exclusion canonicalised", notifications.Entity("group:mock").Excluding("user:mock"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, nil)
			ns := f.send(t, tt.to, notifications.Payload{Title: "t", Metadata: map[string]any{"attr": 1}})
			if len(ns) != tt.users || f.count(t, mockUser) != tt.users {
				t.Fatalf("sent %d, stored %d; want %d", len(ns), f.count(t, mockUser), tt.users)
			}
			if tt.users == 1 {
				n := ns[0]
				if n.User != mockUser || n.Payload.Severity != notifications.SeverityNormal || n.Payload.Metadata["attr"] != float64(1) && n.Payload.Metadata["attr"] != 1 {
					t.Fatalf("sent %+v", n)
				}
			}
		})
	}
}

func TestSendInvalid(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	sender := f.svc.Sender(origin)
	for name, o := range map[string]struct {
		r notifications.Recipients
		p notifications.Payload
	}{
		"no recipients":              {notifications.Recipients{}, notifications.Payload{Title: "t"}},
		"invalid type":               {notifications.Recipients{Type: "invalid"}, notifications.Payload{Title: "t"}},
		"no title":                   {notifications.Entity(mockUser), notifications.Payload{}},
		"unknown severity":           {notifications.Entity(mockUser), notifications.Payload{Title: "t", Severity: "urgent"}},
		"title over 255 chars":       {notifications.Entity(mockUser), notifications.Payload{Title: strings.Repeat("x", 256)}},
		"malformed ref":              {notifications.Entity("user:"), notifications.Payload{Title: "t"}},
		"metadata over 64 KiB":       {notifications.Entity(mockUser), notifications.Payload{Title: "t", Metadata: map[string]any{"x": strings.Repeat("y", 70000)}}},
		"ref without kind":           {notifications.Entity("foo"), notifications.Payload{Title: "t"}},
		"group among bad refs":       {notifications.Entity(mockUser, "foo"), notifications.Payload{Title: "t"}},
		"long origin is not allowed": {notifications.Broadcast(), notifications.Payload{Title: "t", Topic: strings.Repeat("é", 256)}},
	} {
		if _, err := sender.Send(f.ctx, o.r, o.p); !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("%s: Send = %v, want ErrInvalid", name, err)
		}
	}
	_, err := sender.Send(f.ctx, notifications.Entity("foo"), notifications.Payload{Title: "t"})
	var rerr *notifications.ResolveError
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "failed to send user notifications") {
		t.Errorf("kind-less ref: %v, want a *ResolveError", err)
	}
	if f.count(t, mockUser) != 0 || len(f.signals.all()) != 0 {
		t.Error("invalid sends wrote or signalled something")
	}
	if _, err := f.svc.Sender("").Send(f.ctx, notifications.Broadcast(), notifications.Payload{Title: "t"}); !errors.Is(err, notifications.ErrInvalid) {
		t.Errorf("empty origin: %v", err)
	}
}

func TestSendWithoutCatalog(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *notifications.Config) { c.Catalog = nil })
	if ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"}); len(ns) != 1 {
		t.Fatalf("user send without a catalog: %v", ns)
	}
	_, err := f.svc.Sender(origin).Send(f.ctx, notifications.Entity("group:default/mock"), notifications.Payload{Title: "t"})
	if err == nil || !strings.Contains(err.Error(), "needs a Catalog") {
		t.Fatalf("group send without a catalog: %v", err)
	}
}

func saveSettings(t *testing.T, f fixture, user string, s notifications.Settings) {
	t.Helper()
	if _, err := f.svc.SaveSettings(f.ctx, user, s); err != nil {
		t.Fatal(err)
	}
}

func webOrigin(originID string, enabled bool, topics ...notifications.TopicSettings) notifications.Settings {
	return notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "Web", Origins: []notifications.OriginSettings{{ID: originID, Enabled: enabled, Topics: topics}}}}}
}

func TestSendRespectsWebSettings(t *testing.T) {
	t.Parallel()
	t.Run("origin off suppresses, no signal", func(t *testing.T) {
		t.Parallel()
		f := setup(t, nil)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "seed"})
		saveSettings(t, f, mockUser, webOrigin(origin, false))
		before := len(f.signals.all())
		if ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"}); len(ns) != 0 {
			t.Fatalf("suppressed send returned %v", ns)
		}
		if f.count(t, mockUser) != 1 || len(f.signals.all()) != before {
			t.Fatal("suppressed send stored or signalled")
		}
	})
	t.Run("topic off suppresses that topic", func(t *testing.T) {
		t.Parallel()
		f := setup(t, nil)
		saveSettings(t, f, mockUser, webOrigin(origin, true, notifications.TopicSettings{ID: "test-topic", Enabled: false}))
		if ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t", Topic: "test-topic"}); len(ns) != 0 {
			t.Fatalf("suppressed send returned %v", ns)
		}
		if ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"}); len(ns) != 1 {
			t.Fatalf("send without topic returned %v", ns)
		}
	})
	optIn := func(c *notifications.Config) {
		c.DefaultSettings = notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "Web", Enabled: new(false)}}}
	}
	t.Run("opt-in channel suppresses", func(t *testing.T) {
		t.Parallel()
		f := setup(t, optIn)
		if ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t", Topic: "x"}); len(ns) != 0 || f.count(t, mockUser) != 0 {
			t.Fatalf("opt-in channel delivered %v", ns)
		}
	})
	t.Run("opt-in channel with the topic opted in", func(t *testing.T) {
		t.Parallel()
		f := setup(t, optIn)
		saveSettings(t, f, mockUser, webOrigin(origin, true, notifications.TopicSettings{ID: "important-topic", Enabled: true}))
		ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t", Topic: "important-topic"})
		if len(ns) != 1 || ns[0].Payload.Topic != "important-topic" {
			t.Fatalf("opted-in topic: %v", ns)
		}
	})
	t.Run("broadcasts bypass settings", func(t *testing.T) {
		t.Parallel()
		f := setup(t, optIn)
		if ns := f.send(t, notifications.Broadcast(), notifications.Payload{Title: "t"}); len(ns) != 1 || f.count(t, mockUser) != 1 {
			t.Fatalf("broadcast under an opt-in channel: %v", ns)
		}
	})
}

func TestCustomResolver(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		returns []string
		want    int
	}{
		"returns a user":           {[]string{mockUser}, 1},
		"returns a non-user":       {[]string{"system:default/mock"}, 0},
		"returns garbage and dups": {[]string{"", "user:mock", mockUser, "nope:"}, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got notifications.ResolveOptions
			f := setup(t, func(c *notifications.Config) {
				c.Resolver = notifications.RecipientResolverFunc(func(_ context.Context, o notifications.ResolveOptions) ([]string, error) {
					got = o
					return tt.returns, nil
				})
			})
			ns := f.send(t, notifications.Entity("system:mock").Excluding("user:x"), notifications.Payload{Title: "t"})
			if len(ns) != tt.want {
				t.Fatalf("sent %v", ns)
			}
			if !slices.Equal(got.EntityRefs, []string{"system:default/mock"}) || !slices.Equal(got.ExcludeEntityRefs, []string{"user:default/x"}) {
				t.Fatalf("resolver got %+v, want canonical refs", got)
			}
		})
	}
}

func TestSendSignals(t *testing.T) {
	t.Parallel()
	f := setup(t, nil)
	ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	b := f.send(t, notifications.Broadcast(), notifications.Payload{Title: "b"})
	sigs := f.signals.all()
	if len(sigs) != 2 {
		t.Fatalf("signals = %+v, want 2", sigs)
	}
	user, bcast := sigs[0], sigs[1]
	msg := user.Message.(notifications.NotificationMessage)
	if user.Channel != "notifications" || user.Recipients.Type != signals.RecipientUser || !slices.Equal(user.Recipients.EntityRefs, []string{mockUser}) ||
		msg.Action != "new_notification" || msg.NotificationID != ns[0].ID || msg.Notification.ID != ns[0].ID {
		t.Errorf("user signal = %+v", user)
	}
	bmsg := bcast.Message.(notifications.NotificationMessage)
	if !bcast.Recipients.IsBroadcast() || bmsg.NotificationID != b[0].ID {
		t.Errorf("broadcast signal = %+v", bcast)
	}
}

func TestScopedResend(t *testing.T) {
	t.Parallel()
	t.Run("user", func(t *testing.T) {
		t.Parallel()
		f := setup(t, nil)
		first := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "A", Scope: "s1", Icon: "icon-a"})[0]
		if _, err := f.svc.Update(f.ctx, mockUser, notifications.UpdateOptions{IDs: []string{first.ID}, Read: new(true), Saved: new(true)}); err != nil {
			t.Fatal(err)
		}
		second := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "B", Scope: "s1", Severity: notifications.SeverityLow})[0]
		if second.ID != first.ID || second.Payload.Title != "B" || second.Read != nil || second.Updated == nil || !second.Created.Equal(first.Created) ||
			second.Payload.Severity != notifications.SeverityLow || second.Saved == nil || second.Payload.Icon != "icon-a" {
			t.Fatalf("re-send = %+v, first = %+v", second, first)
		}
		if f.count(t, mockUser) != 1 {
			t.Fatal("scoped re-send added a row")
		}
	})
	t.Run("metadata cleared and replaced", func(t *testing.T) {
		t.Parallel()
		f := setup(t, nil)
		first := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "A", Scope: "s", Metadata: map[string]any{"a": 1}})[0]
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "A", Scope: "s"})
		got, err := f.svc.Get(f.ctx, mockUser, first.ID)
		if err != nil || got.Payload.Metadata != nil {
			t.Fatalf("metadata after a re-send without it: %v, %v", got.Payload.Metadata, err)
		}
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "A", Scope: "s", Metadata: map[string]any{"b": 2}})
		got, _ = f.svc.Get(f.ctx, mockUser, first.ID)
		if fmt.Sprint(got.Payload.Metadata) != "map[b:2]" {
			t.Fatalf("metadata = %v, want map[b:2]", got.Payload.Metadata)
		}
	})
	t.Run("different origin adds a row", func(t *testing.T) {
		t.Parallel()
		f := setup(t, nil)
		f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "A", Scope: "s"})
		if _, err := f.svc.Sender("external:other").Send(f.ctx, notifications.Entity(mockUser), notifications.Payload{Title: "A", Scope: "s"}); err != nil {
			t.Fatal(err)
		}
		if f.count(t, mockUser) != 2 {
			t.Fatal("same scope from another origin did not add a row")
		}
	})
	t.Run("broadcast returns the stored id (unlike Backstage)", func(t *testing.T) {
		t.Parallel()
		f := setup(t, nil)
		first := f.send(t, notifications.Broadcast(), notifications.Payload{Title: "A", Scope: "s"})[0]
		if _, err := f.svc.Update(f.ctx, mockUser, notifications.UpdateOptions{IDs: []string{first.ID}, Read: new(true)}); err != nil {
			t.Fatal(err)
		}
		second := f.send(t, notifications.Broadcast(), notifications.Payload{Title: "B", Scope: "s"})[0]
		if second.ID != first.ID || second.Payload.Title != "B" {
			t.Fatalf("re-send = %+v", second)
		}
		sigs := f.signals.all()
		if last := sigs[len(sigs)-1].Message.(notifications.NotificationMessage); last.NotificationID != first.ID {
			t.Fatalf("signal carries %s, want the stored id %s", last.NotificationID, first.ID)
		}
		got, err := f.svc.Get(f.ctx, mockUser, first.ID)
		if err != nil || got.Read == nil || got.Payload.Title != "B" || f.count(t, mockUser) != 1 {
			t.Fatalf("reader's state after a broadcast re-send: %+v, %v", got, err)
		}
	})
	t.Run("concurrent scoped sends leave one row", func(t *testing.T) {
		t.Parallel()
		f := setup(t, nil)
		var wg sync.WaitGroup
		ids := make([]string, 16)
		for i := range ids {
			wg.Go(func() {
				ns, err := f.svc.Sender(origin).Send(f.ctx, notifications.Entity(mockUser), notifications.Payload{Title: fmt.Sprint(i), Scope: "race"})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = ns[0].ID
			})
		}
		wg.Wait()
		if f.count(t, mockUser) != 1 {
			t.Fatalf("%d rows after concurrent scoped sends", f.count(t, mockUser))
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("concurrent scoped sends returned different ids: %v", ids)
			}
		}
	})
}

func TestFailedSendWritesNothing(t *testing.T) {
	t.Parallel()
	// Two recipients given the same id: the second insert violates the
	// primary key, and the whole send must roll back.
	f := setup(t, func(c *notifications.Config) {
		c.NewIDFunc = func() string { return "0b6c1a4e-3c1b-4f57-9b7a-2a1f3c4d5e6f" }
		c.Catalog = notifications.NewMemoryCatalog(notifications.CatalogEntity{Ref: "group:default/two", Relations: []notifications.Relation{
			{Type: notifications.RelationHasMember, TargetRef: "user:default/a"},
			{Type: notifications.RelationHasMember, TargetRef: "user:default/b"},
		}})
	})
	if _, err := f.svc.Sender(origin).Send(f.ctx, notifications.Entity("group:default/two"), notifications.Payload{Title: "t"}); err == nil {
		t.Fatal("send with a duplicate id succeeded")
	}
	if f.count(t, "user:default/a")+f.count(t, "user:default/b") != 0 || len(f.signals.all()) != 0 {
		t.Fatal("a failed send left rows or signals behind")
	}
}

// logRecords is a slog handler that keeps every record.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func (l *logRecords) all() []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

// phaseLog records processor calls in order.
type phaseLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *phaseLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *phaseLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// allPhases is a processor that takes part in every phase.
type allPhases struct {
	name   string
	filter notifications.ProcessorFilter
	opts   func(context.Context, notifications.SendOptions) (notifications.SendOptions, error)
	pre    func(context.Context, notifications.Notification, notifications.SendOptions) (notifications.Notification, error)
	post   func(context.Context, notifications.Notification, notifications.SendOptions) error
}

func (p *allPhases) Name() string                          { return p.name }
func (p *allPhases) Filter() notifications.ProcessorFilter { return p.filter }
func (p *allPhases) ProcessOptions(ctx context.Context, o notifications.SendOptions) (notifications.SendOptions, error) {
	return p.opts(ctx, o)
}
func (p *allPhases) PreProcess(ctx context.Context, n notifications.Notification, o notifications.SendOptions) (notifications.Notification, error) {
	return p.pre(ctx, n, o)
}
func (p *allPhases) PostProcess(ctx context.Context, n notifications.Notification, o notifications.SendOptions) error {
	return p.post(ctx, n, o)
}

func recordingProcessor(name string, log *phaseLog, fail string) *allPhases {
	maybeFail := func(phase string) error {
		switch fail {
		case phase + ":error":
			return errors.New("boom")
		case phase + ":panic":
			panic("boom")
		}
		return nil
	}
	return &allPhases{
		name: name,
		opts: func(_ context.Context, o notifications.SendOptions) (notifications.SendOptions, error) {
			log.add(name + ".options")
			o.Payload.Description += "[" + name + "]"
			return o, maybeFail("options")
		},
		pre: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
			log.add(name + ".pre " + n.User)
			n.Payload.Icon += "[" + name + "]"
			return n, maybeFail("pre")
		},
		post: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
			log.add(name + ".post " + n.User)
			return maybeFail("post")
		},
	}
}

func TestProcessorPhases(t *testing.T) {
	t.Parallel()
	log := &phaseLog{}
	f := setup(t, func(c *notifications.Config) {
		c.Processors = []notifications.Processor{recordingProcessor("a", log, ""), recordingProcessor("b", log, "")}
	})
	ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	if n := f.deliver(t); n != 2 {
		t.Fatalf("%d delivery attempts, want one per post-processor", n)
	}
	if err := f.svc.Close(f.ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"a.options", "b.options", "a.pre " + mockUser, "b.pre " + mockUser}
	got := log.all()
	if !slices.Equal(got[:4], want) || len(got) != 6 || !slices.Contains(got[4:], "a.post "+mockUser) || !slices.Contains(got[4:], "b.post "+mockUser) {
		t.Fatalf("calls = %v", got)
	}
	if ns[0].Payload.Description != "[a][b]" || ns[0].Payload.Icon != "[a][b]" {
		t.Fatalf("processors' changes not applied in order: %+v", ns[0].Payload)
	}
	if _, err := f.svc.Sender(origin).Send(f.ctx, notifications.Broadcast(), notifications.Payload{Title: "t"}); !errors.Is(err, notifications.ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
}

func TestProcessorFailuresAreContained(t *testing.T) {
	t.Parallel()
	for _, fail := range []string{"options:error", "options:panic", "pre:error", "pre:panic", "post:error", "post:panic"} {
		t.Run(fail, func(t *testing.T) {
			t.Parallel()
			log := &phaseLog{}
			logs := &logRecords{}
			f := setup(t, func(c *notifications.Config) {
				c.Processors = []notifications.Processor{recordingProcessor("bad", log, fail), recordingProcessor("good", log, "")}
				c.Logger = slog.New(logs)
			})
			ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
			f.deliver(t)
			// Logged once, by the Service, naming processor and phase.
			phase := map[string]string{"options": "processOptions", "pre": "preProcess", "post": "postProcess"}[strings.Split(fail, ":")[0]]
			records := logs.all()
			if len(records) != 1 || records[0].Message != "notifications: processor failed" ||
				attr(records[0], "processor") != "bad" || attr(records[0], "phase") != phase ||
				(phase != "processOptions") != (attr(records[0], "notification_id") == ns[0].ID) {
				t.Fatalf("logs = %v, want one processor failure of bad in %s", records, phase)
			}
			if msg := attr(records[0], "error"); msg != "boom" && msg != "panic: boom" {
				t.Errorf("logged error %q", msg)
			}
			if strings.HasSuffix(fail, ":panic") != strings.Contains(attr(records[0], "stack"), "recordingProcessor") {
				t.Errorf("stack = %q; want the panic's stack, only for a panic", attr(records[0], "stack"))
			}
			if len(ns) != 1 || f.count(t, mockUser) != 1 {
				t.Fatal("a failing processor stopped the send")
			}
			if !slices.Contains(log.all(), "good.post "+mockUser) {
				t.Fatalf("the other processor did not run: %v", log.all())
			}
			// A failing phase's result is dropped, the others' kept.
			if phase, _, _ := strings.Cut(fail, ":"); phase == "pre" && ns[0].Payload.Icon != "[good]" {
				t.Errorf("icon = %q, want only the good processor's change", ns[0].Payload.Icon)
			}
		})
	}
}

func TestProcessorFiltersAndChannels(t *testing.T) {
	t.Parallel()
	log := &phaseLog{}
	email := recordingProcessor("Email", log, "")
	email.filter = notifications.ProcessorFilter{MinSeverity: notifications.SeverityHigh}
	chat := recordingProcessor("Chat", log, "")
	f := setup(t, func(c *notifications.Config) { c.Processors = []notifications.Processor{email, chat} })
	// The user turned Email off for this origin; Web stays on.
	saveSettings(t, f, mockUser, notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "Email", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}}}})
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t", Severity: notifications.SeverityCritical})
	// Normal severity: the Email filter skips it even for other users.
	f.send(t, notifications.Entity("user:default/other"), notifications.Payload{Title: "t"})
	// Web off for user other: no inbox row, but Chat and Email still run.
	saveSettings(t, f, "user:default/other", webOrigin(origin, false))
	if ns := f.send(t, notifications.Entity("user:default/other"), notifications.Payload{Title: "t", Severity: notifications.SeverityHigh}); len(ns) != 0 {
		t.Fatalf("Web off still delivered %v", ns)
	}
	f.deliver(t)
	got := log.all()
	count := func(call string) int {
		n := 0
		for _, c := range got {
			if c == call {
				n++
			}
		}
		return n
	}
	if count("Email.options") != 2 || count("Email.pre "+mockUser) != 0 || count("Email.post "+mockUser) != 0 || count("Chat.post "+mockUser) != 1 {
		t.Errorf("channel settings for mock: %v", got)
	}
	if count("Email.post user:default/other") != 1 || count("Chat.post user:default/other") != 2 {
		t.Errorf("filters and Web-off post-processing for other: %v", got)
	}
}

// Close waits for the attempt in flight and records its outcome; the
// attempt runs on a context the sender's cancellation does not reach.
func TestCloseWaitsForAttemptsInFlight(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	slow := &notifications.PostProcessorFunc{ProcessorName: "slow", Func: func(ctx context.Context, _ notifications.Notification, _ notifications.SendOptions) error {
		close(started)
		<-release
		if ctx.Err() != nil {
			t.Error("the attempt's context was cancelled with the sender's")
		}
		return nil
	}}
	var recorded atomic.Int32
	f := setup(t, func(c *notifications.Config) {
		c.Processors = []notifications.Processor{slow}
		c.DeliveryWorkers = 1
		c.OnDelivery = func(context.Context, notifications.Delivery) { recorded.Add(1) }
	})
	sendCtx, cancel := context.WithCancel(f.ctx)
	ns, err := f.svc.Sender(origin).Send(sendCtx, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // the sender goes away; its delivery must not
	waitFor(t, started, "the attempt to start")
	closed := make(chan error, 1)
	go func() { closed <- f.svc.Close(f.ctx) }()
	close(release)
	if err := waitFor(t, closed, "Close"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if recorded.Load() != 1 {
		t.Fatal("Close returned before the outcome was recorded")
	}
	ds, err := f.svc.Deliveries(f.ctx, notifications.DeliveryFilter{NotificationID: ns[0].ID})
	if err != nil || len(ds) != 1 || ds[0].Status != notifications.DeliverySent {
		t.Fatalf("deliveries after Close: %+v, %v", ds, err)
	}
	if _, err := f.svc.RunDueDeliveries(f.ctx); !errors.Is(err, notifications.ErrClosed) {
		t.Fatalf("RunDueDeliveries after Close = %v, want ErrClosed", err)
	}
}

// Close returns by its deadline while a processor stalls, cancels the
// stalled attempt, and leaves its delivery for the next Service, which
// takes it over once the lease has run out.
func TestCloseHonoursDeadlineWhileAttemptsStall(t *testing.T) {
	t.Parallel()
	st := memoryStore(t)
	stalled, started, cancelled := stallingProcessor()
	first := setup(t, func(c *notifications.Config) {
		c.Store = st
		c.Processors = []notifications.Processor{stalled}
		c.DeliveryWorkers = 1
	})
	ns := first.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"})
	waitFor(t, started, "the attempt to start")
	ctx, cancel := context.WithTimeout(first.ctx, 50*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- first.svc.Close(ctx) }()
	if err := waitFor(t, closed, "Close"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want its context's deadline error", err)
	}
	waitFor(t, cancelled, "the stalled attempt's context to be cancelled")

	// The abandoned attempt recorded nothing: the delivery is still
	// claimed, and a new Service takes it over when the lease is out.
	clock := notificationstest.NewClock(time.Now().Add(notifications.DefaultDeliveryLease + time.Second))
	var got []string
	next := setup(t, func(c *notifications.Config) {
		c.Store = st
		c.Now = clock.Now
		c.Processors = []notifications.Processor{&notifications.PostProcessorFunc{ProcessorName: "audit",
			Func: func(ctx context.Context, n notifications.Notification, _ notifications.SendOptions) error {
				d, _ := notifications.DeliveryFromContext(ctx)
				got = append(got, fmt.Sprint(n.ID, " attempt ", d.Attempts))
				return nil
			}}}
	})
	if n := notificationstest.DeliverAll(t, next.svc); n != 1 || len(got) != 1 || got[0] != ns[0].ID+" attempt 2" {
		t.Fatalf("the next Service ran %d attempts: %v", n, got)
	}
}

// closeService closes svc for t's cleanup, giving attempts still running
// (a failed test's stalled processor) ten seconds before they are
// cancelled, so a failure never hangs the suite.
// startService starts a Service on cfg, closed when t ends.
func startService(t *testing.T, cfg notifications.Config) *notifications.Service {
	t.Helper()
	svc, err := notifications.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeService(t, svc) })
	return svc
}

func closeService(t *testing.T, svc *notifications.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = svc.Close(ctx)
}

// waitFor returns what c delivers, failing t after 30 seconds.
func waitFor[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// memoryStore opens a fresh in-memory SQLite store, closed when t ends.
func memoryStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestFailingPublisherDoesNotFailSend(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *notifications.Config) {
		c.Signals = signals.PublisherFunc(func(context.Context, signals.Signal) error { return errors.New("bus down") })
	})
	if ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "t"}); len(ns) != 1 || f.count(t, mockUser) != 1 {
		t.Fatal("a failing publisher lost the notification")
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := &notifications.PostProcessorFunc{ProcessorName: "dup", Func: func(context.Context, notifications.Notification, notifications.SendOptions) error { return nil }}
	for name, cfg := range map[string]notifications.Config{
		"no store":          {},
		"duplicate names":   {Store: st, Processors: []notifications.Processor{p, p}},
		"reserved name":     {Store: st, Processors: []notifications.Processor{&notifications.PostProcessorFunc{ProcessorName: "Web", Func: nil}}},
		"bad filter":        {Store: st, Processors: []notifications.Processor{&notifications.PreProcessorFunc{ProcessorName: "x", ProcessorFilter: notifications.ProcessorFilter{MinSeverity: "urgent"}}}},
		"default origin id": {Store: st, DefaultSettings: notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "Web", Origins: []notifications.OriginSettings{{}}}}}},
	} {
		if _, err := notifications.New(cfg); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

func TestOptionsProcessorCannotSmuggleInvalidInput(t *testing.T) {
	t.Parallel()
	breaker := &notifications.OptionsProcessorFunc{ProcessorName: "breaker", Func: func(_ context.Context, o notifications.SendOptions) (notifications.SendOptions, error) {
		o.Payload.Link = "javascript:alert(1)"
		return o, nil
	}}
	f := setup(t, func(c *notifications.Config) { c.Processors = []notifications.Processor{breaker} })
	if _, err := f.svc.Sender(origin).Send(f.ctx, notifications.Entity(mockUser), notifications.Payload{Title: "t"}); !errors.Is(err, notifications.ErrInvalid) {
		t.Fatalf("Send = %v, want ErrInvalid for the processor's bad link", err)
	}
	if f.count(t, mockUser) != 0 {
		t.Fatal("an invalid processed request was stored")
	}
}

func TestPreProcessorCannotStoreInvalidPayload(t *testing.T) {
	t.Parallel()
	for name, breakIt := range map[string]func(*notifications.Payload){
		"NUL in the title":       func(p *notifications.Payload) { p.Title += "\x00" },
		"NaN in metadata":        func(p *notifications.Payload) { p.Metadata = map[string]any{"n": math.NaN()} },
		"unknown severity":       func(p *notifications.Payload) { p.Severity = "HIGH" },
		"protocol-relative link": func(p *notifications.Payload) { p.Link = "//evil.example" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			breaker := &notifications.PreProcessorFunc{ProcessorName: "breaker", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
				breakIt(&n.Payload)
				return n, nil
			}}
			tagger := &notifications.PreProcessorFunc{ProcessorName: "tagger", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) (notifications.Notification, error) {
				n.Payload.Icon = "tagged"
				return n, nil
			}}
			f := setup(t, func(c *notifications.Config) { c.Processors = []notifications.Processor{breaker, tagger} })
			for _, r := range []notifications.Recipients{notifications.Entity(mockUser), notifications.Broadcast()} {
				ns := f.send(t, r, notifications.Payload{Title: "t"})
				got, err := f.svc.Get(f.ctx, mockUser, ns[0].ID)
				if err != nil || got.Payload.Title != "t" || got.Payload.Icon != "tagged" || got.Payload.Metadata != nil || got.Payload.Link != "" ||
					got.Payload.Severity != notifications.SeverityNormal {
					t.Fatalf("stored %+v, %v; want the breaker's change dropped and the tagger's kept", got.Payload, err)
				}
			}
		})
	}
}
