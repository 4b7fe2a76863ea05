package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// The delivery routes are for the services that send: a service sees and
// retries only the deliveries of its own sends (Delivery.Origin is its
// Subject), because a delivery's last error can carry a recipient's
// address. Another origin's delivery is answered exactly like an unknown
// one, so a service cannot even learn that it exists.

// deliveriesParams are the query parameters of GET /deliveries.
var deliveriesParams = []string{"notificationId", "processor", "status", "limit"}

// errNotRetryable answers a retry of a delivery that is not failed or
// cancelled: it is still waiting or running, or it was sent.
var errNotRetryable = &httpError{status: http.StatusConflict, name: nameConflict,
	message: "Only a failed or cancelled delivery can be retried"}

// deliveryJSON is a delivery on the wire: optional fields are null when
// unset, times are ISO 8601 UTC with milliseconds, like notifications'.
type deliveryJSON struct {
	ID             string                       `json:"id"`
	NotificationID string                       `json:"notificationId"`
	User           *string                      `json:"user"`
	Origin         string                       `json:"origin"`
	Processor      string                       `json:"processor"`
	Status         notifications.DeliveryStatus `json:"status"`
	Attempts       int                          `json:"attempts"`
	LastError      *string                      `json:"lastError"`
	NextAttempt    *isoTime                     `json:"nextAttempt"`
	Created        isoTime                      `json:"created"`
	Updated        isoTime                      `json:"updated"`
}

func deliveryWire(d notifications.Delivery) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, NotificationID: d.NotificationID, Origin: d.Origin, Processor: d.Processor,
		Status: d.Status, Attempts: d.Attempts, Created: isoTime(d.Created), Updated: isoTime(d.Updated),
	}
	if d.User != "" {
		out.User = &d.User
	}
	if d.LastError != "" {
		out.LastError = &d.LastError
	}
	if d.NextAttempt != nil {
		t := isoTime(*d.NextAttempt)
		out.NextAttempt = &t
	}
	return out
}

// isoTime encodes as JavaScript's Date.toISOString does, the form of
// every time the API returns: UTC, milliseconds, "Z".
type isoTime time.Time

var _ json.Marshaler = isoTime{}

func (t isoTime) MarshalJSON() ([]byte, error) {
	const layout = "2006-01-02T15:04:05.000Z"
	b := make([]byte, 0, len(layout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, layout)
	return append(b, '"'), nil
}

// deliveryListResponse is GET /deliveries' body.
type deliveryListResponse struct {
	Deliveries []deliveryJSON `json:"deliveries"`
}

// serviceOrigin is the origin of the calling service's sends: its
// Subject, as the send route sets it. An empty Subject would select every
// origin's deliveries, so it is a fault, never a wider view.
func serviceOrigin(p auth.Principal) (string, error) {
	if p.Subject == "" {
		return "", errors.New("authenticator returned a service principal without Subject")
	}
	return p.Subject, nil
}

// GET /deliveries (Herald)
func (h *Handler) deliveries(w http.ResponseWriter, r *http.Request, p auth.Principal, q query) error {
	return listForService(w, r, p, q, query.deliveryFilter, h.svc.Deliveries, deliveryWire,
		func(ds []deliveryJSON) any { return deliveryListResponse{Deliveries: ds} })
}

// listForService answers a service principal's list route (GET
// /deliveries, GET /scheduled): it reads the route's filter from q for
// the caller's origin, lists what matches and encodes each item with
// wire into the body that body builds. A service sees only what its own
// sends made, so the origin comes from the principal, never the query.
func listForService[F, T, J any](w http.ResponseWriter, r *http.Request, p auth.Principal, q query,
	filter func(query, string) (F, error), list func(context.Context, F) ([]T, error),
	wire func(T) J, body func([]J) any,
) error {
	origin, err := serviceOrigin(p)
	if err != nil {
		return err
	}
	f, err := filter(q, origin)
	if err != nil {
		return err
	}
	items, err := list(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]J, len(items))
	for i, it := range items {
		out[i] = wire(it)
	}
	writeJSON(w, http.StatusOK, body(out))
	return nil
}

// serviceTarget is the origin of the service principal p and the {id} of
// r, lower case. A malformed id can match nothing: errNotFound without
// asking the store. A UUID is case-insensitive; the stores keep the
// lower-case form.
func serviceTarget(r *http.Request, p auth.Principal) (origin, id string, err error) {
	origin, err = serviceOrigin(p)
	if err != nil {
		return "", "", err
	}
	id = r.PathValue("id")
	if !uuid.Valid(id) {
		return "", "", errNotFound
	}
	return origin, strings.ToLower(id), nil
}

// POST /deliveries/{id}/retry (Herald)
func (h *Handler) retryDelivery(w http.ResponseWriter, r *http.Request, p auth.Principal, _ query) error {
	origin, id, err := serviceTarget(r, p)
	if err != nil {
		return err
	}
	d, err := h.ownDelivery(r, origin, id)
	if err != nil {
		return err
	}
	if d.Status != notifications.DeliveryFailed && d.Status != notifications.DeliveryCancelled {
		return errNotRetryable
	}
	if err := h.svc.RetryDelivery(r.Context(), id); errors.Is(err, notifications.ErrNotFound) {
		// It changed since it was read: another retry made it pending
		// (409), or retention deleted it (404).
		if _, err := h.ownDelivery(r, origin, id); err != nil {
			return err
		}
		return errNotRetryable
	} else if err != nil {
		return err
	}
	// The delivery as it is now: pending, or already claimed by a worker.
	if d, err = h.ownDelivery(r, origin, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deliveryWire(d))
	return nil
}

// ownDelivery reads delivery id for the service of origin: another
// origin's delivery is not found, like an unknown one.
func (h *Handler) ownDelivery(r *http.Request, origin, id string) (notifications.Delivery, error) {
	d, err := h.svc.Delivery(r.Context(), id)
	if err != nil {
		return d, err
	}
	if d.Origin != origin {
		return notifications.Delivery{}, errNotFound
	}
	return d, nil
}

// deliveryFilter reads GET /deliveries' parameters. Each one, when
// present, must hold a usable value: an empty one is 400, not "any".
func (q query) deliveryFilter(origin string) (notifications.DeliveryFilter, error) {
	f := notifications.DeliveryFilter{Origin: origin}
	if s, ok := q.one("notificationId"); ok {
		if !uuid.Valid(s) {
			return f, inputError(`request/query/notificationId must match format "uuid"`)
		}
		f.NotificationID = strings.ToLower(s)
	}
	if s, ok := q.one("processor"); ok {
		if s == "" {
			return f, inputError("request/query/processor must NOT have fewer than 1 characters")
		}
		f.Processor = s
	}
	var err error
	if f.Status, err = status[notifications.DeliveryStatus](q, "pending, retrying, sent, failed, cancelled"); err != nil {
		return f, err
	}
	f.Limit, err = q.serviceLimit()
	return f, err
}

// status reads the status parameter, when present, as one of the values
// allowed names; absent, it is "" (any status).
func status[S interface {
	~string
	Valid() bool
}](q query, allowed string) (S, error) {
	s, ok := q.one("status")
	if !ok {
		return "", nil
	}
	if !S(s).Valid() {
		return "", inputError("request/query/status must be equal to one of the allowed values: " + allowed)
	}
	return S(s), nil
}

// serviceLimit reads the limit of a service's list routes (GET
// /deliveries, GET /scheduled): 1 to MaxDeliveryLimit; absent, 0 (the
// default).
func (q query) serviceLimit() (int, error) {
	n, err := q.intIn("limit", 1, notifications.MaxDeliveryLimit)
	if n == nil || err != nil {
		return 0, err
	}
	return *n, nil
}
