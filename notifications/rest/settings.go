package rest

import "github.com/heraldhq/herald/notifications"

// decodeSettingsBody decodes a POST /settings body: Backstage's
// NotificationSettings and Herald's quietHours. A body without
// quietHours (or with null) leaves the stored quiet hours as they are,
// as Backstage's page posts back only what it knows; an object whose
// start, end and timeZone are all absent or empty removes them. The
// "locked" flags a client echoes are ignored: locks come from the
// administrator's defaults only.
func decodeSettingsBody(body []byte) (notifications.Settings, error) {
	s, err := decodeSettings(body)
	if err != nil {
		return s, err
	}
	root, err := bodyObject(body)
	if err != nil {
		return s, err
	}
	raw, ok := root.present("quietHours")
	if !ok {
		return s, nil
	}
	qo, err := asObject(root.child("quietHours"), raw)
	if err != nil {
		return s, err
	}
	var q notifications.QuietHours
	if q.Start, err = qo.str("start", false); err != nil {
		return s, err
	}
	if q.End, err = qo.str("end", false); err != nil {
		return s, err
	}
	if q.TimeZone, err = qo.str("timeZone", false); err != nil {
		return s, err
	}
	s.QuietHours = &q
	return s, nil
}
