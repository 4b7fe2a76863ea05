package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeBodies feeds arbitrary bytes to every body decoder: none may
// panic, and every failure is a 400 InputError (never a fault).
func FuzzDecodeBodies(f *testing.F) {
	for _, seed := range []string{
		`{"recipients":{"type":"broadcast"},"payload":{"title":"t"}}`,
		`{"recipients":{"type":"entity","entityRef":["user:default/a",5]},"payload":{"title":"t","metadata":{"a":[1,{"b":null}]}}}`,
		`{"recipients":{"type":"entity","entityRef":"x","excludeEntityRef":null},"payload":{"title":5}}`,
		`{"ids":["a"],"read":true,"saved":"false"}`,
		`{"channels":[{"id":"Web","enabled":false,"origins":[{"id":"o","enabled":true,"topics":[{"id":"t","enabled":false}]}]}]}`,
		`{"before":"2024-01-01","minimumSeverity":"high","saved":false,"topic":"x","search":"y","createdAfter":"Jan 1, 2024"}`,
		`{"payload":{"metadata":{"n":1e400}}}`, `[`, `null`, `"x"`, `{"a":}`, "{\"\xff\":1}", ``,
		`{"recipients":{"type":"broadcast"},"payload":{"title":"t","metadata":{"a":1,"a":{"\ud800":0e-99999}}}}`,
		`{"search":"\u0000","before":"0000-01-01"}`, `{"channels":[{"id":"\udc00","origins":[]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.name != nameInput || he.message == "" {
				t.Fatalf("%s(%q): %v is not a 400 InputError", what, body, err)
			}
		}
		_, err := decodeSend(body)
		check("decodeSend", err)
		_, err = decodeUpdate(body)
		check("decodeUpdate", err)
		_, err = decodeSettings(body)
		check("decodeSettings", err)
		_, err = decodeReadAll(body)
		check("decodeReadAll", err)
	})
}

// FuzzParseDate: the lenient date parser never panics.
func FuzzParseDate(f *testing.F) {
	for _, seed := range []string{"2024-01-01", "Tue Mar 05 2024 15:07:09 GMT+0100 (CET)", "((", "Mar 5, 2024", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, err := parseDate(s); err == nil && tm.Location().String() != "UTC" {
			t.Fatalf("parseDate(%q) = %v, not UTC", s, tm)
		}
	})
}

// FuzzCheckJSONText: on any well-formed JSON the text check never panics;
// it refuses whatever is not valid UTF-8; and what it lets through decodes
// without NUL and without a U+FFFD that the input did not spell (which is
// what encoding/json makes of invalid UTF-8 and lone surrogates).
func FuzzCheckJSONText(f *testing.F) {
	for _, seed := range []string{
		`"x"`, `{"a":["b",{"c":"d"}]}`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"a\u0000"`,
		"\"\xff\"", `{"\u0000":1}`, `"\ufffd"`, "\"\xef\xbf\xbd\"", `"\\ud800"`, `[1,true,null,-2.5e3]`, `"\uD83D\uDE00\uD83D"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		err := checkJSONText("root", data)
		if err == nil && !utf8.Valid(data) {
			t.Fatalf("checkJSONText(%q) let invalid UTF-8 through", data)
		}
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || !strings.HasPrefix(he.message, "root") {
				t.Fatalf("checkJSONText(%q) = %v, want a 400 naming a path under root", data, err)
			}
			return
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("valid JSON %q does not decode: %v", data, err)
		}
		spelled := bytes.Count(bytes.ToLower(data), []byte(`\ufffd`)) + bytes.Count(data, []byte("\ufffd"))
		decoded := 0
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				if strings.IndexByte(v, 0) >= 0 {
					t.Fatalf("checkJSONText(%q) let a NUL through", data)
				}
				decoded += strings.Count(v, "\ufffd")
			case []any:
				for _, x := range v {
					walk(x)
				}
			case map[string]any:
				for k, x := range v {
					walk(k)
					walk(x)
				}
			}
		}
		walk(v)
		if decoded > spelled {
			t.Fatalf("checkJSONText(%q) let through what decodes to %d U+FFFD, of which the input spells %d", data, decoded, spelled)
		}
	})
}
