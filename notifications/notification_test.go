package notifications

import (
	"encoding/json"
	"testing"
	"time"
)

func TestNotificationJSON(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 1, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	read := created.Add(time.Minute)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{
			name: "stored user notification has nulls and no metadata",
			v:    Notification{ID: "id1", User: "user:default/mock", Origin: "external:test-service", Created: created, Payload: Payload{Title: "t", Severity: SeverityHigh}},
			want: `{"id":"id1","user":"user:default/mock","created":"2025-01-01T09:00:00.000Z","saved":null,"read":null,"updated":null,"origin":"external:test-service",` +
				`"payload":{"title":"t","description":null,"link":null,"severity":"high","topic":null,"scope":null,"icon":null},"seen":null,"archived":null,"snoozedUntil":null}`,
		},
		{
			name: "stored broadcast has a null user and its reader's state",
			v:    Notification{ID: "b1", Origin: "o", Created: created, Read: &read, Payload: Payload{Title: "t", Metadata: map[string]any{"a": 1}}},
			want: `{"id":"b1","user":null,"created":"2025-01-01T09:00:00.000Z","saved":null,"read":"2025-01-01T09:01:00.000Z","updated":null,"origin":"o",` +
				`"payload":{"title":"t","description":null,"link":null,"severity":"normal","topic":null,"scope":null,"icon":null,"metadata":{"a":1}},"seen":null,"archived":null,"snoozedUntil":null}`,
		},
		{
			name: "fresh send leaves unset fields out",
			v:    Notification{ID: "id", Origin: "external:test-service", Created: created, Payload: Payload{Title: "test notification", Link: "https://example.com"}}.Compact(),
			want: `{"id":"id","user":null,"created":"2025-01-01T09:00:00.000Z","origin":"external:test-service","payload":{"title":"test notification","link":"https://example.com","severity":"normal"}}`,
		},
		{
			name: "recipients encode refs as arrays",
			v:    Entity("user:default/a").Excluding("user:default/b"),
			want: `{"type":"entity","entityRef":["user:default/a"],"excludeEntityRef":["user:default/b"]}`,
		},
		{name: "broadcast recipients", v: Broadcast(), want: `{"type":"broadcast"}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestNotificationJSONRoundTrip(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 1, 1, 10, 0, 0, 123e6, time.UTC)
	in := Notification{ID: "x", User: "user:default/a", Origin: "o", Created: created, Saved: &created,
		Payload: Payload{Title: "t", Description: "d", Link: "/l", Severity: SeverityLow, Topic: "tp", Scope: "s", Icon: "i", Metadata: map[string]any{"k": "v"}}}
	for _, form := range []any{in, in.Compact()} {
		b, err := json.Marshal(form)
		if err != nil {
			t.Fatal(err)
		}
		var out Notification
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(out)
		want, _ := json.Marshal(in)
		if string(again) != string(want) {
			t.Errorf("round trip of %s:\n got %s\nwant %s", b, again, want)
		}
	}
}

func TestRecipientsDecode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Recipients{
		`{"type":"entity","entityRef":"user:a"}`:                                     Entity("user:a"),
		`{"type":"entity","entityRef":["user:a","group:b"]}`:                         Entity("user:a", "group:b"),
		`{"type":"entity","entityRef":["user:a"],"excludeEntityRef":"user:b"}`:       Entity("user:a").Excluding("user:b"),
		`{"type":"entity","entityRef":["user:a"],"excludeEntityRef":["user:b","c"]}`: Entity("user:a").Excluding("user:b", "c"),
		`{"type":"broadcast"}`: Broadcast(),
	} {
		var got Recipients
		if err := json.Unmarshal([]byte(in), &got); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("%s decoded to %s, want %s", in, a, b)
		}
	}
	for _, bad := range []string{`{"type":"entity","entityRef":5}`, `{"type":"entity","entityRef":[1]}`, `{"type":3}`} {
		var got Recipients
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}

func TestPayloadDecodeRefusesCoercion(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`{"title":5}`, `{"title":"t","metadata":[1]}`, `{"title":"t","severity":1}`} {
		var p Payload
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}
