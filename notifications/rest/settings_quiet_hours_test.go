package rest_test

import (
	"net/http"
	"strings"
	"testing"
	_ "time/tzdata" // Europe/Paris, whatever the machine has
)

// TestQuietHoursOverHTTP: POST /settings saves quietHours and GET shows
// them; a body without them (Backstage's page) keeps them, an empty
// object removes them; a bad one is a 400 naming the field, saving
// nothing.
func TestQuietHoursOverHTTP(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind))
		const night = `"quietHours":{"start":"22:00","end":"07:00","timeZone":"Europe/Paris"}`
		body := func() string {
			t.Helper()
			r := f.do(http.MethodGet, "/settings", userToken, "")
			if r.status != http.StatusOK {
				t.Fatalf("GET /settings: %d %s", r.status, r.body)
			}
			return string(r.body)
		}
		if strings.Contains(body(), "quietHours") {
			t.Fatalf("GET /settings before any: %s, want no quietHours", body())
		}
		saved := ok[map[string]any](t, f.do(http.MethodPost, "/settings", userToken, `{"channels":[],`+night+`}`))
		if _, has := saved["quietHours"]; !has {
			t.Errorf("POST answer %v, want the quiet hours", saved)
		}
		if !strings.Contains(body(), night) {
			t.Errorf("GET /settings %s, want %s", body(), night)
		}
		for _, keep := range []string{
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service","enabled":false}]}]}`,
			`{"channels":[],"quietHours":null}`,
		} {
			ok[map[string]any](t, f.do(http.MethodPost, "/settings", userToken, keep))
			if !strings.Contains(body(), night) {
				t.Errorf("after POST %s: %s, want %s kept", keep, body(), night)
			}
		}
		for bad, want := range map[string]string{
			`{"channels":[],"quietHours":{"start":"22:00","end":"07:00","timeZone":"Europe/Nowhere"}}`: "quietHours.timeZone",
			`{"channels":[],"quietHours":{"start":"22h","end":"07:00","timeZone":"UTC"}}`:              "quietHours.start",
			`{"channels":[],"quietHours":{"start":"22:00","timeZone":"UTC"}}`:                          "quietHours.end",
			`{"channels":[],"quietHours":{"start":22,"end":"07:00","timeZone":"UTC"}}`:                 "request/body/quietHours/start must be string",
			`{"channels":[],"quietHours":"22:00-07:00"}`:                                               "request/body/quietHours must be object",
		} {
			e := failure(t, f.do(http.MethodPost, "/settings", userToken, bad), http.StatusBadRequest, "InputError")
			if !strings.Contains(e.Error.Message, want) {
				t.Errorf("POST %s: message %q, want it to hold %q", bad, e.Error.Message, want)
			}
			if !strings.Contains(body(), night) {
				t.Errorf("after POST %s: %s, want %s unchanged", bad, body(), night)
			}
		}
		ok[map[string]any](t, f.do(http.MethodPost, "/settings", userToken, `{"channels":[],"quietHours":{}}`))
		if strings.Contains(body(), "quietHours") {
			t.Errorf("after removing them: %s, want no quietHours", body())
		}
	})
}
