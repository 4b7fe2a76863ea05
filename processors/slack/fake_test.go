package slack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// apiCall is one request the fake Slack Web API received.
type apiCall struct {
	Method string     // "chat.postMessage", ...
	Auth   string     // the Authorization header
	Form   url2values // the form fields
}

type url2values map[string][]string

func (v url2values) Get(k string) string {
	if len(v[k]) == 0 {
		return ""
	}
	return v[k][0]
}

// attachments decodes the attachments field.
func (c apiCall) attachments(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(c.Form.Get("attachments")), &out); err != nil {
		t.Fatalf("attachments %q: %v", c.Form.Get("attachments"), err)
	}
	return out
}

// fakeSlack stands in for slack.com/api: it records calls and answers
// like Slack, with programmable failures.
type fakeSlack struct {
	t   *testing.T
	URL string

	mu     sync.Mutex
	calls  []apiCall
	users  map[string]string                        // email → Slack user id
	fail   map[string][]func(w http.ResponseWriter) // per method, consumed in order
	failCh map[string]func(w http.ResponseWriter)   // per chat.postMessage channel, every time
	nextTS int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	f := &fakeSlack{t: t, users: map[string]string{}, fail: map[string][]func(http.ResponseWriter){}, failCh: map[string]func(http.ResponseWriter){}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + "/api/"
	return f
}

// failNext makes the next call of method answer with respond instead.
func (f *fakeSlack) failNext(method string, respond func(w http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = append(f.fail[method], respond)
}

// failChannel makes the next chat.postMessage to channel answer with
// respond.
func (f *fakeSlack) failChannel(channel string, respond func(w http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failCh[channel] = respond
}

func (f *fakeSlack) recorded() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	f.mu.Lock()
	f.calls = append(f.calls, apiCall{Method: method, Auth: r.Header.Get("Authorization"), Form: url2values(r.Form)})
	var respond func(http.ResponseWriter)
	if q := f.fail[method]; len(q) > 0 {
		respond, f.fail[method] = q[0], q[1:]
	}
	if fail, ok := f.failCh[r.Form.Get("channel")]; ok && method == "chat.postMessage" {
		respond = fail
		delete(f.failCh, r.Form.Get("channel"))
	}
	f.nextTS++
	ts := fmt.Sprintf("1700000000.%06d", f.nextTS)
	f.mu.Unlock()
	if respond != nil {
		respond(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "chat.postMessage":
		channel := r.Form.Get("channel")
		if strings.HasPrefix(channel, "U") { // a DM lands in a D... channel
			channel = "D" + channel[1:]
		}
		writeJSON(w, map[string]any{"ok": true, "channel": channel, "ts": ts})
	case "chat.update":
		writeJSON(w, map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": r.Form.Get("ts"), "text": r.Form.Get("text")})
	case "users.lookupByEmail":
		f.mu.Lock()
		id, ok := f.users[r.Form.Get("email")]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, map[string]any{"ok": false, "error": "users_not_found"})
			return
		}
		writeJSON(w, map[string]any{"ok": true, "user": map[string]any{"id": id}})
	default:
		writeJSON(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

// slackError answers ok:false with code.
func slackError(code string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		writeJSON(w, map[string]any{"ok": false, "error": code})
	}
}

// status answers with an HTTP status and optional Retry-After.
func status(code int, retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
	}
}
