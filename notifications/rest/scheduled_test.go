package rest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// sendKeyed posts body as the service of token with an Idempotency-Key
// header per key ("" sends none).
func (f *fixture) sendKeyed(token, body string, keys ...string) response {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+prefix+"/notifications", strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for _, k := range keys {
		req.Header.Add("Idempotency-Key", k)
	}
	return f.send(req)
}

func sentIDs(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, n := range ok[[]map[string]any](t, r) {
		out = append(out, n["id"].(string))
	}
	return out
}

func TestIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind))
		first := sentIDs(t, f.sendKeyed(serviceToken, toMock(`{"title":"build failed"}`), "job-42"))
		// The same request, refs spelled otherwise: the first result.
		again := sentIDs(t, f.sendKeyed(serviceToken,
			`{"recipients":{"type":"entity","entityRef":"user:mock"},"payload":{"title":"build failed","severity":"normal"}}`, "job-42"))
		if len(first) != 1 || !slices.Equal(first, again) {
			t.Fatalf("replay %v, first %v", again, first)
		}
		if n := f.rows(mockUser); n != 1 {
			t.Errorf("%d notifications stored, want 1", n)
		}
		e := failure(t, f.sendKeyed(serviceToken, toMock(`{"title":"another"}`), "job-42"), http.StatusUnprocessableEntity, "UnprocessableEntityError")
		if !strings.Contains(e.Error.Message, "Idempotency-Key") {
			t.Errorf("422 message %q", e.Error.Message)
		}
		// Another service's identical key is its own.
		if other := sentIDs(t, f.sendKeyed(otherServiceToken, toMock(`{"title":"build failed"}`), "job-42")); slices.Equal(other, first) {
			t.Error("another service's key replayed the first service's send")
		}
		for _, keys := range [][]string{{""}, {"a b"}, {"clé"}, {strings.Repeat("k", 256)}, {"a", "b"}} {
			if r := f.sendKeyed(serviceToken, toMock(`{"title":"t"}`), keys...); r.status != http.StatusBadRequest {
				t.Errorf("Idempotency-Key %q: status %d, want 400", keys, r.status)
			}
		}
		if n := f.rows(mockUser); n != 2 {
			t.Errorf("%d notifications stored after refused keys, want 2", n)
		}
	})
}

type wireScheduled struct {
	ID         string          `json:"id"`
	Origin     string          `json:"origin"`
	Status     string          `json:"status"`
	DeliverAt  string          `json:"deliverAt"`
	Recipients json.RawMessage `json:"recipients"`
	Payload    map[string]any  `json:"payload"`
	Attempts   int             `json:"attempts"`
	LastError  *string         `json:"lastError"`
	Created    string          `json:"created"`
	Updated    string          `json:"updated"`
}

func scheduledBody(at, payload string) string {
	return `{"recipients":{"type":"entity","entityRef":"user:mock"},"payload":` + payload + `,"deliverAt":"` + at + `"}`
}

func accepted(t *testing.T, r response) wireScheduled {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202; body %s", r.status, r.body)
	}
	var s wireScheduled
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return s
}

func (f *fixture) listScheduled(t *testing.T, token, query string) []wireScheduled {
	t.Helper()
	return ok[struct {
		Scheduled []wireScheduled `json:"scheduled"`
	}](t, f.raw(t, http.MethodGet, "/scheduled"+query, token, "")).Scheduled
}

func TestScheduledSendsOverREST(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind), withManualDelivery())
		later := accepted(t, f.sendJSON(scheduledBody("2030-06-01T12:00:00+02:00", `{"title":"later"}`)))
		if later.Status != "waiting" || later.DeliverAt != "2030-06-01T10:00:00.000Z" || later.Origin != testService ||
			later.Payload["title"] != "later" || later.Payload["severity"] != "normal" || later.LastError != nil || !uuidRE.MatchString(later.ID) {
			t.Fatalf("scheduled send %+v", later)
		}
		// Past: due at once.
		past := accepted(t, f.sendJSON(scheduledBody("2020-01-01T00:00:00Z", `{"title":"past"}`)))
		other := accepted(t, f.do(http.MethodPost, "/notifications", otherServiceToken, scheduledBody("2030-01-01T00:00:00Z", `{"title":"theirs"}`)))
		if n := f.rows(mockUser); n != 0 {
			t.Fatalf("%d notifications before the schedules ran", n)
		}
		if n, err := f.svc.RunDueSchedules(t.Context()); err != nil || n != 1 {
			t.Fatalf("RunDueSchedules = %d, %v; want the past one", n, err)
		}
		if n := f.rows(mockUser); n != 1 {
			t.Fatalf("%d notifications after the run, want 1", n)
		}

		got := f.listScheduled(t, serviceToken, "")
		if len(got) != 2 || got[0].ID != past.ID || got[0].Status != "sent" || got[1].ID != later.ID {
			t.Fatalf("GET /scheduled = %+v; want past (sent) then later, none of the other service's", got)
		}
		if w := f.listScheduled(t, serviceToken, "?status=waiting"); len(w) != 1 || w[0].ID != later.ID {
			t.Fatalf("GET /scheduled?status=waiting = %+v", w)
		}
		failure(t, f.raw(t, http.MethodGet, "/scheduled?status=nope", serviceToken, ""), http.StatusBadRequest, "InputError")
		failure(t, f.raw(t, http.MethodGet, "/scheduled?limit=0", serviceToken, ""), http.StatusBadRequest, "InputError")
		failure(t, f.raw(t, http.MethodGet, "/scheduled", userToken, ""), http.StatusForbidden, "NotAllowedError")

		// Another service's schedule is not found, for listing and cancel.
		failure(t, f.raw(t, http.MethodDelete, "/scheduled/"+other.ID, serviceToken, ""), http.StatusNotFound, "NotFoundError")
		failure(t, f.raw(t, http.MethodDelete, "/scheduled/not-a-uuid", serviceToken, ""), http.StatusNotFound, "NotFoundError")
		failure(t, f.raw(t, http.MethodDelete, "/scheduled/"+past.ID, serviceToken, ""), http.StatusNotFound, "NotFoundError")
		if r := f.raw(t, http.MethodDelete, "/scheduled/"+later.ID, serviceToken, ""); r.status != http.StatusNoContent {
			t.Fatalf("DELETE own waiting schedule: %d %s", r.status, r.body)
		}
		failure(t, f.raw(t, http.MethodDelete, "/scheduled/"+later.ID, serviceToken, ""), http.StatusNotFound, "NotFoundError")
		if c := f.listScheduled(t, serviceToken, "?status=cancelled"); len(c) != 1 || c[0].ID != later.ID {
			t.Fatalf("cancelled = %+v", c)
		}
		if theirs := f.listScheduled(t, otherServiceToken, "?status=waiting"); len(theirs) != 1 || theirs[0].ID != other.ID {
			t.Fatalf("the other service's = %+v", theirs)
		}

		// The key on a scheduled send returns the same one.
		a := accepted(t, f.sendKeyed(serviceToken, scheduledBody("2031-01-01T00:00:00Z", `{"title":"k"}`), "sched-1"))
		b := accepted(t, f.sendKeyed(serviceToken, scheduledBody("2031-01-01T00:00:00Z", `{"title":"k"}`), "sched-1"))
		if a.ID != b.ID {
			t.Fatalf("re-scheduled with the key: %s, then %s", a.ID, b.ID)
		}
		failure(t, f.sendKeyed(serviceToken, scheduledBody("2031-01-02T00:00:00Z", `{"title":"k"}`), "sched-1"),
			http.StatusUnprocessableEntity, "UnprocessableEntityError")

		for _, at := range []string{"tomorrow", "2030-13-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00", `1"}`} {
			failure(t, f.sendJSON(scheduledBody(at, `{"title":"t"}`)), http.StatusBadRequest, "InputError")
		}
		failure(t, f.sendJSON(`{"recipients":{"type":"broadcast"},"payload":{"title":"t"},"deliverAt":5}`), http.StatusBadRequest, "InputError")
		// Bad input is refused now, not when it runs.
		failure(t, f.sendJSON(scheduledBody("2030-01-01T00:00:00Z", `{"title":""}`)), http.StatusBadRequest, "InputError")
	})
}
