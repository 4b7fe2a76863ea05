package rest_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

var (
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	isoRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// Links must be http(s) URLs or paths on the same host, worded as
// Backstage words the refusal. Protocol-relative (//host) and backslash
// (/\host) links are refused (Backstage takes them for relative paths; a
// browser follows them to another host).
func TestSendLinks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const onlyHTTP = "Invalid link provided; caused by Error: Only HTTP/HTTPS links are allowed"
	for _, tc := range []struct {
		link    string
		wantErr string // "" for 200; ends with "*" for a prefix
	}{
		{"javascript:alert(document.domain)", onlyHTTP},
		{"ftp://example.com", onlyHTTP},
		{"mailto:x@y", onlyHTTP},
		{"http://localhost/test", ""},
		{"https://example.com", ""},
		{"/catalog", ""},
		{"//evil.com", "Invalid link provided*"},
		{`/\\evil.com`, "Invalid link provided*"},
	} {
		t.Run(tc.link, func(t *testing.T) {
			r := f.sendJSON(broadcast(`{"title":"test notification","link":"` + tc.link + `"}`))
			if tc.wantErr != "" {
				e := failure(t, r, 400, "InputError")
				if prefix, isPrefix := strings.CutSuffix(tc.wantErr, "*"); isPrefix && !strings.HasPrefix(e.Error.Message, prefix) ||
					!isPrefix && e.Error.Message != tc.wantErr {
					t.Errorf("message %q, want %q", e.Error.Message, tc.wantErr)
				}
				return
			}
			got := ok[[]map[string]any](t, r)
			if len(got) != 1 || got[0]["payload"].(map[string]any)["link"] != tc.link {
				t.Errorf("got %v, want the link %q unchanged", got, tc.link)
			}
		})
	}
}

// The exact shape of a fresh broadcast in the send response: the compact
// form, without read, saved or updated.
func TestSendResponseShape(t *testing.T) {
	t.Parallel()
	f := setup(t)
	got := f.sent(broadcast(`{"title":"test notification","link":"https://example.com"}`))
	if len(got) != 1 {
		t.Fatalf("got %d notifications, want 1", len(got))
	}
	n := got[0]
	if keys := sortedKeys(n); !slices.Equal(keys, []string{"created", "id", "origin", "payload", "user"}) {
		t.Errorf("keys %v, want exactly created, id, origin, payload, user", keys)
	}
	if id, _ := n["id"].(string); !uuidRE.MatchString(id) {
		t.Errorf("id %v is not a UUID v4", n["id"])
	}
	if c, _ := n["created"].(string); !isoRE.MatchString(c) {
		t.Errorf("created %v is not an ISO time with milliseconds", n["created"])
	}
	if n["origin"] != testService || n["user"] != nil {
		t.Errorf("origin %v user %v, want %s and null", n["origin"], n["user"], testService)
	}
	p := n["payload"].(map[string]any)
	want := map[string]any{"title": "test notification", "link": "https://example.com", "severity": "normal"}
	if !mapsEqual(p, want) {
		t.Errorf("payload %v, want exactly %v", p, want)
	}
}

// Who an entity send reaches: users, group members, owners, exclusions,
// de-duplication and custom resolvers.
func TestSendEntityRecipients(t *testing.T) {
	t.Parallel()
	mockSystem := notifications.RecipientResolverFunc(func(_ context.Context, o notifications.ResolveOptions) ([]string, error) {
		if slices.Equal(o.EntityRefs, []string{"system:default/mock"}) {
			return []string{mockUser}, nil
		}
		return nil, nil
	})
	returnsSystem := notifications.RecipientResolverFunc(func(context.Context, notifications.ResolveOptions) ([]string, error) {
		return []string{"system:default/mock"}, nil
	})
	for _, tc := range []struct {
		name       string
		recipients string
		resolver   notifications.RecipientResolver
		want       []string // users, in response order
	}{
		{"user", `{"type":"entity","entityRef":["user:default/mock"]}`, nil, []string{mockUser}},
		{"user excluded", `{"type":"entity","entityRef":["user:default/mock"],"excludeEntityRef":"user:default/mock"}`, nil, nil},
		{"group", `{"type":"entity","entityRef":["group:default/mock"]}`, nil, []string{mockUser}},
		{"group excluded", `{"type":"entity","entityRef":["group:default/mock"],"excludeEntityRef":"group:default/mock"}`, nil, nil},
		{"group minus member", `{"type":"entity","entityRef":["group:default/mock"],"excludeEntityRef":"user:default/mock"}`, nil, nil},
		{"group and member deduplicated", `{"type":"entity","entityRef":["group:default/mock","user:default/mock"]}`, nil, []string{mockUser}},
		{"single string entityRef", `{"type":"entity","entityRef":"user:default/mock"}`, nil, []string{mockUser}},
		{"custom resolver", `{"type":"entity","entityRef":["system:default/mock"]}`, mockSystem, []string{mockUser}},
		{"resolver returning a non-user", `{"type":"entity","entityRef":["system:default/mock"]}`, returnsSystem, nil},
		// Herald canonicalises refs; Backstage stores user:foo as given.
		{"user without namespace", `{"type":"entity","entityRef":["user:foo"]}`, nil, []string{"user:default/foo"}},
		{"owner group minus one member", `{"type":"entity","entityRef":["component:default/svc"],"excludeEntityRef":["user:default/a"]}`, nil, []string{"user:default/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []option
			if tc.resolver != nil {
				opts = append(opts, withResolver(tc.resolver))
			}
			f := setup(t, opts...)
			got := f.sent(`{"recipients":` + tc.recipients + `,"payload":{"title":"hello","metadata":{"attr":1}}}`)
			var users []string
			for _, n := range got {
				users = append(users, n["user"].(string))
			}
			if !slices.Equal(users, tc.want) {
				t.Fatalf("delivered to %v, want %v", users, tc.want)
			}
			for _, u := range []string{mockUser, "user:default/foo", "user:default/a", "user:default/b"} {
				want := 0
				if slices.Contains(tc.want, u) {
					want = 1
				}
				if n := f.rows(u); n != want {
					t.Errorf("%s has %d rows, want %d", u, n, want)
				}
			}
			if len(got) == 1 {
				// The compact shape carries metadata and the default severity.
				p := got[0]["payload"].(map[string]any)
				want := map[string]any{"title": "hello", "severity": "normal", "metadata": map[string]any{"attr": float64(1)}}
				if !mapsEqual(p, want) {
					t.Errorf("payload %v, want %v", p, want)
				}
			}
		})
	}
}

// The user's Web settings at send time decide what is delivered.
func TestSendHonoursSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		settings string
		seed     string // payload of the pre-seeded notification
		send     string // payload of the send under test
		deliver  bool
	}{
		{"origin disabled", `{"id":"external:test-service","enabled":false}`,
			`{"title":"seed"}`, `{"title":"t"}`, false},
		{"topic disabled", `{"id":"external:test-service","enabled":true,"topics":[{"id":"test-topic","enabled":false}]}`,
			`{"title":"seed","topic":"test-topic"}`, `{"title":"t","topic":"test-topic"}`, false},
		{"topic disabled, sent without topic", `{"id":"external:test-service","enabled":true,"topics":[{"id":"test-topic","enabled":false}]}`,
			`{"title":"seed","topic":"test-topic"}`, `{"title":"t"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			f.sent(toMock(tc.seed))
			ok[map[string]any](t, f.do(http.MethodPost, "/settings", userToken, `{"channels":[{"id":"Web","origins":[`+tc.settings+`]}]}`))
			before := len(f.signals.all(t))
			got := f.sent(toMock(tc.send))
			wantRows, wantLen := 1, 0
			if tc.deliver {
				wantRows, wantLen = 2, 1
			}
			if len(got) != wantLen || f.rows(mockUser) != wantRows {
				t.Errorf("response %v with %d rows, want %d notifications and %d rows", got, f.rows(mockUser), wantLen, wantRows)
			}
			// A suppressed send publishes nothing.
			if n := len(f.signals.all(t)) - before; n != wantLen {
				t.Errorf("%d signals, want %d", n, wantLen)
			}
		})
	}
}

// An opt-in Web channel delivers only what the user opted into.
func TestSendOptInChannel(t *testing.T) {
	t.Parallel()
	optIn := notifications.Settings{Channels: []notifications.ChannelSettings{{ID: notifications.WebChannel, Enabled: ptr(false)}}}
	t.Run("nothing opted in", func(t *testing.T) {
		t.Parallel()
		f := setup(t, withDefaults(optIn))
		if got := f.sent(toMock(`{"title":"t","topic":"important-topic"}`)); len(got) != 0 || f.rows(mockUser) != 0 {
			t.Errorf("response %v, %d rows; want nothing delivered", got, f.rows(mockUser))
		}
	})
	t.Run("topic opted in", func(t *testing.T) {
		t.Parallel()
		f := setup(t, withDefaults(optIn))
		err := f.store.ReplaceSettings(context.Background(), mockUser, []notifications.SettingRow{
			{Channel: notifications.WebChannel, Origin: testService, Topic: "important-topic", Enabled: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := f.sent(toMock(`{"title":"t","topic":"important-topic"}`))
		if len(got) != 1 || f.rows(mockUser) != 1 {
			t.Fatalf("response %v, %d rows; want one delivered", got, f.rows(mockUser))
		}
		want := map[string]any{"title": "t", "topic": "important-topic", "severity": "normal"}
		if p := got[0]["payload"].(map[string]any); !mapsEqual(p, want) {
			t.Errorf("payload %v, want %v", p, want)
		}
	})
}

// Bodies that are 400: missing or mistyped properties, invalid values,
// malformed JSON.
func TestSendBadBodies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		name, body, wantPrefix string
	}{
		{"no recipients", `{"payload":{"title":"t"}}`, "request/body must have required property 'recipients'"},
		{"invalid recipients type", `{"recipients":{"type":"invalid"},"payload":{"title":"t"}}`, "request/body/recipients/type must be equal to one of the allowed values"},
		{"no title", broadcast(`{"description":"d"}`), "request/body/payload must have required property 'title'"},
		{"empty title", broadcast(`{"title":""}`), "Invalid notification request received: payload.title"},
		{"unknown severity", broadcast(`{"title":"t","severity":"urgent"}`), "request/body/payload/severity must be equal to one of the allowed values"},
		{"severity in capitals", broadcast(`{"title":"t","severity":"HIGH"}`), "request/body/payload/severity"},
		{"title over 255 characters", broadcast(`{"title":"` + long + `"}`), "Invalid notification request received: payload.title"},
		{"ref without kind", `{"recipients":{"type":"entity","entityRef":["foo"]},"payload":{"title":"t"}}`, "Failed to send user notifications"},
		{"malformed ref", `{"recipients":{"type":"entity","entityRef":["user:"]},"payload":{"title":"t"}}`, "Invalid notification request received: recipients.entityRef"},
		{"no payload", `{"recipients":{"type":"broadcast"}}`, "request/body must have required property 'payload'"},
		{"entity without entityRef", `{"recipients":{"type":"entity"},"payload":{"title":"t"}}`, "request/body/recipients must have required property 'entityRef'"},
		{"empty entityRef", `{"recipients":{"type":"entity","entityRef":[]},"payload":{"title":"t"}}`, "Invalid notification request received: recipients.entityRef"},
		{"number title", broadcast(`{"title":5}`), "request/body/payload/title must be string"},
		{"null title", broadcast(`{"title":null}`), "request/body/payload/title must be string"},
		{"number description", broadcast(`{"title":"t","description":1}`), "request/body/payload/description must be string"},
		{"array metadata", broadcast(`{"title":"t","metadata":[1]}`), "request/body/payload/metadata must be object"},
		{"number entityRef", `{"recipients":{"type":"entity","entityRef":5},"payload":{"title":"t"}}`, "request/body/recipients/entityRef must be string or array of strings"},
		{"number in entityRef", `{"recipients":{"type":"entity","entityRef":["user:default/mock",5]},"payload":{"title":"t"}}`, "request/body/recipients/entityRef/1 must be string"},
		{"recipients is a string", `{"recipients":"broadcast","payload":{"title":"t"}}`, "request/body/recipients must be object"},
		{"body is an array", `[]`, "request/body must be object"},
		{"malformed JSON", `{"recipients":`, "Malformed JSON body"},
		{"trailing garbage", broadcast(`{"title":"t"}`) + `x`, "Malformed JSON body"},
		{"two values", broadcast(`{"title":"t"}`) + broadcast(`{"title":"t"}`), "Malformed JSON body"},
		{"property names are case-sensitive", `{"recipients":{"type":"broadcast"},"payload":{"Title":"t"}}`, "request/body/payload must have required property 'title'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := failure(t, f.sendJSON(tc.body), 400, "InputError")
			if !strings.HasPrefix(e.Error.Message, tc.wantPrefix) {
				t.Errorf("message %q, want prefix %q", e.Error.Message, tc.wantPrefix)
			}
		})
	}
	t.Run("empty body", func(t *testing.T) {
		failure(t, f.do(http.MethodPost, "/notifications", serviceToken, ""), 400, "InputError")
	})
	if n := f.rows(mockUser); n != 0 {
		t.Errorf("%d rows after bad sends, want 0", n)
	}
	res, err := f.svc.List(context.Background(), mockUser, notifications.ListOptions{})
	if err != nil || res.TotalCount != 0 {
		t.Errorf("after bad sends the inbox has %d notifications (err %v), want none", res.TotalCount, err)
	}
}

// Unknown properties are ignored, where Backstage's schemas allow them, and
// null optional fields are absent.
func TestSendLenientWhereBackstageIs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	got := f.sent(`{"extra":1,"recipients":{"type":"entity","entityRef":"user:default/mock","x":true},` +
		`"payload":{"title":"t","unknown":{"a":1},"description":null,"severity":null,"metadata":null}}`)
	if len(got) != 1 {
		t.Fatalf("got %v, want one notification", got)
	}
	want := map[string]any{"title": "t", "severity": "normal"}
	if p := got[0]["payload"].(map[string]any); !mapsEqual(p, want) {
		t.Errorf("payload %v, want %v", p, want)
	}
}

// An omitted severity is stored and returned as normal.
func TestSendDefaultSeverity(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.sent(toMock(`{"title":"t"}`))[0]["id"].(string)
	n := ok[map[string]any](t, f.do(http.MethodGet, "/notifications/"+id, userToken, ""))
	if sev := n["payload"].(map[string]any)["severity"]; sev != "normal" {
		t.Errorf("stored severity %v, want normal", sev)
	}
}

// Who may send, and the signals of a send.
func TestSendSignalsAndAuth(t *testing.T) {
	t.Parallel()
	f := setup(t)
	body := toMock(`{"title":"t"}`)
	failure(t, f.do(http.MethodPost, "/notifications", userToken, body), 403, "NotAllowedError")
	failure(t, f.do(http.MethodPost, "/notifications", "", body), 401, "AuthenticationError")
	failure(t, f.do(http.MethodPost, "/", userToken, body), 403, "NotAllowedError")               // legacy root
	failure(t, f.do(http.MethodPost, "/notifications", "nope", body), 401, "AuthenticationError") // unknown token
	if len(f.signals.all(t)) != 0 || f.rows(mockUser) != 0 {
		t.Fatal("a refused send stored or signalled something")
	}

	id := f.sent(body)[0]["id"].(string)
	sigs := f.signals.all(t)
	if len(sigs) != 1 {
		t.Fatalf("%d signals, want 1", len(sigs))
	}
	s := sigs[0]
	if s.Channel != "notifications" || s.Recipients.Type != "user" || !slices.Equal(s.Recipients.EntityRef, []string{mockUser}) ||
		s.Message["action"] != "new_notification" || s.Message["notification_id"] != id {
		t.Errorf("signal %+v, want new_notification %s to %s", s, id, mockUser)
	}

	bid := f.sent(broadcast(`{"title":"b"}`))[0]["id"].(string)
	sigs = f.signals.all(t)
	if len(sigs) != 2 || sigs[1].Recipients.Type != "broadcast" || sigs[1].Message["action"] != "new_notification" || sigs[1].Message["notification_id"] != bid {
		t.Errorf("signals %+v, want a broadcast new_notification %s", sigs, bid)
	}
	if _, err := f.svc.Get(context.Background(), mockUser, bid); err != nil {
		t.Errorf("the broadcast's returned id %s is not stored: %v", bid, err)
	}

	// The legacy root route sends as well (it is what Backstage's
	// NotificationService client posts to).
	if got := ok[[]map[string]any](t, f.do(http.MethodPost, "/", serviceToken, body)); len(got) != 1 || got[0]["origin"] != testService {
		t.Errorf("POST / answered %v", got)
	}
}

// Scope de-duplication of user notifications: the same origin and scope
// update the stored one and make it unread again.
func TestSendScopedResend(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first := f.sent(toMock(`{"title":"A","scope":"s1","metadata":{"a":1}}`))[0]
	id := first["id"].(string)
	ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+id+`"],"read":true}`))

	second := f.sent(toMock(`{"title":"B","scope":"s1"}`))
	if len(second) != 1 {
		t.Fatalf("got %v", second)
	}
	n := second[0]
	if n["id"] != id || n["created"] != first["created"] || n["read"] != nil || n["updated"] == nil {
		t.Errorf("re-send answered %v; want id %s, created %v, read null, updated set", n, id, first["created"])
	}
	if _, present := n["read"]; !present {
		t.Error("a restored notification answers in the stored shape, with read: null")
	}
	if title := n["payload"].(map[string]any)["title"]; title != "B" {
		t.Errorf("title %v, want B", title)
	}
	if rows := f.rows(mockUser); rows != 1 {
		t.Errorf("%d rows, want 1", rows)
	}
	got := ok[map[string]any](t, f.do(http.MethodGet, "/notifications/"+id, userToken, ""))
	if _, has := got["payload"].(map[string]any)["metadata"]; has {
		t.Errorf("metadata %v survived a re-send without metadata", got["payload"])
	}
	f.sent(toMock(`{"title":"C","scope":"s1","metadata":{"b":2}}`))
	got = ok[map[string]any](t, f.do(http.MethodGet, "/notifications/"+id, userToken, ""))
	if md := got["payload"].(map[string]any)["metadata"]; !mapsEqual(md.(map[string]any), map[string]any{"b": float64(2)}) {
		t.Errorf("metadata %v, want {b:2}", md)
	}

	// The same scope from another origin is another notification.
	other := ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications", otherServiceToken, toMock(`{"title":"D","scope":"s1"}`)))
	if len(other) != 1 || other[0]["id"] == id || other[0]["origin"] != otherService || f.rows(mockUser) != 2 {
		t.Errorf("other origin answered %v with %d rows; want a new notification", other, f.rows(mockUser))
	}
}

// A scoped broadcast re-send. Herald answers with the stored id
// (Backstage answers with a new, never stored one).
func TestSendScopedBroadcastResend(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.sent(broadcast(`{"title":"A","scope":"b1"}`))[0]["id"].(string)
	ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+id+`"],"read":true}`))
	again := f.sent(broadcast(`{"title":"B","scope":"b1"}`))
	if len(again) != 1 || again[0]["id"] != id {
		t.Fatalf("re-send answered %v, want the stored id %s", again, id)
	}
	sigs := f.signals.all(t)
	if last := sigs[len(sigs)-1]; last.Message["notification_id"] != id {
		t.Errorf("signal carries %v, want %s", last.Message["notification_id"], id)
	}
	list := ok[listBody](t, f.do(http.MethodGet, "/notifications", userToken, ""))
	if list.TotalCount != 1 || list.Notifications[0]["read"] == nil || list.Notifications[0]["payload"].(map[string]any)["title"] != "B" {
		t.Errorf("list %+v, want one broadcast titled B, still read", list)
	}
}

type listBody struct {
	TotalCount    int              `json:"totalCount"`
	Notifications []map[string]any `json:"notifications"`
	NextCursor    string           `json:"nextCursor"`
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mapsEqual compares decoded JSON objects, nested objects included.
func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		ma, aIsMap := va.(map[string]any)
		mb, bIsMap := vb.(map[string]any)
		switch {
		case aIsMap && bIsMap:
			if !mapsEqual(ma, mb) {
				return false
			}
		case aIsMap || bIsMap:
			return false
		default:
			if va != vb {
				return false
			}
		}
	}
	return true
}

// A resolver that rejects its input is a 400 naming the cause, as
// Backstage words it; one that fails (a catalog outage) is a fault: 500,
// logged, nothing leaked (Backstage answers 400 to both).
func TestSendResolverErrors(t *testing.T) {
	t.Parallel()
	invalid := notifications.RecipientResolverFunc(func(context.Context, notifications.ResolveOptions) ([]string, error) {
		return nil, &notifications.ValidationError{Fields: []notifications.FieldError{{Field: "entityRef", Message: "no such team"}}}
	})
	down := notifications.RecipientResolverFunc(func(context.Context, notifications.ResolveOptions) ([]string, error) {
		return nil, errors.New("catalog at 10.1.2.3 unreachable")
	})
	body := `{"recipients":{"type":"entity","entityRef":"group:default/x"},"payload":{"title":"t"}}`

	f := setup(t, withResolver(invalid))
	e := failure(t, f.sendJSON(body), 400, "InputError")
	if !strings.HasPrefix(e.Error.Message, "Failed to send user notifications; caused by Error: ") || !strings.Contains(e.Error.Message, "no such team") {
		t.Errorf("message %q", e.Error.Message)
	}

	g := setup(t, withResolver(down))
	r := g.sendJSON(body)
	failure(t, r, 500, "Error")
	if strings.Contains(string(r.body), "10.1.2.3") || !strings.Contains(g.logs.String(), "10.1.2.3") {
		t.Errorf("body %s leaks, or the log lacks the cause", r.body)
	}
}
