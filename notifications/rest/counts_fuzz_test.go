package rest

import (
	"errors"
	"net/http"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// FuzzDecodeCounts feeds arbitrary bytes to the counts' body decoder: it
// never panics, every failure is a 400 InputError, and what it accepts
// holds at most MaxCountFilters filters.
func FuzzDecodeCounts(f *testing.F) {
	for _, seed := range []string{
		`{"filters":[]}`, `{"filters":[{},{"read":false},{"topic":"ci","saved":true}]}`,
		`{"filters":[{"search":"x","minimumSeverity":"high","createdAfter":"Jan 1, 2024","before":"0000-01-01"}]}`,
		`{"filters":[{"read":"true"}]}`, `{"filters":{}}`, `{"filters":[1]}`, `{}`, `[`, `null`, ``,
		`{"filters":[{"topic":"\u0000"},{"search":"\ud800"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fs, err := decodeCounts(body)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.name != nameInput || he.message == "" {
				t.Fatalf("decodeCounts(%q): %v is not a 400 InputError", body, err)
			}
			return
		}
		if len(fs) > notifications.MaxCountFilters {
			t.Fatalf("decodeCounts(%q) accepted %d filters", body, len(fs))
		}
	})
}
