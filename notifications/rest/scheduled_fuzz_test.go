package rest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzIdempotencyKey posts sends (plain and scheduled) with an arbitrary
// Idempotency-Key header value to every store: each answer is below 500
// and the stores agree; a value that is not 1 to 255 printable ASCII
// characters without spaces is a 400, and a valid key answers 200, 202,
// or 422 when it was used for another request.
func FuzzIdempotencyKey(f *testing.F) {
	for _, seed := range []string{"job-1", "", " ", "a b", "\x00", "\xff", "é", strings.Repeat("k", 255), strings.Repeat("k", 256),
		"6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11", "~!@#$%^&*()", "\t", "a\r\nX-Injected: 1"} {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(1))
	}
	bodies := []string{
		toMock(`{"title":"keyed"}`),
		toMock(`{"title":"other"}`),
		`{"recipients":{"type":"broadcast"},"payload":{"title":"keyed"},"deliverAt":"2030-01-01T00:00:00Z"}`,
		`{"recipients":{"type":"broadcast"},"payload":{"title":"keyed"},"deliverAt":"2020-01-01T00:00:00Z"}`,
	}
	fxs := fuzzFixtures(f)
	f.Fuzz(func(t *testing.T, key string, body uint8) {
		b := bodies[int(body)%len(bodies)]
		statuses := make([]int, len(fxs))
		for i, fx := range fxs {
			req, err := http.NewRequest(http.MethodPost, fx.srv.URL+prefix+"/notifications", strings.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+serviceToken)
			req.Header.Set("Content-Type", "application/json")
			req.Header["Idempotency-Key"] = []string{key}
			res, err := fx.srv.Client().Do(req)
			if err != nil {
				continue // the client refused the header: status 0
			}
			msg, _ := io.ReadAll(res.Body)
			res.Body.Close()
			statuses[i] = res.StatusCode
			if res.StatusCode >= 500 {
				t.Fatalf("%s: key %q body %d: %d %s", fx.kind, key, body, res.StatusCode, msg)
			}
			// HTTP drops the blanks around a header value.
			k := strings.Trim(key, " \t")
			valid := k != "" && len(k) <= 255 && !strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r > '~' })
			switch {
			case !valid && res.StatusCode != http.StatusBadRequest:
				t.Fatalf("%s: invalid key %q: %d %s, want 400", fx.kind, key, res.StatusCode, msg)
			case valid && res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusUnprocessableEntity:
				t.Fatalf("%s: key %q: %d %s", fx.kind, key, res.StatusCode, msg)
			}
		}
		for i := range statuses[1:] {
			if statuses[i+1] != statuses[0] {
				t.Fatalf("key %q body %d: %s answered %d, %s %d", key, body, fxs[0].kind, statuses[0], fxs[i+1].kind, statuses[i+1])
			}
		}
	})
}
