package rest

import (
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// Scheduled sends and idempotency keys (Herald extensions, service
// principals only). A service sees and cancels only its own origin's
// scheduled sends: another origin's is answered like an unknown one.

// idempotencyHeader is the request header of POST /notifications that
// makes a retried send a no-op.
const idempotencyHeader = "Idempotency-Key"

// idempotencyKey reads the Idempotency-Key header: "" when absent. Present
// more than once, empty, or not 1 to notifications.MaxIdempotencyKeyLength
// printable ASCII characters without spaces, it is a 400.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values(idempotencyHeader)
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", inputError("request/headers/idempotency-key must be given once")
	}
	key := vs[0]
	if key == "" || len(key) > notifications.MaxIdempotencyKeyLength {
		return "", inputError(fmt.Sprintf("request/headers/idempotency-key must have 1 to %d characters", notifications.MaxIdempotencyKeyLength))
	}
	for i := range len(key) {
		if key[i] <= ' ' || key[i] > '~' {
			return "", inputError("request/headers/idempotency-key must be printable ASCII without spaces")
		}
	}
	return key, nil
}

// scheduledJSON is a scheduled send on the wire: times are ISO 8601 UTC
// with milliseconds, lastError is null until a run failed.
type scheduledJSON struct {
	ID         string                       `json:"id"`
	Origin     string                       `json:"origin"`
	Status     notifications.ScheduleStatus `json:"status"`
	DeliverAt  isoTime                      `json:"deliverAt"`
	Recipients notifications.Recipients     `json:"recipients"`
	Payload    notifications.Payload        `json:"payload"`
	Attempts   int                          `json:"attempts"`
	LastError  *string                      `json:"lastError"`
	Created    isoTime                      `json:"created"`
	Updated    isoTime                      `json:"updated"`
}

func scheduledWire(s notifications.ScheduledSend) scheduledJSON {
	out := scheduledJSON{
		ID: s.ID, Origin: s.Options.Origin, Status: s.Status, DeliverAt: isoTime(s.At),
		Recipients: s.Options.Recipients, Payload: s.Options.Payload, Attempts: s.Attempts,
		Created: isoTime(s.Created), Updated: isoTime(s.Updated),
	}
	if s.LastError != "" {
		out.LastError = &s.LastError
	}
	return out
}

// scheduledListResponse is GET /scheduled's body.
type scheduledListResponse struct {
	Scheduled []scheduledJSON `json:"scheduled"`
}

// scheduledParams are the query parameters of GET /scheduled.
var scheduledParams = []string{"status", "limit"}

// GET /scheduled (Herald)
func (h *Handler) scheduled(w http.ResponseWriter, r *http.Request, p auth.Principal, q query) error {
	return listForService(w, r, p, q, query.scheduleFilter, h.svc.ScheduledSends, scheduledWire,
		func(ss []scheduledJSON) any { return scheduledListResponse{Scheduled: ss} })
}

// DELETE /scheduled/{id} (Herald): 204 once cancelled; 404 when unknown,
// another origin's, or no longer waiting (it ran, failed or was
// cancelled).
func (h *Handler) cancelScheduled(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	origin, id, err := serviceTarget(r, p)
	if err != nil {
		return err
	}
	s, err := h.svc.ScheduledSend(r.Context(), id)
	if err != nil {
		return err
	}
	if s.Options.Origin != origin {
		return errNotFound
	}
	if err := h.svc.CancelScheduled(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// scheduleFilter reads GET /scheduled's parameters; present ones must
// hold a usable value.
func (q query) scheduleFilter(origin string) (notifications.ScheduleFilter, error) {
	f := notifications.ScheduleFilter{Origin: origin}
	var err error
	if f.Status, err = status[notifications.ScheduleStatus](q, "waiting, sent, cancelled, failed"); err != nil {
		return f, err
	}
	f.Limit, err = q.serviceLimit()
	return f, err
}
