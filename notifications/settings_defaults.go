package notifications

import (
	"fmt"
	"strings"
)

// defaultSettings indexes Config.DefaultSettings by lower-cased channel id,
// as Backstage compares channel and default origin ids case-insensitively.
type defaultSettings struct {
	raw      Settings
	channels map[string]*ChannelSettings
	anyLock  bool // some channel, origin or topic is Locked
}

func newDefaultSettings(s Settings) defaultSettings {
	d := defaultSettings{raw: s, channels: make(map[string]*ChannelSettings, len(s.Channels))}
	for i := range s.Channels {
		key := strings.ToLower(s.Channels[i].ID)
		if _, dup := d.channels[key]; !dup {
			d.channels[key] = &s.Channels[i]
		}
		c := &s.Channels[i]
		d.anyLock = d.anyLock || c.Locked
		for _, o := range c.Origins {
			d.anyLock = d.anyLock || o.Locked
			for _, t := range o.Topics {
				d.anyLock = d.anyLock || t.Locked
			}
		}
	}
	return d
}

// locked returns the value the defaults fix channel, origin and topic
// ("" for the origin itself) at, and whether they fix it (see lockedIn).
func (d defaultSettings) locked(channel, origin, topic string) (enabled, locked bool) {
	if !d.anyLock {
		return false, false
	}
	def := d.channel(channel)
	if def == nil {
		return false, false
	}
	return lockedIn(def, findOrigin(def.Origins, origin, true), topic)
}

// lockedIn decides whether the default channel def (nil when the defaults
// do not name it) with its entry for the origin (defOrigin, nil when
// none; matched case-insensitively, as Settings shows the defaults)
// locks topic ("" for the origin itself), and at what value: a locked
// topic at its Enabled; a topic of a locked origin or channel at its
// default entry's Enabled when the defaults list it, else at the
// origin's; an origin of a locked channel at its default entry, else at
// the channel's default (on unless Enabled is false).
func lockedIn(def *ChannelSettings, defOrigin *OriginSettings, topic string) (enabled, locked bool) {
	if def == nil {
		return false, false
	}
	var defTopic *TopicSettings
	if topic != "" {
		defTopic = findTopic(defOrigin, topic)
	}
	if !def.Locked && (defOrigin == nil || !defOrigin.Locked) && (defTopic == nil || !defTopic.Locked) {
		return false, false
	}
	switch {
	case defTopic != nil:
		return defTopic.Enabled, true
	case defOrigin != nil:
		return defOrigin.Enabled, true
	}
	return def.Enabled == nil || *def.Enabled, true
}

func (d defaultSettings) channel(id string) *ChannelSettings { return d.channels[strings.ToLower(id)] }

func validateDefaultSettings(s Settings) error {
	var verr ValidationError
	for i, c := range s.Channels {
		if c.ID == "" {
			verr.add(fmt.Sprintf("defaultSettings.channels[%d].id", i), "is required")
		}
		for j, o := range c.Origins {
			if o.ID == "" {
				verr.add(fmt.Sprintf("defaultSettings.channels[%d].origins[%d].id", i, j), "is required")
			}
		}
	}
	if err := verr.errOrNil(); err != nil {
		return fmt.Errorf("notifications: Config.DefaultSettings: %w", err)
	}
	return nil
}

// enabled decides, as Backstage's isNotificationsEnabled does, whether a
// user whose stored rows are given gets notifications from origin and
// topic ("" for none) on channel:
//
//   - when the defaults do not name the channel and the user stored no row
//     for it, yes;
//   - otherwise the first origin entry whose id is origin exactly decides:
//     the user's stored origins come first, then the defaults' origins the
//     user has not stored (compared case-insensitively), these only while
//     the channel's default Enabled is not false. In that entry a topic
//     entry whose id is topic exactly wins over the origin's Enabled;
//   - with no such origin entry, the channel's default Enabled decides,
//     yes when it is unset.
//
// Before all that, an origin or topic the defaults lock gets its locked
// value (see lockedIn), whatever the user stored.
func (d defaultSettings) enabled(rows []SettingRow, channel, origin, topic string) bool {
	def := d.channel(channel)
	if d.anyLock && def != nil {
		if v, locked := lockedIn(def, findOrigin(def.Origins, origin, true), topic); locked {
			return v
		}
	}
	var channelEnabled *bool
	found := def != nil
	if def != nil {
		channelEnabled = def.Enabled
	}
	// Fold the user's rows for this channel; stored origins come first.
	var origins []OriginSettings
	for _, o := range foldRows(rows, channel) {
		found = true
		origins = append(origins, o)
	}
	if def != nil && len(def.Origins) > 0 && (channelEnabled == nil || *channelEnabled) {
		for _, o := range def.Origins {
			if !hasOriginFold(origins, o.ID) {
				origins = append(origins, o)
			}
		}
	}
	if !found {
		return true
	}
	for _, o := range origins {
		if o.ID != origin {
			continue
		}
		if topic != "" {
			for _, t := range o.Topics {
				if t.ID == topic {
					return t.Enabled
				}
			}
		}
		return o.Enabled
	}
	return channelEnabled == nil || *channelEnabled
}

func hasOriginFold(origins []OriginSettings, id string) bool {
	for _, o := range origins {
		if strings.EqualFold(o.ID, id) {
			return true
		}
	}
	return false
}

// foldRows turns stored rows of one channel (matched case-insensitively)
// into origins, in row order: a row without a topic sets the
// origin's Enabled; a topic row adds the topic (first row per topic wins);
// an origin first seen through a topic row starts enabled.
func foldRows(rows []SettingRow, channel string) []OriginSettings {
	var origins []OriginSettings
	index := map[string]int{}
	for _, r := range rows {
		if !strings.EqualFold(r.Channel, channel) {
			continue
		}
		i, ok := index[r.Origin]
		if !ok {
			i = len(origins)
			index[r.Origin] = i
			origins = append(origins, OriginSettings{ID: r.Origin, Enabled: true, Topics: []TopicSettings{}})
		}
		o := &origins[i]
		if r.Topic == "" {
			o.Enabled = r.Enabled
			continue
		}
		dup := false
		for _, t := range o.Topics {
			dup = dup || t.ID == r.Topic
		}
		if !dup {
			o.Topics = append(o.Topics, TopicSettings{ID: r.Topic, Enabled: r.Enabled})
		}
	}
	return origins
}
