package rest

import (
	"errors"
	"net/http"
	"testing"
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
