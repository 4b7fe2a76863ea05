package rest_test

import (
	"net/http"
	"testing"
)

// Herald's inbox states over HTTP: seen, archived and snoozeUntil in the
// update, seen-all, unseen in the status, the archived list, and the
// refused values (a bad time, a year past 9999), on each store alike.
func TestInboxStates(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind))
		a := f.sent(toMock(`{"title":"a","topic":"t"}`))[0]["id"].(string)
		b := f.sent(toMock(`{"title":"b"}`))[0]["id"].(string)
		c := f.sent(broadcast(`{"title":"c"}`))[0]["id"].(string)
		status := func() map[string]int {
			t.Helper()
			return ok[map[string]int](t, f.do(http.MethodGet, "/status", userToken, ""))
		}
		if st := status(); st["unseen"] != 3 || st["unread"] != 3 {
			t.Errorf("status %v, want 3 unread and unseen", st)
		}
		got := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+a+`"],"seen":true}`))
		if len(got) != 1 || got[0]["seen"] == nil || got[0]["read"] != nil {
			t.Errorf("update seen = %v, want a seen and unread", got)
		}
		if st := status(); st["unseen"] != 2 || st["unread"] != 3 {
			t.Errorf("status %v, want 2 unseen, 3 unread", st)
		}
		got = ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+b+`"],"archived":true}`))
		if len(got) != 1 || got[0]["archived"] == nil {
			t.Errorf("update archived = %v, want b archived", got)
		}
		got = ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+c+`"],"snoozeUntil":"9999-01-01T00:00:00.000Z"}`))
		if len(got) != 1 || got[0]["snoozedUntil"] != "9999-01-01T00:00:00.000Z" {
			t.Errorf("update snoozeUntil = %v, want c snoozed", got)
		}
		if st := status(); st["unseen"] != 0 || st["unread"] != 1 {
			t.Errorf("status %v, want a alone, seen", st)
		}
		list := ok[map[string]any](t, f.do(http.MethodGet, "/notifications", userToken, ""))
		if list["totalCount"] != float64(1) {
			t.Errorf("list = %v, want a alone", list)
		}
		list = ok[map[string]any](t, f.do(http.MethodGet, "/notifications?archived=true", userToken, ""))
		if ns := list["notifications"].([]any); len(ns) != 1 || ns[0].(map[string]any)["id"] != b {
			t.Errorf("archived list = %v, want b", list)
		}
		list = ok[map[string]any](t, f.do(http.MethodGet, "/notifications?seen=false", userToken, ""))
		if list["totalCount"] != float64(0) {
			t.Errorf("unseen list = %v, want none", list)
		}
		// Back again: a past date un-snoozes.
		ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken,
			`{"ids":["`+b+`","`+c+`"],"archived":false,"snoozeUntil":"2000-01-01T00:00:00Z"}`))
		seen := ok[map[string][]string](t, f.do(http.MethodPost, "/notifications/seen-all", userToken, ""))
		if len(seen["ids"]) != 2 {
			t.Errorf("seen-all = %v, want b and c", seen)
		}
		if st := status(); st["unseen"] != 0 || st["unread"] != 3 {
			t.Errorf("status %v, want 3 unread, none unseen", st)
		}
		for _, body := range []string{
			`{"ids":["` + a + `"],"seen":"yes"}`,
			`{"ids":["` + a + `"],"archived":1}`,
			`{"ids":["` + a + `"],"snoozeUntil":"soon"}`,
			`{"ids":["` + a + `"],"snoozeUntil":"10000-01-01T00:00:00Z"}`,
			`{"ids":["` + a + `"],"snoozeUntil":12}`,
		} {
			failure(t, f.do(http.MethodPost, "/notifications/update", userToken, body), 400, "InputError")
		}
		failure(t, f.do(http.MethodGet, "/notifications?archived=maybe", userToken, ""), 400, "InputError")
		failure(t, f.do(http.MethodPost, "/notifications/seen-all", userToken, `{"minimumSeverity":"loud"}`), 400, "InputError")
		failure(t, f.do(http.MethodPost, "/notifications/seen-all", serviceToken, ""), 403, "NotAllowedError")
	})
}
