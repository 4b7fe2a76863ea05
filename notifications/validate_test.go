package notifications

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestSendOptionsValidate(t *testing.T) {
	t.Parallel()
	good := func() SendOptions {
		return SendOptions{Origin: "external:ci", Recipients: Entity("user:default/jane"), Payload: Payload{Title: "Build failed"}}
	}
	long := strings.Repeat("é", 256) // 256 characters, 512 bytes
	tests := []struct {
		name   string
		edit   func(*SendOptions)
		fields []string // bad fields expected, in order; nil means valid
	}{
		{name: "minimal entity send", edit: func(*SendOptions) {}},
		{name: "broadcast", edit: func(o *SendOptions) { o.Recipients = Broadcast() }},
		{name: "all fields", edit: func(o *SendOptions) {
			o.Payload = Payload{Title: "t", Description: "d", Link: "https://example.com/x", Severity: SeverityCritical,
				Topic: "topic", Scope: "scope", Icon: "docs", Metadata: map[string]any{"a": 1}}
		}},
		{name: "title of 255 characters", edit: func(o *SendOptions) { o.Payload.Title = long[:255*2] }},
		{name: "missing title", edit: func(o *SendOptions) { o.Payload.Title = "" }, fields: []string{"payload.title"}},
		{name: "title of 256 characters", edit: func(o *SendOptions) { o.Payload.Title = long }, fields: []string{"payload.title"}},
		{name: "unknown severity", edit: func(o *SendOptions) { o.Payload.Severity = "urgent" }, fields: []string{"payload.severity"}},
		{name: "upper-case severity", edit: func(o *SendOptions) { o.Payload.Severity = "HIGH" }, fields: []string{"payload.severity"}},
		{name: "relative link", edit: func(o *SendOptions) { o.Payload.Link = "/catalog" }},
		{name: "protocol-relative link stays under the app", edit: func(o *SendOptions) { o.Payload.Link = "//evil.com" }},
		{name: "http link", edit: func(o *SendOptions) { o.Payload.Link = "http://localhost/test" }},
		{name: "javascript link", edit: func(o *SendOptions) { o.Payload.Link = "javascript:alert(document.domain)" }, fields: []string{"payload.link"}},
		{name: "ftp link", edit: func(o *SendOptions) { o.Payload.Link = "ftp://example.com" }, fields: []string{"payload.link"}},
		{name: "mailto link", edit: func(o *SendOptions) { o.Payload.Link = "mailto:x@y" }, fields: []string{"payload.link"}},
		{name: "data link", edit: func(o *SendOptions) { o.Payload.Link = "data:text/html,<b>x</b>" }, fields: []string{"payload.link"}},
		{name: "upper-case JavaScript link", edit: func(o *SendOptions) { o.Payload.Link = "JavaScript:alert(1)" }, fields: []string{"payload.link"}},
		{name: "http link without host", edit: func(o *SendOptions) { o.Payload.Link = "http:foo" }, fields: []string{"payload.link"}},
		{name: "unknown recipient type", edit: func(o *SendOptions) { o.Recipients.Type = "invalid" }, fields: []string{"recipients.type"}},
		{name: "missing recipient type", edit: func(o *SendOptions) { o.Recipients.Type = "" }, fields: []string{"recipients.type"}},
		{name: "entity without refs", edit: func(o *SendOptions) { o.Recipients = Entity() }, fields: []string{"recipients.entityRef"}},
		{name: "malformed ref", edit: func(o *SendOptions) { o.Recipients = Entity("user:ok", "user:") }, fields: []string{"recipients.entityRef[1]"}},
		{name: "kind-less ref parses", edit: func(o *SendOptions) { o.Recipients = Entity("foo") }},
		{name: "malformed exclusion", edit: func(o *SendOptions) { o.Recipients = o.Recipients.Excluding("a b") }, fields: []string{"recipients.excludeEntityRef[0]"}},
		{name: "long topic", edit: func(o *SendOptions) { o.Payload.Topic = long }, fields: []string{"payload.topic"}},
		{name: "long scope", edit: func(o *SendOptions) { o.Payload.Scope = long }, fields: []string{"payload.scope"}},
		{name: "long icon", edit: func(o *SendOptions) { o.Payload.Icon = long }, fields: []string{"payload.icon"}},
		{name: "missing origin", edit: func(o *SendOptions) { o.Origin = "" }, fields: []string{"origin"}},
		{name: "long origin", edit: func(o *SendOptions) { o.Origin = long }, fields: []string{"origin"}},
		{name: "metadata at the limit", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{"k": strings.Repeat("x", MaxMetadataBytes-len(`{"k":""}`))}
		}},
		{name: "metadata over the limit", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{"k": strings.Repeat("x", MaxMetadataBytes)}
		}, fields: []string{"payload.metadata"}},
		{name: "metadata not encodable", edit: func(o *SendOptions) { o.Payload.Metadata = map[string]any{"f": func() {}} }, fields: []string{"payload.metadata"}},
		{name: "every bad field at once", edit: func(o *SendOptions) {
			o.Origin = ""
			o.Recipients.Type = "nope"
			o.Payload.Title = ""
			o.Payload.Severity = "urgent"
			o.Payload.Link = "ftp://x"
		}, fields: []string{"origin", "recipients.type", "payload.title", "payload.link", "payload.severity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := good()
			tt.edit(&o)
			err := o.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate() = %T, want *ValidationError", err)
			}
			var got []string
			for _, f := range verr.Fields {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("bad fields = %v, want %v (error: %v)", got, tt.fields, err)
			}
		})
	}
}

func TestValidateLinkMessage(t *testing.T) {
	t.Parallel()
	err := ValidateLink("ftp://example.com")
	if !errors.Is(err, ErrLink) || err.Error() != "Only HTTP/HTTPS links are allowed" {
		t.Fatalf("ValidateLink = %v", err)
	}
}

// FuzzDecodeSendOptions feeds arbitrary JSON through decoding and
// validation: neither may panic, and whatever validates must re-encode and
// decode to options that validate again.
func FuzzDecodeSendOptions(f *testing.F) {
	for _, s := range []string{
		`{"recipients":{"type":"broadcast"},"payload":{"title":"t"}}`,
		`{"recipients":{"type":"entity","entityRef":"user:a","excludeEntityRef":["user:b"]},"payload":{"title":"t","severity":"high","link":"/x","metadata":{"a":[1,2]}}}`,
		`{"recipients":{"type":"entity","entityRef":[]},"payload":{"title":5}}`,
		`{"recipients":null,"payload":{"title":"t","link":"javascript:x"}}`,
		`[]`, `null`, `{"payload":{"title":"` + strings.Repeat("x", 300) + `"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var o SendOptions
		if err := json.Unmarshal(data, &o); err != nil {
			return
		}
		o.Origin = "external:fuzz"
		if err := o.Validate(); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
			}
			return
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("valid options do not encode: %v", err)
		}
		var again SendOptions
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		again.Origin = o.Origin
		if err := again.Validate(); err != nil {
			t.Fatalf("options valid before a JSON round trip are not after it: %v\n%s", err, b)
		}
	})
}
