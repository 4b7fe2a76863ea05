package notifications

// WebChannel is the settings channel id of the in-app inbox. Turning it off
// for an origin or topic stops those notifications from being stored and
// signalled for that user; processors' channels are separate.
const WebChannel = "Web"

// Settings are a user's notification settings, or the administrator's
// defaults: per channel, per origin, per topic. Its JSON is Backstage's
// NotificationSettings.
type Settings struct {
	Channels []ChannelSettings `json:"channels"`
}

// ChannelSettings are the settings of one channel: WebChannel or a
// processor's Name.
type ChannelSettings struct {
	ID string `json:"id"`
	// Enabled is the channel-level default for origins the settings do not
	// list. It is only taken from Config.DefaultSettings: false makes the
	// channel opt-in. Users' saved settings never carry it.
	Enabled *bool            `json:"enabled,omitempty"`
	Origins []OriginSettings `json:"origins"`
}

// OriginSettings turn one origin on or off, with per-topic exceptions.
type OriginSettings struct {
	ID      string          `json:"id"`
	Enabled bool            `json:"enabled"`
	Topics  []TopicSettings `json:"topics"`
}

// TopicSettings turn one topic of an origin on or off.
type TopicSettings struct {
	ID      string `json:"id"`
	Enabled bool   `json:"enabled"`
}
