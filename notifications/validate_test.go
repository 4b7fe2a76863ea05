package notifications

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// nested returns metadata whose objects and arrays nest depth levels
// deep, the metadata object being the first: {"a":[{"a":[...]}]}.
func nested(depth int) map[string]any {
	var inner any = "leaf"
	for level := depth; level > 1; level-- {
		if level%2 == 0 {
			inner = []any{inner}
		} else {
			inner = map[string]any{"a": inner}
		}
	}
	return map[string]any{"a": inner}
}

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
		{name: "relative link without a slash", edit: func(o *SendOptions) { o.Payload.Link = "docs/a?b=c#d" }},
		{name: "backslash inside the path", edit: func(o *SendOptions) { o.Payload.Link = `/docs\a` }},
		{name: "protocol-relative link", edit: func(o *SendOptions) { o.Payload.Link = "//evil.example/x" }, fields: []string{"payload.link"}},
		{name: "three slashes", edit: func(o *SendOptions) { o.Payload.Link = "///evil.example/x" }, fields: []string{"payload.link"}},
		{name: "slash backslash", edit: func(o *SendOptions) { o.Payload.Link = `/\evil.example/x` }, fields: []string{"payload.link"}},
		{name: "backslash slash", edit: func(o *SendOptions) { o.Payload.Link = `\/evil.example/x` }, fields: []string{"payload.link"}},
		{name: "two backslashes", edit: func(o *SendOptions) { o.Payload.Link = `\\evil.example/x` }, fields: []string{"payload.link"}},
		{name: "leading backslash", edit: func(o *SendOptions) { o.Payload.Link = `\catalog` }, fields: []string{"payload.link"}},
		{name: "leading space", edit: func(o *SendOptions) { o.Payload.Link = " //evil.example/x" }, fields: []string{"payload.link"}},
		{name: "https with backslashes", edit: func(o *SendOptions) { o.Payload.Link = `https:\\evil.example` }, fields: []string{"payload.link"}},
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
		{name: "kind-less ref is left to the resolver", edit: func(o *SendOptions) { o.Recipients = Entity("foo") }},
		{name: "malformed exclusion", edit: func(o *SendOptions) { o.Recipients = o.Recipients.Excluding("a b") }, fields: []string{"recipients.excludeEntityRef[0]"}},
		{name: "exclusion without a kind", edit: func(o *SendOptions) { o.Recipients = o.Recipients.Excluding("!!") }, fields: []string{"recipients.excludeEntityRef[0]"}},
		{name: "second exclusion without a kind", edit: func(o *SendOptions) { o.Recipients = o.Recipients.Excluding("user:ok", "ns/x") }, fields: []string{"recipients.excludeEntityRef[1]"}},
		{name: "NUL in a ref", edit: func(o *SendOptions) { o.Recipients = Entity("user:a\x00b") }, fields: []string{"recipients.entityRef[0]"}},
		{name: "invalid UTF-8 in a ref", edit: func(o *SendOptions) { o.Recipients = Entity("user:\xff") }, fields: []string{"recipients.entityRef[0]"}},
		{name: "invalid UTF-8 in an exclusion", edit: func(o *SendOptions) { o.Recipients = o.Recipients.Excluding("user:\xc3") }, fields: []string{"recipients.excludeEntityRef[0]"}},
		{name: "NUL in every text field", edit: func(o *SendOptions) {
			o.Origin = "external:\x00"
			o.Payload = Payload{Title: "a\x00", Description: "\x00", Link: "/x\x00", Topic: "t\x00", Scope: "s\x00", Icon: "i\x00"}
		}, fields: []string{"origin", "payload.title", "payload.description", "payload.link", "payload.topic", "payload.scope", "payload.icon"}},
		{name: "invalid UTF-8 in every text field", edit: func(o *SendOptions) {
			o.Origin = "external:\xff"
			o.Payload = Payload{Title: "caf\xc3", Description: "\xed\xa0\x80", Link: "/\xff", Topic: "\xff", Scope: "\xfe", Icon: "\x80"}
		}, fields: []string{"origin", "payload.title", "payload.description", "payload.link", "payload.topic", "payload.scope", "payload.icon"}},
		{name: "non-ASCII text is fine", edit: func(o *SendOptions) { o.Payload.Title, o.Payload.Description = "Déploiement 🚀", "日本語" }},
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
		{name: "metadata not encodable", edit: func(o *SendOptions) { o.Payload.Metadata = map[string]any{"f": func() {}} }, fields: []string{"payload.metadata.f"}},
		{name: "NUL in a metadata key and its value", edit: func(o *SendOptions) { o.Payload.Metadata = map[string]any{"k\x00": "v\x00"} },
			fields: []string{`payload.metadata["k\x00"]`, `payload.metadata["k\x00"]`}},
		{name: "NUL deep in metadata", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{"a": []any{1, "ok", map[string]any{"b": "x\x00"}}, "c": "fine"}
		}, fields: []string{"payload.metadata.a[2].b"}},
		{name: "invalid UTF-8 in metadata", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{"\xff": 1, "s": "caf\xc3", MetadataMarkdownBody: "\xed\xa0\x80"}
		}, fields: []string{"payload.metadata.s", `payload.metadata["\xff"]`, `payload.metadata["backstage.io/body.markdown"]`}},
		{name: "typed metadata containers", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{"tags": []string{"ok", "\xff"}, "m": map[string]string{"k\x00": "v"}, "p": new("\x00"), "s": struct{ A string }{"\x00"}}
		}, fields: []string{`payload.metadata.m["k\x00"]`, "payload.metadata.p", "payload.metadata.s.A", "payload.metadata.tags[1]"}},
		{name: "typed metadata that is fine", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{"tags": []string{"a"}, "n": int8(3), "f": float32(1.5), "t": time.Unix(0, 0), "b": []byte("x"), "ints": map[int]string{1: "a"}, "nil": (*string)(nil)}
		}},
		{name: "metadata numbers in range", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{
				"big": json.Number("12345678901234567890123"), "neg": json.Number("-1.5e300"), "tiny": json.Number("5e-324"),
				"zero": json.Number("-0.0e-999"), "max": math.MaxFloat64, "min": math.SmallestNonzeroFloat64,
				"long": json.Number("0." + strings.Repeat("1", MaxMetadataNumberLength-2)),
			}
		}},
		{name: "metadata numbers out of range", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{
				"huge": json.Number("1e200000"), "over": json.Number("1.8e308"), "under": json.Number("1e-400"),
				"zeroexp": json.Number("0e-5000"), "long": json.Number("0." + strings.Repeat("1", MaxMetadataNumberLength-1)),
				"nan": math.NaN(), "inf": math.Inf(-1), "inf32": float32(math.Inf(1)), "word": json.Number("12abc"), "space": json.Number(" 1"),
			}
		}, fields: []string{"payload.metadata.huge", "payload.metadata.inf", "payload.metadata.inf32", "payload.metadata.long", "payload.metadata.nan",
			"payload.metadata.over", "payload.metadata.space", "payload.metadata.under", "payload.metadata.word", "payload.metadata.zeroexp"}},
		{name: "metadata as deep as allowed", edit: func(o *SendOptions) { o.Payload.Metadata = nested(MaxMetadataDepth) }},
		{name: "metadata too deep", edit: func(o *SendOptions) { o.Payload.Metadata = nested(MaxMetadataDepth + 1) },
			fields: []string{"payload.metadata" + strings.Repeat(".a[0]", MaxMetadataDepth/2)}},
		{name: "metadata that holds itself", edit: func(o *SendOptions) {
			m := map[string]any{}
			m["a"] = []any{m}
			o.Payload.Metadata = m
		}, fields: []string{"payload.metadata" + strings.Repeat(".a[0]", MaxMetadataDepth/2)}},
		{name: "many bad metadata values", edit: func(o *SendOptions) {
			o.Payload.Metadata = map[string]any{}
			for i := range 25 {
				o.Payload.Metadata[fmt.Sprintf("k%02d", i)] = "\x00"
			}
		}, fields: []string{"payload.metadata.k00", "payload.metadata.k01", "payload.metadata.k02", "payload.metadata.k03", "payload.metadata.k04",
			"payload.metadata.k05", "payload.metadata.k06", "payload.metadata.k07", "payload.metadata.k08", "payload.metadata.k09", "payload.metadata"}},
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
