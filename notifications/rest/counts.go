package rest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// countsResponse is the counts' body: one count per filter, in order.
type countsResponse struct {
	Counts []int `json:"counts"`
}

// POST /counts (Herald)
func (h *Handler) counts(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	fs, err := decodeCounts(body)
	if err != nil {
		return err
	}
	counts, err := h.svc.Counts(r.Context(), p.User, fs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, countsResponse{Counts: counts})
	return nil
}

// decodeCounts decodes {"filters": [...]}: at most
// notifications.MaxCountFilters filters, each with the list's filter
// fields as JSON (read, saved, seen, archived, search, topic,
// createdAfter, minimumSeverity) and read-all's before.
func decodeCounts(body []byte) ([]notifications.Filter, error) {
	root, err := bodyObject(body)
	if err != nil {
		return nil, err
	}
	items, err := root.array("filters", true)
	if err != nil {
		return nil, err
	}
	if len(items) > notifications.MaxCountFilters {
		return nil, inputError(fmt.Sprintf("%s must NOT have more than %d items", root.child("filters"), notifications.MaxCountFilters))
	}
	fs := make([]notifications.Filter, len(items))
	for i, item := range items {
		if fs[i], err = decodeFilterObject(item); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// decodeFilterObject reads one filter object, with the checks and the
// messages the list's query parameters and read-all's body get.
func decodeFilterObject(o object) (notifications.Filter, error) {
	var f notifications.Filter
	var err error
	if f.Read, err = o.boolean("read", false); err != nil {
		return f, err
	}
	if f.Saved, err = o.boolean("saved", false); err != nil {
		return f, err
	}
	if f.Seen, err = o.boolean("seen", false); err != nil {
		return f, err
	}
	if f.Archived, err = o.boolean("archived", false); err != nil {
		return f, err
	}
	if f.Search, err = o.str("search", false); err != nil {
		return f, err
	}
	if err := checkSearch(o.child("search"), f.Search); err != nil {
		return f, err
	}
	if f.Topic, err = o.str("topic", false); err != nil {
		return f, err
	}
	sev, err := o.str("minimumSeverity", false)
	if err != nil {
		return f, err
	}
	if _, set := o.present("minimumSeverity"); set {
		if !notifications.Severity(sev).Valid() {
			return f, inputError(o.child("minimumSeverity") + " must be equal to one of the allowed values: critical, high, normal, low")
		}
		f.MinimumSeverity = notifications.Severity(sev)
	}
	for _, d := range []struct {
		name string
		dst  **time.Time
	}{{"createdAfter", &f.CreatedAfter}, {"before", &f.CreatedBefore}} {
		s, err := o.str(d.name, false)
		if err != nil {
			return f, err
		}
		if s == "" {
			continue
		}
		if *d.dst, err = parseBound(o.child(d.name), s); err != nil {
			return f, err
		}
	}
	return f, nil
}
