package rest_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Seeded deliveries fall due long after the fixture's clock (2025), so
// the Service's own workers never claim them: settle claims them with a
// clock of its own. dueSettled ones are settled, duePending ones stay
// pending.
var (
	dueSettled = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	settleAt   = time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC)
	duePending = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// gate is a post-processor that reports each call and holds it until the
// test ends (or its context is cancelled), so that a delivery it runs is
// seen pending, never finished behind the test's back.
type gate struct {
	calls   chan string // the delivery id of each call
	release chan struct{}
}

// withGates configures one gate under each name. The caller releases
// them (closes g.release) in a cleanup registered after setup's, so that
// it runs before the Service's Close waits for the attempts.
func withGates(names ...string) (option, *gate) {
	g := &gate{calls: make(chan string, 64), release: make(chan struct{})}
	ps := make([]notifications.Processor, len(names))
	for i, name := range names {
		ps[i] = &notifications.PostProcessorFunc{ProcessorName: name, Func: g.run}
	}
	return withProcessors(ps...), g
}

// called waits for the gate to be called for delivery id.
func (g *gate) called(t *testing.T, id string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case got := <-g.calls:
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("delivery %s was not attempted", id)
		}
	}
}

func (g *gate) run(ctx context.Context, _ notifications.Notification, _ notifications.SendOptions) error {
	d, _ := notifications.DeliveryFromContext(ctx)
	g.calls <- d.ID
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	return nil
}

// deliveryFixture is a fixture whose Service runs gates named email and
// slack.
func deliveryFixture(t *testing.T, kind storeKind) (*fixture, *gate) {
	t.Helper()
	opt, g := withGates("email", "slack")
	f := setup(t, withStoreKind(kind), opt)
	t.Cleanup(func() { close(g.release) }) // before the Service's Close
	return f, g
}

// seededSend is one send stored directly with its deliveries.
type seededSend struct {
	n          notifications.Notification
	deliveries map[string]string // processor name → delivery id
}

// seedSend stores, as origin's send created at due, one notification for
// user (a broadcast when user is "") with a pending delivery per
// processor, due at due.
func (f *fixture) seedSend(origin, user string, due time.Time, processors ...string) seededSend {
	f.t.Helper()
	ctx := context.Background()
	n := notifications.Notification{ID: uuid.New(), User: user, Origin: origin, Created: f.now(),
		Payload: notifications.Payload{Title: "seeded", Severity: notifications.SeverityNormal}}
	recipients := notifications.Broadcast()
	if user != "" {
		recipients = notifications.Entity(user)
	}
	w := &notifications.DeliveryWrite{Send: notifications.SendRecord{
		ID: uuid.New(), Origin: origin, Created: due,
		Options: notifications.SendOptions{Origin: origin, Recipients: recipients, Payload: n.Payload},
	}}
	s := seededSend{deliveries: map[string]string{}}
	for _, p := range processors {
		id := uuid.New()
		w.Deliveries = append(w.Deliveries, notifications.NewDelivery{ID: id, Processor: p})
		s.deliveries[p] = id
	}
	var err error
	if user == "" {
		s.n, err = f.store.SaveBroadcast(ctx, n, w)
	} else {
		var ns []notifications.Notification
		ns, err = f.store.SaveNotifications(ctx, []notifications.Notification{n}, w)
		if err == nil {
			s.n = ns[0]
		}
	}
	if err != nil {
		f.t.Fatalf("seed send: %v", err)
	}
	return s
}

// settled is how settle finishes one delivery.
type settled struct {
	status    notifications.DeliveryStatus
	lastError string
}

// settle claims every delivery due by settleAt and finishes each as
// outcomes says, by delivery id. It fails the test if the claim is not
// exactly the deliveries of outcomes.
func (f *fixture) settle(outcomes map[string]settled) {
	f.t.Helper()
	ctx := context.Background()
	claims, err := f.store.ClaimDeliveries(ctx, notifications.ClaimOptions{Now: settleAt, Lease: time.Minute, Limit: 100})
	if err != nil {
		f.t.Fatalf("claim: %v", err)
	}
	if len(claims) != len(outcomes) {
		f.t.Fatalf("claimed %d deliveries, want %d", len(claims), len(outcomes))
	}
	for _, c := range claims {
		o, ok := outcomes[c.Delivery.ID]
		if !ok {
			f.t.Fatalf("claimed delivery %s, not one to settle", c.Delivery.ID)
		}
		out := notifications.DeliveryOutcome{ID: c.Delivery.ID, Token: c.Token, Status: o.status, LastError: o.lastError, Now: settleAt}
		if o.status == notifications.DeliveryRetrying {
			out.NextAttempt = ptr(duePending)
		}
		if _, err := f.store.FinishDelivery(ctx, out); err != nil {
			f.t.Fatalf("finish %s: %v", c.Delivery.ID, err)
		}
	}
}

// wireDelivery is a delivery as the API answers it.
type wireDelivery struct {
	ID             string  `json:"id"`
	NotificationID string  `json:"notificationId"`
	User           *string `json:"user"`
	Origin         string  `json:"origin"`
	Processor      string  `json:"processor"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastError      *string `json:"lastError"`
	NextAttempt    *string `json:"nextAttempt"`
	Created        string  `json:"created"`
	Updated        string  `json:"updated"`
}

// listDeliveries asks GET /deliveries?query as the service of token and
// returns the deliveries answered, in order.
func (f *fixture) listDeliveries(t *testing.T, token, query string) []wireDelivery {
	t.Helper()
	path := "/deliveries"
	if query != "" {
		path += "?" + query
	}
	return ok[struct {
		Deliveries []wireDelivery `json:"deliveries"`
	}](t, f.raw(t, http.MethodGet, path, token, "")).Deliveries
}

func ids(ds []wireDelivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// sameSet reports whether got and want hold the same ids, in any order.
func sameSet(got, want []string) bool {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// deliveryWorld is two services' sends: the test service's to the mock
// user (email failed after 3 attempts, slack sent), its broadcast (email
// pending), its send to the other user (email cancelled), and the other
// service's send to the mock user (email failed).
type deliveryWorld struct {
	toMock, toAll, toOther, others seededSend
}

func (w deliveryWorld) mine() []string {
	return []string{w.toMock.deliveries["email"], w.toMock.deliveries["slack"], w.toAll.deliveries["email"], w.toOther.deliveries["email"]}
}

func (f *fixture) deliveryWorld() deliveryWorld {
	f.t.Helper()
	w := deliveryWorld{
		toMock:  f.seedSend(testService, mockUser, dueSettled, "email", "slack"),
		toOther: f.seedSend(testService, otherUser, dueSettled, "email"),
		others:  f.seedSend(otherService, mockUser, dueSettled, "email"),
		toAll:   f.seedSend(testService, "", duePending, "email"),
	}
	f.settle(map[string]settled{
		w.toMock.deliveries["email"]:  {notifications.DeliveryFailed, "smtp: 550 mailbox unavailable"},
		w.toMock.deliveries["slack"]:  {notifications.DeliverySent, ""},
		w.toOther.deliveries["email"]: {notifications.DeliveryCancelled, ""},
		w.others.deliveries["email"]:  {notifications.DeliveryFailed, "smtp: 550 other origin's secret"},
	})
	return w
}

// A service lists the deliveries of its own sends only, newest first, in
// the documented shape; each filter narrows them. On every store.
func TestDeliveriesList(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f, _ := deliveryFixture(t, kind)
		w := f.deliveryWorld()

		all := f.listDeliveries(t, serviceToken, "")
		if !sameSet(ids(all), w.mine()) {
			t.Fatalf("the test service sees %v, want its own %v", ids(all), w.mine())
		}
		for i := 1; i < len(all); i++ {
			if all[i-1].Created < all[i].Created {
				t.Errorf("not newest first: %s before %s", all[i-1].Created, all[i].Created)
			}
		}
		theirs := f.listDeliveries(t, otherServiceToken, "")
		if got := ids(theirs); !slices.Equal(got, []string{w.others.deliveries["email"]}) {
			t.Errorf("the other service sees %v, want only its own %s", got, w.others.deliveries["email"])
		}

		// The shape, exactly: every field present, null where unset.
		r := f.raw(t, http.MethodGet, "/deliveries?processor=email&status=failed", serviceToken, "")
		raw := ok[map[string][]map[string]any](t, r)["deliveries"]
		if len(raw) != 1 {
			t.Fatalf("failed email deliveries: %s, want one", r.body)
		}
		wantKeys := []string{"attempts", "created", "id", "lastError", "nextAttempt", "notificationId", "origin", "processor", "status", "updated", "user"}
		if keys := sortedKeys(raw[0]); !slices.Equal(keys, wantKeys) {
			t.Errorf("keys %v, want exactly %v", keys, wantKeys)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		byID := map[string]wireDelivery{}
		for _, d := range all {
			byID[d.ID] = d
		}
		failed := byID[w.toMock.deliveries["email"]]
		if failed.NotificationID != w.toMock.n.ID || failed.User == nil || *failed.User != mockUser || failed.Origin != testService ||
			failed.Processor != "email" || failed.Status != "failed" || failed.Attempts != 1 ||
			failed.LastError == nil || *failed.LastError != "smtp: 550 mailbox unavailable" || failed.NextAttempt != nil {
			t.Errorf("failed delivery %+v", failed)
		}
		for _, tm := range []string{failed.Created, failed.Updated} {
			if !isoRE.MatchString(tm) {
				t.Errorf("time %q is not ISO 8601 UTC with milliseconds", tm)
			}
		}
		if failed.Updated != "2150-01-01T00:00:00.000Z" {
			t.Errorf("updated %s, want the finish time", failed.Updated)
		}
		sent := byID[w.toMock.deliveries["slack"]]
		if sent.Status != "sent" || sent.LastError != nil || sent.NextAttempt != nil {
			t.Errorf("sent delivery %+v, want lastError and nextAttempt null", sent)
		}
		pending := byID[w.toAll.deliveries["email"]]
		if pending.User != nil || pending.NotificationID != w.toAll.n.ID || pending.Status != "pending" ||
			pending.Attempts != 0 || pending.NextAttempt == nil || *pending.NextAttempt != "2200-01-01T00:00:00.000Z" {
			t.Errorf("broadcast's pending delivery %+v, want user null and nextAttempt its due time", pending)
		}

		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"processor=email", []string{w.toMock.deliveries["email"], w.toAll.deliveries["email"], w.toOther.deliveries["email"]}},
			{"processor=slack", []string{w.toMock.deliveries["slack"]}},
			{"processor=webhook", nil},
			{"status=failed", []string{w.toMock.deliveries["email"]}},
			{"status=sent", []string{w.toMock.deliveries["slack"]}},
			{"status=pending", []string{w.toAll.deliveries["email"]}},
			{"status=cancelled", []string{w.toOther.deliveries["email"]}},
			{"status=retrying", nil},
			{"notificationId=" + w.toMock.n.ID, []string{w.toMock.deliveries["email"], w.toMock.deliveries["slack"]}},
			{"notificationId=" + strings.ToUpper(w.toMock.n.ID), []string{w.toMock.deliveries["email"], w.toMock.deliveries["slack"]}},
			{"notificationId=" + w.toAll.n.ID, []string{w.toAll.deliveries["email"]}},
			// The other origin's notification: none of the caller's.
			{"notificationId=" + w.others.n.ID, nil},
			{"notificationId=" + w.toMock.n.ID + "&processor=slack&status=sent", []string{w.toMock.deliveries["slack"]}},
			{"notificationId=" + w.toMock.n.ID + "&status=pending", nil},
			{"limit=1000", w.mine()},
		} {
			if got := ids(f.listDeliveries(t, serviceToken, tc.query)); !sameSet(got, tc.want) {
				t.Errorf("?%s: %v, want %v", tc.query, got, tc.want)
			}
		}
		// limit keeps the newest.
		for n := 1; n <= len(all); n++ {
			got := ids(f.listDeliveries(t, serviceToken, "limit="+strconv.Itoa(n)))
			if !slices.Equal(got, ids(all)[:n]) {
				t.Errorf("limit=%d: %v, want %v", n, got, ids(all)[:n])
			}
		}
	})
}

// A retry puts a failed or cancelled delivery of the caller's own sends
// back to run now; anything else is 404 (not the caller's, unknown,
// malformed) or 409 (nothing to retry). On every store.
func TestDeliveriesRetry(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f, g := deliveryFixture(t, kind)
		w := f.deliveryWorld()
		retry := func(token, id string) response {
			return f.raw(t, http.MethodPost, "/deliveries/"+id+"/retry", token, "")
		}
		get := func(id string) notifications.Delivery {
			t.Helper()
			d, err := f.svc.Delivery(context.Background(), id)
			if err != nil {
				t.Fatalf("delivery %s: %v", id, err)
			}
			return d
		}

		// Another origin's failed delivery is not found, and stays failed.
		theirs := w.others.deliveries["email"]
		e := failure(t, retry(serviceToken, theirs), 404, "NotFoundError")
		if e.Error.Message != "Not found" || strings.Contains(e.Error.Message, "secret") {
			t.Errorf("message %q, want the plain 404 of an unknown id", e.Error.Message)
		}
		if d := get(theirs); d.Status != notifications.DeliveryFailed || d.Attempts != 1 {
			t.Errorf("another origin's retry changed its delivery: %+v", d)
		}
		// Unknown and malformed ids: the same 404.
		for _, id := range []string{uuid.New(), "not-a-uuid", "6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e1g", strings.Repeat("a", 5000)} {
			failure(t, retry(serviceToken, id), 404, "NotFoundError")
		}

		// Its own failed delivery: pending again, due now, attempts reset
		// (1 if a worker claimed it already), the last error kept.
		mine := w.toMock.deliveries["email"]
		got := ok[wireDelivery](t, retry(serviceToken, mine))
		if got.ID != mine || got.Status != "pending" || got.Attempts > 1 || got.Origin != testService {
			t.Errorf("retried delivery %+v, want it pending with attempts reset", got)
		}
		// A worker runs it at once (and the gate holds it there, pending).
		g.called(t, mine)
		if d := get(mine); d.Status != notifications.DeliveryPending || d.Attempts != 1 || d.LastError != "smtp: 550 mailbox unavailable" {
			t.Errorf("stored after the retry: %+v, want pending in its first new attempt, the last error kept", d)
		}
		if listed := ids(f.listDeliveries(t, serviceToken, "status=failed")); len(listed) != 0 {
			t.Errorf("failed deliveries after the retry: %v, want none", listed)
		}
		// Retrying it again: it is pending, nothing to retry.
		if e := failure(t, retry(serviceToken, mine), 409, "ConflictError"); !strings.Contains(e.Error.Message, "failed or cancelled") {
			t.Errorf("message %q", e.Error.Message)
		}
		// A sent and a pending delivery cannot be retried either.
		failure(t, retry(serviceToken, w.toMock.deliveries["slack"]), 409, "ConflictError")
		failure(t, retry(serviceToken, w.toAll.deliveries["email"]), 409, "ConflictError")
		if d := get(w.toMock.deliveries["slack"]); d.Status != notifications.DeliverySent {
			t.Errorf("a refused retry changed a sent delivery: %+v", d)
		}
		// A cancelled one can, by an id in upper case too.
		cancelled := w.toOther.deliveries["email"]
		if got := ok[wireDelivery](t, retry(serviceToken, strings.ToUpper(cancelled))); got.ID != cancelled || got.Status != "pending" {
			t.Errorf("retried cancelled delivery %+v, want %s pending", got, cancelled)
		}
		// A query parameter is refused like anywhere else, before the retry.
		failure(t, f.raw(t, http.MethodPost, "/deliveries/"+theirs+"/retry?force=true", otherServiceToken, ""), 400, "InputError")
		if d := get(theirs); d.Status != notifications.DeliveryFailed {
			t.Errorf("a refused request retried: %+v", d)
		}
		// The other service retries its own.
		if got := ok[wireDelivery](t, retry(otherServiceToken, theirs)); got.Status != "pending" || got.Origin != otherService {
			t.Errorf("the other service's own retry: %+v", got)
		}
	})
}

// Only services see deliveries: a user token is 403 and no token 401, in
// the envelope, and neither reaches the Service.
func TestDeliveriesNeedAService(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind))
		w := f.deliveryWorld()
		id := w.toMock.deliveries["email"]
		for _, rt := range []struct{ method, path string }{
			{http.MethodGet, "/deliveries"},
			{http.MethodGet, "/deliveries?status=failed"},
			{http.MethodGet, "/deliveries?status=bogus"},
			{http.MethodPost, "/deliveries/" + id + "/retry"},
		} {
			for _, token := range []string{userToken, otherUserToken} {
				e := failure(t, f.raw(t, rt.method, rt.path, token, ""), 403, "NotAllowedError")
				if e.Error.Message != "This endpoint requires service credentials" {
					t.Errorf("%s %s: message %q", rt.method, rt.path, e.Error.Message)
				}
			}
			failure(t, f.raw(t, rt.method, rt.path, "", ""), 401, "AuthenticationError")
		}
		d, err := f.svc.Delivery(context.Background(), id)
		if err != nil || d.Status != notifications.DeliveryFailed {
			t.Errorf("after the refused retries: %+v, %v; want it still failed", d, err)
		}
		// Another method on the paths is an unknown route.
		failure(t, f.raw(t, http.MethodGet, "/deliveries/"+id+"/retry", serviceToken, ""), 404, "NotFoundError")
		failure(t, f.raw(t, http.MethodDelete, "/deliveries", serviceToken, ""), 404, "NotFoundError")
	})
}

// Bad query values are 400s naming the parameter and the rule, before the
// Service is asked.
func TestDeliveriesBadQueries(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind))
		for _, tc := range []struct{ query, message string }{
			{"status=bogus", "request/query/status must be equal to one of the allowed values: pending, retrying, sent, failed, cancelled"},
			{"status=", "request/query/status must be equal to one of the allowed values"},
			{"status=FAILED", "request/query/status must be equal to one of the allowed values"},
			{"limit=0", "request/query/limit must be >= 1"},
			{"limit=-1", "request/query/limit must be >= 1"},
			{"limit=-99999999999999999999", "request/query/limit must be >= 1"},
			{"limit=1001", "request/query/limit must be <= 1000"},
			{"limit=99999999999999999999", "request/query/limit must be <= 1000"},
			{"limit=abc", "request/query/limit must be integer"},
			{"limit=1.5", "request/query/limit must be integer"},
			{"limit=", "request/query/limit must be integer"},
			{"notificationId=x", `request/query/notificationId must match format "uuid"`},
			{"notificationId=", `request/query/notificationId must match format "uuid"`},
			{"processor=", "request/query/processor must NOT have fewer than 1 characters"},
			{"processor=%ff", "request/query/processor must be valid UTF-8"},
			{"processor=a%00", "request/query/processor must not contain a NUL character"},
			{"status=failed&status=sent", "request/query/status must not be repeated"},
			{"origin=external:other-service", "Unknown query parameter 'origin'"},
			{"offset=1", "Unknown query parameter 'offset'"},
			{"%ff=1", "Query parameter names must be valid UTF-8"},
			{"a=%zz", "Malformed query string"},
		} {
			e := failure(t, f.raw(t, http.MethodGet, "/deliveries?"+tc.query, serviceToken, ""), 400, "InputError")
			if !strings.Contains(e.Error.Message, tc.message) {
				t.Errorf("?%s: message %q, want %q", tc.query, e.Error.Message, tc.message)
			}
			if e.Request.URL != "/deliveries" {
				t.Errorf("?%s: request.url %q", tc.query, e.Request.URL)
			}
		}
		for _, q := range []string{"limit=1", "limit=1000", "limit=%2B5", "processor=" + strings.Repeat("é", 300), "status=retrying"} {
			if ds := f.listDeliveries(t, serviceToken, q); len(ds) != 0 {
				t.Errorf("?%s: %v on an empty store", q, ds)
			}
		}
	})
}

// The whole path over HTTP: two services send, a post-processor fails
// their deliveries, each service sees only its own failures, retries one,
// and the retry runs and is sent. On every store.
func TestDeliveriesEndToEnd(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		var failing atomic.Bool
		failing.Store(true)
		email := &notifications.PostProcessorFunc{ProcessorName: "email", Func: func(context.Context, notifications.Notification, notifications.SendOptions) error {
			if failing.Load() {
				return notifications.Permanent(errors.New("smtp: 550 mailbox unavailable"))
			}
			return nil
		}}
		f := setup(t, withStoreKind(kind), withProcessors(email), withManualDelivery())
		mine := f.sent(toMock(`{"title":"build failed"}`))[0]["id"].(string)
		f.sent(broadcast(`{"title":"maintenance"}`))
		theirs := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications", otherServiceToken, toMock(`{"title":"deploy"}`)))[0]["id"].(string)
		if ran, err := f.svc.RunDueDeliveries(context.Background()); err != nil || ran != 3 {
			t.Fatalf("RunDueDeliveries: %d, %v; want 3 attempts", ran, err)
		}

		got := f.listDeliveries(t, serviceToken, "")
		if len(got) != 2 {
			t.Fatalf("the test service sees %+v, want its 2 deliveries", got)
		}
		for _, d := range got {
			if d.Origin != testService || d.Status != "failed" || d.Attempts != 1 || d.LastError == nil ||
				*d.LastError != "smtp: 550 mailbox unavailable" || d.NextAttempt != nil || d.Processor != "email" {
				t.Errorf("delivery %+v, want the test service's failed email", d)
			}
		}
		if got[0].User != nil || got[1].User == nil || *got[1].User != mockUser || got[1].NotificationID != mine {
			t.Errorf("deliveries %+v, want the broadcast's then the user's (newest first)", got)
		}
		other := f.listDeliveries(t, otherServiceToken, "status=failed")
		if len(other) != 1 || other[0].NotificationID != theirs || other[0].Origin != otherService {
			t.Fatalf("the other service sees %+v, want its one failed delivery", other)
		}
		// Neither service reaches the other's delivery.
		failure(t, f.do(http.MethodPost, "/deliveries/"+other[0].ID+"/retry", serviceToken, ""), 404, "NotFoundError")
		if ds := f.listDeliveries(t, serviceToken, "notificationId="+theirs); len(ds) != 0 {
			t.Errorf("the test service sees %+v of the other's notification", ds)
		}

		failing.Store(false)
		retried := ok[wireDelivery](t, f.do(http.MethodPost, "/deliveries/"+got[1].ID+"/retry", serviceToken, ""))
		if retried.Status != "pending" || retried.Attempts != 0 || retried.NextAttempt == nil {
			t.Errorf("retried %+v, want pending, no attempt yet, due now", retried)
		}
		if ran, err := f.svc.RunDueDeliveries(context.Background()); err != nil || ran != 1 {
			t.Fatalf("RunDueDeliveries after the retry: %d, %v; want the one retried", ran, err)
		}
		if sent := ids(f.listDeliveries(t, serviceToken, "status=sent")); !slices.Equal(sent, []string{got[1].ID}) {
			t.Errorf("sent %v, want the retried %s", sent, got[1].ID)
		}
		if still := f.listDeliveries(t, otherServiceToken, "status=failed"); len(still) != 1 {
			t.Errorf("the other service's delivery %+v, want it still failed", still)
		}
	})
}
