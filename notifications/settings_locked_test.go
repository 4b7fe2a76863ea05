package notifications_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// lockedDefaults lock the audit channel's origin on and, on Web, one
// topic on and another origin off.
func lockedDefaults() notifications.Settings {
	return notifications.Settings{Channels: []notifications.ChannelSettings{
		{ID: "Web", Origins: []notifications.OriginSettings{
			{ID: origin, Enabled: true, Topics: []notifications.TopicSettings{{ID: "security", Enabled: true, Locked: true}}},
			{ID: "external:test-service2", Enabled: false, Locked: true},
		}},
		{ID: "audit", Origins: []notifications.OriginSettings{{ID: origin, Enabled: true, Locked: true}}},
	}}
}

// lockedView is what Settings shows of one channel: per origin, its
// enabled and locked, and per topic the same.
type lockedView map[string][2]bool

func viewOf(s notifications.Settings, channel string) lockedView {
	out := lockedView{}
	for _, c := range s.Channels {
		if c.ID != channel {
			continue
		}
		for _, o := range c.Origins {
			out[o.ID] = [2]bool{o.Enabled, o.Locked}
			for _, t := range o.Topics {
				out[o.ID+"/"+t.ID] = [2]bool{t.Enabled, t.Locked}
			}
		}
	}
	return out
}

func TestLockedSettings(t *testing.T) {
	t.Parallel()
	sc := &script{name: "audit"}
	backend := memoryStore(t)
	f := setup(t, func(c *notifications.Config) {
		c.Store = backend
		c.DefaultSettings = lockedDefaults()
		c.Processors = []notifications.Processor{sc.processor()}
	})
	st, err := f.svc.Settings(f.ctx, mockUser)
	if err != nil {
		t.Fatal(err)
	}
	wantWeb := lockedView{
		origin:                   {true, false},
		origin + "/security":     {true, true},
		"external:test-service2": {false, true},
	}
	if got := viewOf(st, "Web"); got.String() != wantWeb.String() {
		t.Errorf("Web settings %v, want %v", got, wantWeb)
	}
	if got := viewOf(st, "audit"); got[origin] != [2]bool{true, true} {
		t.Errorf("audit settings %v, want %s enabled and locked", got, origin)
	}

	// A change the user may make is saved, for later checks.
	keep := webOrigin(origin, true, notifications.TopicSettings{ID: "deploys", Enabled: false})
	saveSettings(t, f, mockUser, keep)
	before := settingRows(t, f, backend)

	refused := []struct {
		name  string
		in    notifications.Settings
		field string
	}{
		{"locked origin turned on", webOrigin("external:test-service2", true), "channels[0].origins[0].enabled"},
		{"locked topic turned off", webOrigin(origin, true, notifications.TopicSettings{ID: "security", Enabled: false}), "channels[0].origins[0].topics[0].enabled"},
		{"topic of a locked origin", webOrigin("external:test-service2", false, notifications.TopicSettings{ID: "x", Enabled: true}), "channels[0].origins[0].topics[0].enabled"},
		{"locked origin of another channel, matched case-insensitively", notifications.Settings{Channels: []notifications.ChannelSettings{
			{ID: "Web", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}},
			{ID: "audit", Origins: []notifications.OriginSettings{{ID: "EXTERNAL:test-service", Enabled: false}}},
		}}, "channels[1].origins[0].enabled"},
	}
	for _, tc := range refused {
		_, err := f.svc.SaveSettings(f.ctx, mockUser, tc.in)
		var verr *notifications.ValidationError
		if !errors.As(err, &verr) || !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("%s: SaveSettings = %v, want a *ValidationError", tc.name, err)
			continue
		}
		if len(verr.Fields) != 1 || verr.Fields[0].Field != tc.field {
			t.Errorf("%s: fields %v, want one naming %s", tc.name, verr.Fields, tc.field)
		}
		if got := settingRows(t, f, backend); !slices.Equal(got, before) {
			t.Errorf("%s: stored %+v after the refusal, want unchanged %+v", tc.name, got, before)
		}
	}

	// The whole settings object posted back unchanged, as Backstage's page
	// does, is accepted; its locked entries are not stored.
	st, err = f.svc.Settings(f.ctx, mockUser)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.SaveSettings(f.ctx, mockUser, st)
	if err != nil {
		t.Fatalf("SaveSettings of the settings as shown: %v", err)
	}
	if !slices.EqualFunc(again.Channels, st.Channels, func(a, b notifications.ChannelSettings) bool {
		return viewOf(again, a.ID).String() == viewOf(st, b.ID).String()
	}) {
		t.Errorf("settings after posting them back %+v, want %+v", again, st)
	}
	for _, r := range settingRows(t, f, backend) {
		if r.Channel == "Web" && r.Origin == "external:test-service2" || r.Topic == "security" || r.Channel == "audit" && r.Origin == origin {
			t.Errorf("locked entry stored: %+v", r)
		}
	}
}

func (v lockedView) String() string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := ""
	for _, k := range keys {
		out += k + "=" + boolPair(v[k]) + " "
	}
	return out
}

func boolPair(p [2]bool) string {
	s := map[bool]string{true: "1", false: "0"}
	return s[p[0]] + s[p[1]]
}

func settingRows(t *testing.T, f fixture, st notifications.Store) []notifications.SettingRow {
	t.Helper()
	rows, err := st.SettingRows(f.ctx, []string{mockUser})
	if err != nil {
		t.Fatal(err)
	}
	return rows[mockUser]
}

// TestLockedOnDeliveredDespiteOlderSettings saves settings that turn an
// origin off, then starts a Service whose defaults lock it on: its
// notifications reach the inbox and the locked processor channel.
func TestLockedOnDeliveredDespiteOlderSettings(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		sc := &script{name: "audit"}
		before := deliverySetup(t, st, nil, sc.processor())
		saveSettings(t, before.fixture, mockUser, notifications.Settings{Channels: []notifications.ChannelSettings{
			{ID: "Web", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}},
			{ID: "audit", Origins: []notifications.OriginSettings{{ID: origin, Enabled: false}}},
		}})
		if ns := before.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "before the lock"}); len(ns) != 0 {
			t.Fatalf("send before the lock stored %v", ns)
		}

		locked := notifications.Settings{Channels: []notifications.ChannelSettings{
			{ID: "Web", Locked: true},
			{ID: "audit", Origins: []notifications.OriginSettings{{ID: origin, Enabled: true, Locked: true}}},
		}}
		f := deliverySetup(t, st, func(c *notifications.Config) { c.DefaultSettings = locked }, sc.processor())
		ns := f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "after the lock"})
		if len(ns) != 1 {
			t.Fatalf("send after the lock stored %v, want it in the inbox", ns)
		}
		if n := f.deliver(t); n != 1 {
			t.Fatalf("%d attempts, want 1", n)
		}
		if calls := sc.recorded(); len(calls) != 1 || calls[0].notification.ID != ns[0].ID {
			t.Fatalf("audit calls %+v, want one for %s", calls, ns[0].ID)
		}
		if got := viewOf(mustSettings(t, f.fixture), "Web"); got[origin] != [2]bool{true, true} {
			t.Errorf("Web settings %v, want %s enabled and locked", got, origin)
		}
	})
}

func mustSettings(t *testing.T, f fixture) notifications.Settings {
	t.Helper()
	st, err := f.svc.Settings(f.ctx, mockUser)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
