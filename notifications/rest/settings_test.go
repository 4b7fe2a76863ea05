package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// originView is one origin of a channel, with topics as a map, so tests
// compare settings without depending on origin or topic order.
type originView struct {
	Enabled bool
	Topics  map[string]bool
}

type channelView struct {
	Enabled *bool // the raw "enabled" key: nil when absent
	Origins map[string]originView
}

// settingsView decodes a settings body, checking that no channel carries
// an "enabled" key other than the one it reports.
func settingsView(t testing.TB, body []byte) map[string]channelView {
	t.Helper()
	var raw struct {
		Channels []struct {
			ID      string           `json:"id"`
			Enabled *bool            `json:"enabled"`
			Origins *json.RawMessage `json:"origins"`
		} `json:"channels"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("decode settings %s: %v", body, err)
	}
	out := map[string]channelView{}
	for _, c := range raw.Channels {
		if c.Origins == nil {
			t.Fatalf("channel %s has no origins array: %s", c.ID, body)
		}
		var origins []struct {
			ID      string `json:"id"`
			Enabled bool   `json:"enabled"`
			Topics  []struct {
				ID      string `json:"id"`
				Enabled bool   `json:"enabled"`
			} `json:"topics"`
		}
		if err := json.Unmarshal(*c.Origins, &origins); err != nil {
			t.Fatal(err)
		}
		cv := channelView{Enabled: c.Enabled, Origins: map[string]originView{}}
		for _, o := range origins {
			ov := originView{Enabled: o.Enabled, Topics: map[string]bool{}}
			for _, tp := range o.Topics {
				ov.Topics[tp.ID] = tp.Enabled
			}
			cv.Origins[o.ID] = ov
		}
		out[c.ID] = cv
	}
	return out
}

func origin(enabled bool, topics ...any) originView {
	ov := originView{Enabled: enabled, Topics: map[string]bool{}}
	for i := 0; i+1 < len(topics); i += 2 {
		ov.Topics[topics[i].(string)] = topics[i+1].(bool)
	}
	return ov
}

func sameChannel(got, want channelView) bool {
	if (got.Enabled == nil) != (want.Enabled == nil) || got.Enabled != nil && *got.Enabled != *want.Enabled {
		return false
	}
	return maps.EqualFunc(got.Origins, want.Origins, func(a, b originView) bool {
		return a.Enabled == b.Enabled && maps.Equal(a.Topics, b.Topics)
	})
}

func (c channelView) String() string {
	e := "absent"
	if c.Enabled != nil {
		e = fmt.Sprint(*c.Enabled)
	}
	return fmt.Sprintf("{enabled: %s, origins: %+v}", e, c.Origins)
}

// GET /settings: the effective settings, defaults and stored rows merged.
func TestGetSettings(t *testing.T) {
	t.Parallel()
	optOut := notifications.Settings{Channels: []notifications.ChannelSettings{{ID: notifications.WebChannel, Enabled: ptr(false)}}}
	basic := []notifications.Notification{
		{User: mockUser, Origin: testService, Payload: notifications.Payload{Title: "1", Topic: "test-topic"}},
		{User: mockUser, Origin: "external:test-service2", Payload: notifications.Payload{Title: "2", Topic: "test-topic2"}},
	}
	for _, tc := range []struct {
		name     string
		defaults *notifications.Settings
		seed     []notifications.Notification
		stored   []notifications.SettingRow
		want     channelView
	}{
		{"origin disabled", nil, basic,
			[]notifications.SettingRow{{Channel: "Web", Origin: testService, Enabled: false}},
			channelView{Origins: map[string]originView{
				testService:              origin(false, "test-topic", false),
				"external:test-service2": origin(false, "test-topic2", false),
				"external:test-service3": origin(true, "test-topic3", false),
			}}},
		{"topic disabled", nil, basic,
			[]notifications.SettingRow{{Channel: "Web", Origin: testService, Topic: "test-topic", Enabled: false}},
			channelView{Origins: map[string]originView{
				testService:              origin(true, "test-topic", false),
				"external:test-service2": origin(false, "test-topic2", false),
				"external:test-service3": origin(true, "test-topic3", false),
			}}},
		{"nothing stored", nil, basic, nil,
			channelView{Origins: map[string]originView{
				testService:              origin(true, "test-topic", true),
				"external:test-service2": origin(false, "test-topic2", false),
				"external:test-service3": origin(true, "test-topic3", false),
			}}},
		{"opt-in channel", &optOut, basic, nil,
			channelView{Enabled: ptr(false), Origins: map[string]originView{
				testService:              origin(false, "test-topic", false),
				"external:test-service2": origin(false, "test-topic2", false),
			}}},
		{"opt-in channel, one topic opted in", &optOut,
			[]notifications.Notification{
				{User: mockUser, Origin: testService, Payload: notifications.Payload{Title: "1", Topic: "topic-build-failed"}},
				{User: mockUser, Origin: testService, Payload: notifications.Payload{Title: "2", Topic: "topic-deployment-success"}},
				{User: mockUser, Origin: testService, Payload: notifications.Payload{Title: "3", Topic: "topic-security-alert"}},
			},
			[]notifications.SettingRow{{Channel: "Web", Origin: testService, Topic: "topic-build-failed", Enabled: true}},
			channelView{Enabled: ptr(false), Origins: map[string]originView{
				testService: origin(true, "topic-build-failed", true, "topic-deployment-success", false, "topic-security-alert", false),
			}}},
		{"nothing at all", &notifications.Settings{}, nil, nil, channelView{Origins: map[string]originView{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []option
			if tc.defaults != nil {
				opts = append(opts, withDefaults(*tc.defaults))
			}
			f := setup(t, opts...)
			if tc.seed != nil {
				f.seed(tc.seed...)
			}
			if tc.stored != nil {
				if err := f.store.ReplaceSettings(context.Background(), mockUser, tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			r := f.do(http.MethodGet, "/settings", userToken, "")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			got := settingsView(t, r.body)
			if len(got) != 1 || !sameChannel(got["Web"], tc.want) {
				t.Errorf("settings %v\nwant only Web: %v\nbody %s", got, tc.want, r.body)
			}
		})
	}
}

// With no defaults and no rows, exactly {channels:[{id:"Web", origins:[]}]}.
func TestGetSettingsEmptyShape(t *testing.T) {
	t.Parallel()
	f := setup(t, withDefaults(notifications.Settings{}))
	r := f.do(http.MethodGet, "/settings", userToken, "")
	var got any
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	want := map[string]any{"channels": []any{map[string]any{"id": "Web", "origins": []any{}}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("settings %s, want %v", r.body, want)
	}
}

// POST /settings replaces the user's settings and answers the effective
// ones; an unknown channel is 400.
func TestSaveSettings(t *testing.T) {
	t.Parallel()
	rowsOf := func(f *fixture) []notifications.SettingRow {
		t.Helper()
		m, err := f.store.SettingRows(context.Background(), []string{mockUser})
		if err != nil {
			t.Fatal(err)
		}
		return m[mockUser]
	}
	t.Run("one origin", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		r := f.do(http.MethodPost, "/settings", userToken, `{"channels":[{"id":"Web","origins":[{"id":"external:test-service","enabled":false}]}]}`)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if rows := rowsOf(f); !slices.Equal(rows, []notifications.SettingRow{{Channel: "Web", Origin: testService, Enabled: false}}) {
			t.Errorf("stored %+v, want one row (Web, %s, no topic, false)", rows, testService)
		}
		// The response is the effective settings: the origins the
		// user received from (none yet) and the defaults' origins.
		got := settingsView(t, r.body)["Web"]
		want := channelView{Origins: map[string]originView{
			"external:test-service2": origin(false),
			"external:test-service3": origin(true, "test-topic3", false),
		}}
		if !sameChannel(got, want) {
			t.Errorf("response %v, want %v", got, want)
		}
		// Once a notification from the origin exists, it shows disabled.
		f.seed(notifications.Notification{User: mockUser, Origin: testService, Payload: notifications.Payload{Title: "t"}})
		got = settingsView(t, f.do(http.MethodGet, "/settings", userToken, "").body)["Web"]
		if o, ok := got.Origins[testService]; !ok || o.Enabled {
			t.Errorf("settings %v, want %s disabled", got, testService)
		}
	})
	t.Run("invalid channel", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		r := f.do(http.MethodPost, "/settings", userToken, `{"channels":[{"id":"Web","origins":[{"id":"a","enabled":false}]},{"id":"Invalid","origins":[]}]}`)
		if e := failure(t, r, 400, "InputError"); e.Error.Message[:15] != "Invalid channel" {
			t.Errorf("message %q, want Invalid channel…", e.Error.Message)
		}
		if rows := rowsOf(f); len(rows) != 0 {
			t.Errorf("stored %+v, want nothing", rows)
		}
	})
	t.Run("topic of a disabled origin", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		ok[map[string]any](t, f.do(http.MethodPost, "/settings", userToken,
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service","enabled":false,"topics":[{"id":"t","enabled":true}]}]}]}`))
		for _, row := range rowsOf(f) {
			if row.Topic == "t" && row.Enabled {
				t.Errorf("topic row %+v stored enabled, want false", row)
			}
		}
	})
	t.Run("bad bodies", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		for _, body := range []string{
			`{}`, `{"channels":{}}`, `{"channels":[{"origins":[]}]}`, `{"channels":[{"id":"Web"}]}`,
			`{"channels":[{"id":"Web","enabled":"no","origins":[]}]}`,
			`{"channels":[{"id":"Web","origins":[{"id":"o"}]}]}`,
			`{"channels":[{"id":"Web","origins":[{"id":"o","enabled":"false"}]}]}`,
			`{"channels":[{"id":"Web","origins":[{"id":"o","enabled":true,"topics":[{"id":"t"}]}]}]}`,
			`{"channels":[{"id":5,"origins":[]}]}`, `{"channels":[`, `null`,
		} {
			failure(t, f.do(http.MethodPost, "/settings", userToken, body), 400, "InputError")
		}
		if rows := rowsOf(f); len(rows) != 0 {
			t.Errorf("stored %+v, want nothing", rows)
		}
	})
}
