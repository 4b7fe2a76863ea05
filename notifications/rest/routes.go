package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// listResponse is the list's body: Backstage's {totalCount, notifications}
// plus Herald's nextCursor when another page follows.
type listResponse struct {
	TotalCount    int                          `json:"totalCount"`
	Notifications []notifications.Notification `json:"notifications"`
	NextCursor    string                       `json:"nextCursor,omitempty"`
}

// GET /notifications, GET /
func (h *Handler) list(w http.ResponseWriter, r *http.Request, p auth.Principal, q query) error {
	o, err := q.listOptions()
	if err != nil {
		return err
	}
	res, err := h.svc.List(r.Context(), p.User, o)
	if err != nil {
		return err
	}
	if res.Notifications == nil {
		res.Notifications = []notifications.Notification{}
	}
	h.writeList(w, listResponse{TotalCount: res.TotalCount, Notifications: res.Notifications, NextCursor: res.NextCursor})
	return nil
}

// POST /notifications, POST /
func (h *Handler) send(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	if p.Subject == "" {
		return errors.New("authenticator returned a service principal without Subject")
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	o, at, err := decodeSendRequest(body)
	if err != nil {
		return err
	}
	o.Origin, o.IdempotencyKey = p.Subject, key
	if at != nil {
		// Herald: a scheduled send, answered 202 with its record.
		s, err := h.svc.Schedule(r.Context(), o, *at)
		if err != nil {
			return sendError(err)
		}
		writeJSON(w, http.StatusAccepted, scheduledWire(s))
		return nil
	}
	sent, err := h.svc.Send(r.Context(), o)
	if err != nil {
		return sendError(err)
	}
	// A fresh notification answers in the compact form Backstage's send
	// returns; one a scoped re-send updated answers as stored.
	out := make([]json.Marshaler, len(sent))
	for i, n := range sent {
		if n.Updated == nil {
			out[i] = n.Compact()
		} else {
			out[i] = n
		}
	}
	writeMarshalers(w, http.StatusOK, out)
	return nil
}

// sendError words a send's validation error as Backstage's send does.
func sendError(err error) error {
	var verr *notifications.ValidationError
	var rerr *notifications.ResolveError
	if !errors.As(err, &rerr) && errors.As(err, &verr) {
		return inputError(validationMessage("Invalid notification request received", verr))
	}
	return err
}

// GET /notifications/{id}, GET /{id}
func (h *Handler) get(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	n, err := h.svc.Get(r.Context(), p.User, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeNotification(w, n)
	return nil
}

// POST /notifications/update, POST /update
func (h *Handler) update(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	o, err := decodeUpdate(body)
	if err != nil {
		return err
	}
	ns, err := h.svc.Update(r.Context(), p.User, o)
	if err != nil {
		return err
	}
	if ns == nil {
		ns = []notifications.Notification{}
	}
	h.writeNotifications(w, ns)
	return nil
}

// readAllResponse lists the notifications read-all (or seen-all) marked.
type readAllResponse struct {
	IDs []string `json:"ids"`
}

// POST /notifications/read-all (Herald)
func (h *Handler) readAll(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	return h.markAll(w, r, p, h.svc.MarkAllRead)
}

// markAll answers read-all and seen-all: mark, with the body's filter,
// what matches in p's inbox, and list the ids marked.
func (h *Handler) markAll(w http.ResponseWriter, r *http.Request, p auth.Principal,
	mark func(ctx context.Context, user string, f notifications.Filter) ([]string, error),
) error {
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	req, err := decodeReadAll(body)
	if err != nil {
		return err
	}
	ids, err := mark(r.Context(), p.User, req.filter)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, readAllResponse{IDs: ids})
	return nil
}

// GET /status
func (h *Handler) status(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	st, err := h.svc.Status(r.Context(), p.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// GET /settings
func (h *Handler) settings(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	st, err := h.svc.Settings(r.Context(), p.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// POST /settings
func (h *Handler) saveSettings(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	in, err := decodeSettingsBody(body)
	if err != nil {
		return err
	}
	st, err := h.svc.SaveSettings(r.Context(), p.User, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// topicsResponse is the topics' body.
type topicsResponse struct {
	Topics []string `json:"topics"`
}

// GET /topics
func (h *Handler) topics(w http.ResponseWriter, r *http.Request, p auth.Principal, q query) error {
	f, err := q.filter()
	if err != nil {
		return err
	}
	topics, err := h.svc.Topics(r.Context(), p.User, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, topicsResponse{Topics: topics})
	return nil
}

// GET /openapi.json
func (h *Handler) openAPI(w http.ResponseWriter, _ *http.Request, _ auth.Principal, _ query) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
	return nil
}
