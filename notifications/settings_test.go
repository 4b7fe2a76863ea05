package notifications

import (
	"encoding/json"
	"testing"
)

func TestEnabledRule(t *testing.T) {
	t.Parallel()
	no := false
	d := newDefaultSettings(Settings{})
	locked := newDefaultSettings(Settings{Channels: []ChannelSettings{
		{ID: "Web", Origins: []OriginSettings{
			{ID: "o", Enabled: false, Locked: true},
			{ID: "p", Enabled: true, Topics: []TopicSettings{{ID: "on", Enabled: true, Locked: true}}},
		}},
		{ID: "Email", Enabled: &no, Locked: true, Origins: []OriginSettings{{ID: "q", Enabled: true}}},
	}})
	rows := []SettingRow{
		{Channel: "Web", Origin: "o1", Enabled: false},
		{Channel: "Web", Origin: "o1", Topic: "t-on", Enabled: true},
		{Channel: "Web", Origin: "o2", Enabled: true},
		{Channel: "Web", Origin: "o2", Topic: "t-off", Enabled: false},
		{Channel: "Web", Origin: "o3", Topic: "only-topic", Enabled: false},
	}
	tests := []struct {
		name                   string
		defaults               defaultSettings
		rows                   []SettingRow
		channel, origin, topic string
		want                   bool
	}{
		{"nothing stored, no defaults", d, nil, "Web", "o", "", true},
		{"channel not found", d, rows, "Email", "o1", "", true},
		{"channel matched case-insensitively", d, rows, "web", "o1", "", false},
		{"origin not found, channel default absent", d, rows, "Web", "other", "", true},
		{"origin not found, opt-in channel", newDefaultSettings(Settings{Channels: []ChannelSettings{{ID: "Web", Enabled: &no}}}), nil, "Web", "o", "t", false},
		{"origin without topic", d, rows, "Web", "o1", "", false},
		{"topic entry wins over disabled origin", d, rows, "Web", "o1", "t-on", true},
		{"topic without entry falls back to origin", d, rows, "Web", "o1", "t-none", false},
		{"disabled topic of enabled origin", d, rows, "Web", "o2", "t-off", false},
		{"send without topic ignores topic rows", d, rows, "Web", "o2", "", true},
		{"topic-only row enables the rest of the origin", d, rows, "Web", "o3", "another", true},
		{"origin ids are exact", d, rows, "Web", "O1", "", true},
		{"opt-in channel with a stored topic row", newDefaultSettings(Settings{Channels: []ChannelSettings{{ID: "Web", Enabled: &no}}}),
			[]SettingRow{{Channel: "Web", Origin: "external:test-service", Topic: "important-topic", Enabled: true}}, "Web", "external:test-service", "important-topic", true},
		{"default origins apply when the channel is on", newDefaultSettings(Settings{Channels: []ChannelSettings{{ID: "Web", Origins: []OriginSettings{{ID: "o", Enabled: false}}}}}),
			nil, "Web", "o", "", false},
		{"default origins ignored when the channel is off", newDefaultSettings(Settings{Channels: []ChannelSettings{{ID: "Web", Enabled: &no, Origins: []OriginSettings{{ID: "o", Enabled: true}}}}}),
			nil, "Web", "o", "", false},
		{"stored origin beats default origin", newDefaultSettings(Settings{Channels: []ChannelSettings{{ID: "Web", Origins: []OriginSettings{{ID: "o", Enabled: false}}}}}),
			[]SettingRow{{Channel: "Web", Origin: "o", Enabled: true}}, "Web", "o", "", true},
		{"locked origin beats stored origin", locked, []SettingRow{{Channel: "Web", Origin: "o", Enabled: true}}, "Web", "o", "", false},
		{"locked origin matched case-insensitively", locked, []SettingRow{{Channel: "Web", Origin: "O", Enabled: true}}, "Web", "O", "", false},
		{"topic of a locked origin", locked, []SettingRow{{Channel: "Web", Origin: "o", Topic: "t", Enabled: true}}, "Web", "o", "t", false},
		{"locked topic beats stored origin off", locked, []SettingRow{{Channel: "Web", Origin: "p", Enabled: false}}, "Web", "p", "on", true},
		{"unlocked topic of that origin follows the user", locked, []SettingRow{{Channel: "Web", Origin: "p", Enabled: false}}, "Web", "p", "other", false},
		{"locked channel beats stored rows", locked, []SettingRow{{Channel: "Email", Origin: "x", Enabled: true}}, "email", "x", "", false},
		{"locked channel with its origin's default", locked, []SettingRow{{Channel: "Email", Origin: "q", Enabled: false}}, "Email", "q", "", true},
	}
	for _, tt := range tests {
		if got := tt.defaults.enabled(tt.rows, tt.channel, tt.origin, tt.topic); got != tt.want {
			t.Errorf("%s: enabled(%s, %s, %q) = %v, want %v", tt.name, tt.channel, tt.origin, tt.topic, got, tt.want)
		}
	}
}

// routerDefaults are Web defaults for two origins: one off, one on with
// one topic off.
func routerDefaults() Settings {
	return Settings{Channels: []ChannelSettings{{ID: "Web", Origins: []OriginSettings{
		{ID: "external:test-service2", Enabled: false},
		{ID: "external:test-service3", Enabled: true, Topics: []TopicSettings{{ID: "test-topic3", Enabled: false}}},
	}}}}
}

func TestEffectiveSettings(t *testing.T) {
	t.Parallel()
	no := false
	pairs := []OriginTopic{{Origin: "external:test-service", Topic: "test-topic"}, {Origin: "external:test-service2", Topic: "test-topic2"}}
	tests := []struct {
		name     string
		defaults Settings
		pairs    []OriginTopic
		rows     []SettingRow
		want     string
	}{
		{"stored origin off", routerDefaults(), pairs, []SettingRow{{Channel: "Web", Origin: "external:test-service", Enabled: false}},
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service","enabled":false,"topics":[{"id":"test-topic","enabled":false}]},{"id":"external:test-service2","enabled":false,"topics":[{"id":"test-topic2","enabled":false}]},{"id":"external:test-service3","enabled":true,"topics":[{"id":"test-topic3","enabled":false}]}]}]}`},
		{"stored topic off", routerDefaults(), pairs, []SettingRow{{Channel: "Web", Origin: "external:test-service", Topic: "test-topic", Enabled: false}},
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service","enabled":true,"topics":[{"id":"test-topic","enabled":false}]},{"id":"external:test-service2","enabled":false,"topics":[{"id":"test-topic2","enabled":false}]},{"id":"external:test-service3","enabled":true,"topics":[{"id":"test-topic3","enabled":false}]}]}]}`},
		{"nothing stored", routerDefaults(), pairs, nil,
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service","enabled":true,"topics":[{"id":"test-topic","enabled":true}]},{"id":"external:test-service2","enabled":false,"topics":[{"id":"test-topic2","enabled":false}]},{"id":"external:test-service3","enabled":true,"topics":[{"id":"test-topic3","enabled":false}]}]}]}`},
		{"opt-in channel", Settings{Channels: []ChannelSettings{{ID: "Web", Enabled: &no}}}, pairs, nil,
			`{"channels":[{"id":"Web","enabled":false,"origins":[{"id":"external:test-service","enabled":false,"topics":[{"id":"test-topic","enabled":false}]},{"id":"external:test-service2","enabled":false,"topics":[{"id":"test-topic2","enabled":false}]}]}]}`},
		{"opt-in channel with one topic opted in", Settings{Channels: []ChannelSettings{{ID: "Web", Enabled: &no}}},
			[]OriginTopic{{"external:test-service", "topic-build-failed"}, {"external:test-service", "topic-deployment-success"}, {"external:test-service", "topic-security-alert"}},
			[]SettingRow{{Channel: "Web", Origin: "external:test-service", Topic: "topic-build-failed", Enabled: true}},
			`{"channels":[{"id":"Web","enabled":false,"origins":[{"id":"external:test-service","enabled":true,"topics":[{"id":"topic-build-failed","enabled":true},{"id":"topic-deployment-success","enabled":false},{"id":"topic-security-alert","enabled":false}]}]}]}`},
		{"no notifications, no defaults", Settings{}, nil, nil, `{"channels":[{"id":"Web","origins":[]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &Service{defaults: newDefaultSettings(tt.defaults), channels: []string{WebChannel}}
			got, err := json.Marshal(s.effectiveSettings(tt.pairs, tt.rows))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
