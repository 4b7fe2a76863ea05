package rest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/heraldhq/herald/notifications"
)

// The responses that carry notifications (list, get, update, send) are
// written here into one buffer from each notification's MarshalJSON
// (pooled for lists and updates),
// byte for byte what writeJSON writes for them, without encoding/json's
// pass over every MarshalJSON result to check and compact it: those
// results are compact, valid JSON already (notifications' encoder tests
// hold them to encoding/json's output). On a page of 20 that pass was
// most of writeJSON's cost.

// notificationBytes is about what one notification takes encoded, to size
// a response's buffer so that it rarely grows.
const notificationBytes = 640

// bodyBuffers recycles the buffers list and update responses are written
// into: a page of 20 is 10 to 20 KiB, and growing a fresh buffer to that
// for every request cost more than the encoding (BenchmarkWriteList).
// The zero value is ready to use.
type bodyBuffers struct{ pool sync.Pool }

// maxPooledBody bounds the buffers kept: one that grew larger (a page of
// thousands) is left to the collector rather than held.
const maxPooledBody = 256 << 10

func (p *bodyBuffers) get(size int) *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, max(size, 16<<10))
	return &b
}

func (p *bodyBuffers) put(b *[]byte) {
	if cap(*b) <= maxPooledBody {
		*b = (*b)[:0]
		p.pool.Put(b)
	}
}

// writeList answers 200 with the list's body, listResponse as writeJSON
// would write it.
func (h *Handler) writeList(w http.ResponseWriter, res listResponse) {
	bp := h.bufs.get(64 + len(res.NextCursor) + notificationBytes*len(res.Notifications))
	defer h.bufs.put(bp)
	b := (*bp)[:0]
	b = append(b, `{"totalCount":`...)
	b = strconv.AppendInt(b, int64(res.TotalCount), 10)
	b = append(b, `,"notifications":`...)
	b, err := appendNotifications(b, res.Notifications)
	if err != nil {
		writeJSON(w, http.StatusOK, res) // reports the error as writeJSON does
		return
	}
	if res.NextCursor != "" {
		b = append(b, `,"nextCursor":`...)
		b = appendRawString(b, res.NextCursor)
	}
	b = append(b, '}', '\n')
	*bp = b
	writeBody(w, http.StatusOK, b)
}

// writeNotification answers 200 with n as writeJSON would.
func writeNotification(w http.ResponseWriter, n notifications.Notification) {
	b, err := n.MarshalJSON()
	if err != nil {
		writeJSON(w, http.StatusOK, n)
		return
	}
	writeBody(w, http.StatusOK, append(b, '\n'))
}

// writeNotifications answers 200 with ns as a JSON array, as writeJSON
// would.
func (h *Handler) writeNotifications(w http.ResponseWriter, ns []notifications.Notification) {
	bp := h.bufs.get(3 + notificationBytes*len(ns))
	defer h.bufs.put(bp)
	b, err := appendNotifications((*bp)[:0], ns)
	if err != nil {
		writeJSON(w, http.StatusOK, ns)
		return
	}
	b = append(b, '\n')
	*bp = b
	writeBody(w, http.StatusOK, b)
}

// writeMarshalers writes vs as a JSON array, as writeJSON would, trusting
// each MarshalJSON to write compact, valid JSON (Herald's types do). A
// value that fails to marshal falls back to writeJSON, which reports it.
func writeMarshalers(w http.ResponseWriter, status int, vs []json.Marshaler) {
	b := make([]byte, 0, 3+notificationBytes*len(vs))
	b = append(b, '[')
	for i, v := range vs {
		enc, err := v.MarshalJSON()
		if err != nil {
			writeJSON(w, status, vs)
			return
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, enc...)
	}
	writeBody(w, status, append(b, ']', '\n'))
}

// appendNotifications appends ns as a JSON array, null when nil as
// encoding/json writes a nil slice.
func appendNotifications(b []byte, ns []notifications.Notification) ([]byte, error) {
	if ns == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range ns {
		enc, err := ns[i].MarshalJSON()
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, enc...)
	}
	return append(b, ']'), nil
}

// appendRawString appends s quoted as writeJSON's Encoder does, which
// does not escape <, > and &. A cursor is base64url, which needs no
// escaping; anything else is left to encoding/json.
func appendRawString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s) // a string always encodes
			return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// writeBody writes body, a complete JSON response, with writeJSON's
// headers.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
