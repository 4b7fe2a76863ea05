package rest

import (
	"net/http"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// Herald's inbox states over HTTP: seen, archived and snoozeUntil in the
// update body, POST /notifications/seen-all, and the seen and archived
// list filters.

// decodeStates reads the update body's Herald properties into o: seen
// and archived (booleans) and snoozeUntil (a date in the list's formats,
// within years 1 to 9999; one not in the future un-snoozes).
func decodeStates(root object, o *notifications.UpdateOptions) error {
	var err error
	if o.Seen, err = root.boolean("seen", false); err != nil {
		return err
	}
	if o.Archived, err = root.boolean("archived", false); err != nil {
		return err
	}
	s, err := root.str("snoozeUntil", false)
	if err != nil {
		return err
	}
	if _, set := root.present("snoozeUntil"); set {
		if o.SnoozedUntil, err = parseBound(root.child("snoozeUntil"), s); err != nil {
			return err
		}
	}
	return nil
}

// stateFilter reads the seen and archived list parameters into f.
func (q query) stateFilter(f *notifications.Filter) error {
	var err error
	if f.Seen, err = q.boolean("seen"); err != nil {
		return err
	}
	f.Archived, err = q.boolean("archived")
	return err
}

// POST /notifications/seen-all (Herald)
func (h *Handler) seenAll(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	return h.markAll(w, r, p, h.svc.MarkAllSeen)
}
