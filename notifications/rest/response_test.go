package rest

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// checkSameResponse fails t unless write and writeJSON of v answer alike:
// status, headers and body, byte for byte.
func checkSameResponse(t *testing.T, name string, v any, write func(*httptest.ResponseRecorder)) {
	t.Helper()
	want, got := httptest.NewRecorder(), httptest.NewRecorder()
	writeJSON(want, 200, v)
	write(got)
	if got.Code != want.Code || got.Body.String() != want.Body.String() {
		t.Errorf("%s: %d %q, writeJSON's %d %q", name, got.Code, got.Body, want.Code, want.Body)
	}
	for _, h := range []string{"Content-Type", "Cache-Control"} {
		if got.Header().Get(h) != want.Header().Get(h) {
			t.Errorf("%s: %s %q, writeJSON's %q", name, h, got.Header().Get(h), want.Header().Get(h))
		}
	}
}

// responseNotifications is one notification of each shape a response
// holds: a user's and a broadcast, every time set or none, text that
// needs escaping, metadata of every type reads return.
func responseNotifications(text string) []notifications.Notification {
	now := time.Date(2026, 12, 2, 5, 0, 0, 987654321, time.FixedZone("", -5*3600))
	return []notifications.Notification{
		{ID: "6f1c1b9e-0000-4000-8000-000000000001", User: "user:default/jane", Origin: "plugin:ci", Created: now,
			Payload: notifications.Payload{Title: text, Description: "a\nb\"c" + text, Link: "/x?a=1&b=2",
				Severity: notifications.SeverityHigh, Topic: text, Icon: "i",
				Metadata: map[string]any{"k": text, text: []any{json.Number("1.50"), true, nil, map[string]any{}}, "z": json.Number("-0")}}},
		{ID: "b", Origin: text, Created: now, Updated: &now, Read: &now, Saved: &now, Seen: &now, Archived: &now, SnoozedUntil: &now,
			Payload: notifications.Payload{Title: "t", Scope: text}},
	}
}

func TestResponseWritersMatchWriteJSON(t *testing.T) {
	t.Parallel()
	var h Handler // one, so that its buffers are reused from case to case
	for _, text := range []string{"plain", "<b>&amp; \u2028\u2029 é</b>", "\x00\x1f\x7f\t", "bad \xff\xc3 utf-8"} {
		ns := responseNotifications(text)
		for _, res := range []listResponse{
			{TotalCount: 0, Notifications: []notifications.Notification{}},
			{TotalCount: 4800, Notifications: ns, NextCursor: "eyJjIjoxNzY0NjUxNjAwMDAwLCJpIjoiYiJ9"},
			{TotalCount: -1, Notifications: nil, NextCursor: text},
		} {
			checkSameResponse(t, "list "+text, res, func(w *httptest.ResponseRecorder) { h.writeList(w, res) })
		}
		for _, n := range ns {
			checkSameResponse(t, "get "+text, n, func(w *httptest.ResponseRecorder) { writeNotification(w, n) })
		}
		for _, s := range [][]notifications.Notification{nil, {}, ns} {
			checkSameResponse(t, "update "+text, s, func(w *httptest.ResponseRecorder) { h.writeNotifications(w, s) })
		}
	}
}

// A notification whose metadata cannot be encoded (only an in-process
// caller can hand one to a store) answers 500, as writeJSON answers it.
func TestResponseWritersReportUnencodable(t *testing.T) {
	t.Parallel()
	bad := notifications.Notification{ID: "x", Payload: notifications.Payload{Title: "t", Metadata: map[string]any{"f": math.NaN()}}}
	ns := []notifications.Notification{responseNotifications("ok")[0], bad}
	checkSameResponse(t, "list", listResponse{Notifications: ns}, func(w *httptest.ResponseRecorder) {
		new(Handler).writeList(w, listResponse{Notifications: ns})
	})
	checkSameResponse(t, "get", bad, func(w *httptest.ResponseRecorder) { writeNotification(w, bad) })
	checkSameResponse(t, "update", ns, func(w *httptest.ResponseRecorder) { new(Handler).writeNotifications(w, ns) })
	rec := httptest.NewRecorder()
	writeNotification(rec, bad)
	if rec.Code != 500 {
		t.Errorf("get of unencodable metadata answered %d, want 500", rec.Code)
	}
}

func FuzzResponseWriters(f *testing.F) {
	f.Add("plain", "eyJjIjoxfQ", 3)
	f.Add("<&>\u2028", "a<b>&\u2029", -7)
	f.Add("\xff\x00\"\\", "\xed\xa0\x80\x7f", 0)
	f.Fuzz(func(t *testing.T, text, cursor string, total int) {
		ns := responseNotifications(text)
		res := listResponse{TotalCount: total, Notifications: ns, NextCursor: cursor}
		checkSameResponse(t, "list", res, func(w *httptest.ResponseRecorder) { new(Handler).writeList(w, res) })
		checkSameResponse(t, "update", ns, func(w *httptest.ResponseRecorder) { new(Handler).writeNotifications(w, ns) })
		checkSameResponse(t, "get", ns[0], func(w *httptest.ResponseRecorder) { writeNotification(w, ns[0]) })
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so that the
// benchmarks below measure the encoding and not a recorder's copy.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header       { return d.h }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// BenchmarkWriteList writes a page of 20 as the list answers it: with
// writeJSON (encoding/json's Encoder over each MarshalJSON, as before) and
// writeList. BenchmarkPageJSON in package notifications compares the
// MarshalJSON encoders themselves.
func BenchmarkWriteList(b *testing.B) {
	var page []notifications.Notification
	for len(page) < 20 {
		page = append(page, responseNotifications("Build failed: main is red since commit abc123")...)
	}
	res := listResponse{TotalCount: 4800, Notifications: page, NextCursor: "eyJjIjoxNzY0NjUxNjAwMDAwLCJpIjoiYiJ9"}
	w := discardWriter{h: http.Header{}}
	var h Handler
	b.Run("writeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeJSON(w, http.StatusOK, res)
		}
	})
	b.Run("writeList", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.writeList(w, res)
		}
	})
}
