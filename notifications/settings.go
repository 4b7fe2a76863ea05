package notifications

import (
	"context"
	"fmt"
	"strings"
)

// WebChannel is the settings channel id of the in-app inbox. Turning it off
// for an origin or topic stops those notifications from being stored and
// signalled for that user; processors' channels are separate.
const WebChannel = "Web"

// Settings are a user's notification settings, or the administrator's
// defaults: per channel, per origin, per topic. Its JSON is Backstage's
// NotificationSettings, with Herald's "locked" and "quietHours" added
// (Backstage's clients ignore them).
type Settings struct {
	Channels []ChannelSettings `json:"channels"`
	// QuietHours, when set, are the user's quiet hours: deliveries to
	// channels other than WebChannel that come due inside them wait until
	// they end (their NextAttempt is then the window's end), checked when
	// a delivery is claimed, with the user's quiet hours as they are
	// then. Critical notifications and broadcasts never wait; the in-app
	// inbox is never delayed. Settings returns nil when the user has
	// none. In SaveSettings nil leaves the stored quiet hours as they
	// are, and the zero QuietHours removes them. Ignored in
	// Config.DefaultSettings.
	QuietHours *QuietHours `json:"quietHours,omitempty"`
}

// ChannelSettings are the settings of one channel: WebChannel or a
// processor's Name.
type ChannelSettings struct {
	ID string `json:"id"`
	// Enabled is the channel-level default for origins the settings do not
	// list. It is only taken from Config.DefaultSettings: false makes the
	// channel opt-in. Users' saved settings never carry it.
	Enabled *bool `json:"enabled,omitempty"`
	// Locked, taken only from Config.DefaultSettings, fixes every origin
	// and topic of the channel at the administrator's defaults: users'
	// saved settings for it are ignored, and SaveSettings refuses to
	// change them. Settings reports it, and marks each origin and topic
	// of a locked channel Locked too.
	Locked  bool             `json:"locked,omitempty"`
	Origins []OriginSettings `json:"origins"`
}

// OriginSettings turn one origin on or off, with per-topic exceptions.
type OriginSettings struct {
	ID      string `json:"id"`
	Enabled bool   `json:"enabled"`
	// Locked, taken only from Config.DefaultSettings, fixes the origin
	// and its topics at the defaults (a topic the defaults list at its
	// own Enabled, the others at the origin's), as ChannelSettings.Locked
	// does for a whole channel. Settings marks each topic of a locked
	// origin Locked too.
	Locked bool            `json:"locked,omitempty"`
	Topics []TopicSettings `json:"topics"`
}

// TopicSettings turn one topic of an origin on or off.
type TopicSettings struct {
	ID      string `json:"id"`
	Enabled bool   `json:"enabled"`
	// Locked, taken only from Config.DefaultSettings, fixes the topic at
	// the defaults' Enabled, whatever the user set for its origin: a
	// topic locked on is delivered even when the user turned its origin
	// off.
	Locked bool `json:"locked,omitempty"`
}

// Settings returns user's effective settings: every channel
// (WebChannel, each processor, then channels only the defaults name), each
// with every origin the user has received from or the defaults name, and
// their topics, each resolved from the user's saved settings, then the
// administrator's defaults, then the channel default.
func (s *Service) Settings(ctx context.Context, user string) (Settings, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return Settings{}, err
	}
	pairs, err := s.store.OriginTopics(ctx, user)
	if err != nil {
		return Settings{}, fmt.Errorf("notifications: load origins: %w", err)
	}
	rowsByUser, err := s.store.SettingRows(ctx, []string{user})
	if err != nil {
		return Settings{}, fmt.Errorf("notifications: load settings: %w", err)
	}
	quiet, err := s.store.QuietHours(ctx, []string{user})
	if err != nil {
		return Settings{}, fmt.Errorf("notifications: load quiet hours: %w", err)
	}
	out := s.effectiveSettings(pairs, rowsByUser[user])
	if q, ok := quiet[user]; ok {
		out.QuietHours = &q
	}
	return out, nil
}

func (s *Service) effectiveSettings(pairs []OriginTopic, rows []SettingRow) Settings {
	// The origin and topic lists are shared by every channel.
	var origins []string
	topics := map[string][]string{}
	addOrigin := func(o string) {
		for _, have := range origins {
			if have == o {
				return
			}
		}
		origins = append(origins, o)
	}
	addTopic := func(o, t string) {
		for _, have := range topics[o] {
			if have == t {
				return
			}
		}
		topics[o] = append(topics[o], t)
	}
	for _, p := range pairs {
		addOrigin(p.Origin)
		if p.Topic != "" {
			addTopic(p.Origin, p.Topic)
		}
	}
	for _, c := range s.defaults.raw.Channels {
		for _, o := range c.Origins {
			addOrigin(o.ID)
			for _, t := range o.Topics {
				addTopic(o.ID, t.ID)
			}
		}
	}
	out := Settings{Channels: make([]ChannelSettings, 0, len(s.channels))}
	for _, id := range s.channels {
		stored := foldRows(rows, id)
		def := s.defaults.channel(id)
		var channelEnabled *bool
		if def != nil && def.Enabled != nil {
			v := *def.Enabled
			channelEnabled = &v
		}
		originDefault := channelEnabled == nil || *channelEnabled
		ch := ChannelSettings{ID: id, Enabled: channelEnabled, Locked: def != nil && def.Locked, Origins: make([]OriginSettings, 0, len(origins))}
		for _, o := range origins {
			storedOrigin := findOrigin(stored, o, false)
			var defOrigin *OriginSettings
			if def != nil {
				defOrigin = findOrigin(def.Origins, o, true)
			}
			os := OriginSettings{ID: o, Enabled: originDefault, Topics: make([]TopicSettings, 0, len(topics[o]))}
			switch {
			case storedOrigin != nil:
				os.Enabled = storedOrigin.Enabled
			case defOrigin != nil:
				os.Enabled = defOrigin.Enabled
			}
			if v, locked := lockedIn(def, defOrigin, ""); locked {
				os.Enabled, os.Locked = v, true
			}
			for _, t := range topics[o] {
				ts := TopicSettings{ID: t, Enabled: os.Enabled}
				if channelEnabled != nil {
					ts.Enabled = *channelEnabled
				}
				if dt := findTopic(defOrigin, t); dt != nil {
					ts.Enabled = dt.Enabled
				}
				if st := findTopic(storedOrigin, t); st != nil {
					ts.Enabled = st.Enabled
				}
				if v, locked := lockedIn(def, defOrigin, t); locked {
					ts.Enabled, ts.Locked = v, true
				}
				os.Topics = append(os.Topics, ts)
			}
			ch.Origins = append(ch.Origins, os)
		}
		out.Channels = append(out.Channels, ch)
	}
	return out
}

func findOrigin(origins []OriginSettings, id string, fold bool) *OriginSettings {
	for i := range origins {
		if origins[i].ID == id || fold && strings.EqualFold(origins[i].ID, id) {
			return &origins[i]
		}
	}
	return nil
}

func findTopic(o *OriginSettings, id string) *TopicSettings {
	if o == nil {
		return nil
	}
	for i := range o.Topics {
		if o.Topics[i].ID == id {
			return &o.Topics[i]
		}
	}
	return nil
}

// SaveSettings replaces user's saved settings with st, in one transaction,
// and returns the effective settings after it. A channel id that is not
// WebChannel or a processor's name (exactly), an empty or overlong id, an
// id that is not valid UTF-8 or holds a NUL, or the same channel, origin
// and topic twice is an error wrapping ErrInvalid, and nothing is saved.
// st.QuietHours is checked (see QuietHours: an unknown zone or a
// malformed time is a *ValidationError naming the field, like
// quietHours.timeZone) and saved with the rows, in the same transaction;
// nil leaves the stored quiet hours alone, the zero QuietHours removes
// them.
//
// A topic is stored enabled only if its origin is too; a channel's
// Enabled and every Locked in st are ignored (they are administrator
// defaults).
//
// An origin or topic that Config.DefaultSettings locks (see
// ChannelSettings.Locked) may be sent back as Settings reports it, and is
// then accepted and not stored; one whose Enabled differs is refused with
// a *ValidationError naming its enabled field, and nothing is saved.
func (s *Service) SaveSettings(ctx context.Context, user string, st Settings) (Settings, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return Settings{}, err
	}
	var verr ValidationError
	var rows []SettingRow
	seen := map[[3]string]bool{}
	add := func(field string, r lockedRow) {
		key := [3]string{r.Channel, r.Origin, r.Topic}
		if seen[key] {
			verr.add(field, "appears twice")
			return
		}
		seen[key] = true
		if !r.locked {
			rows = append(rows, r.SettingRow)
		}
	}
	for i, c := range st.Channels {
		cf := fmt.Sprintf("channels[%d]", i)
		if !s.isChannel(c.ID) {
			verr.add(cf+".id", fmt.Sprintf("Invalid channel %q: must be %s", c.ID, strings.Join(s.processorChannels(), ", ")))
			continue
		}
		for j, o := range c.Origins {
			of := fmt.Sprintf("%s.origins[%d]", cf, j)
			if !verr.checkSettingID(of, o.ID) {
				continue
			}
			add(of, verr.unlessLocked(of, s.defaults, SettingRow{Channel: c.ID, Origin: o.ID, Enabled: o.Enabled}))
			for k, t := range o.Topics {
				tf := fmt.Sprintf("%s.topics[%d]", of, k)
				if !verr.checkSettingID(tf, t.ID) {
					continue
				}
				r := verr.unlessLocked(tf, s.defaults, SettingRow{Channel: c.ID, Origin: o.ID, Topic: t.ID, Enabled: t.Enabled})
				r.Enabled = r.Enabled && o.Enabled
				add(tf, r)
			}
		}
	}
	if q := st.QuietHours; q != nil && !q.IsZero() {
		q.check(&verr, nil)
	}
	if err := verr.errOrNil(); err != nil {
		return Settings{}, err
	}
	if err := s.store.UpdateSettings(ctx, user, SettingsUpdate{Rows: rows, QuietHours: st.QuietHours}); err != nil {
		return Settings{}, fmt.Errorf("notifications: save settings: %w", err)
	}
	return s.Settings(ctx, user)
}

// lockedRow is a row SaveSettings read, and whether the defaults lock it
// (it is then checked, not stored).
type lockedRow struct {
	SettingRow
	locked bool
}

// unlessLocked returns r, marked locked when the defaults lock its
// origin or topic; a locked r whose Enabled differs from the locked value
// adds an error for field's enabled to verr.
func (verr *ValidationError) unlessLocked(field string, d defaultSettings, r SettingRow) lockedRow {
	v, locked := d.locked(r.Channel, r.Origin, r.Topic)
	if locked && v != r.Enabled {
		verr.add(field+".enabled", fmt.Sprintf("is locked by the administrator at %t and cannot be changed", v))
	}
	return lockedRow{SettingRow: r, locked: locked}
}

// checkSettingID checks the id of the origin or topic at field, adding
// what is wrong with it to verr, and reports whether it is valid.
func (verr *ValidationError) checkSettingID(field, id string) bool {
	if id == "" || len(id) > MaxFieldLength {
		verr.add(field+".id", "must be 1 to 255 characters")
		return false
	}
	if p := textProblem(id); p != "" {
		verr.add(field+".id", p)
		return false
	}
	return true
}

// isChannel reports whether id is a channel users may save settings for:
// exactly WebChannel or a processor's name (channels only the defaults
// name are listed by Settings but cannot be saved, as in Backstage).
func (s *Service) isChannel(id string) bool {
	for _, c := range s.processorChannels() {
		if c == id {
			return true
		}
	}
	return false
}

func (s *Service) processorChannels() []string { return s.channels[:1+len(s.processors)] }
