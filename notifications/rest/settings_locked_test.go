package rest_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// TestLockedSettingsOverHTTP: GET /settings shows "locked": true where
// the defaults lock; POST /settings with a locked entry changed is a 400
// naming it, saving nothing; the body as GET answered it is accepted.
func TestLockedSettingsOverHTTP(t *testing.T) {
	t.Parallel()
	locked := notifications.Settings{Channels: []notifications.ChannelSettings{{
		ID: notifications.WebChannel,
		Origins: []notifications.OriginSettings{
			{ID: "external:test-service2", Enabled: false, Locked: true},
			{ID: "external:test-service3", Enabled: true, Topics: []notifications.TopicSettings{{ID: "test-topic3", Enabled: true, Locked: true}}},
		},
	}}}
	eachStore(t, func(t *testing.T, kind storeKind) {
		f := setup(t, withStoreKind(kind), withDefaults(locked))
		r := f.do(http.MethodGet, "/settings", userToken, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET /settings: %d %s", r.status, r.body)
		}
		for _, want := range []string{
			`{"id":"external:test-service2","enabled":false,"locked":true,"topics":[]}`,
			`{"id":"external:test-service3","enabled":true,"topics":[{"id":"test-topic3","enabled":true,"locked":true}]}`,
		} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("GET /settings %s\nwant it to hold %s", r.body, want)
			}
		}
		shown := r.body

		rows := func() []notifications.SettingRow {
			m, err := f.store.SettingRows(context.Background(), []string{mockUser})
			if err != nil {
				t.Fatal(err)
			}
			return m[mockUser]
		}
		for body, field := range map[string]string{
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service","enabled":false},{"id":"external:test-service2","enabled":true}]}]}`:                                    "channels[0].origins[1].enabled",
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service3","enabled":true,"topics":[{"id":"test-topic3","enabled":false}]}]}]}`:                                   "channels[0].origins[0].topics[0].enabled",
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service2","enabled":false,"locked":false,"topics":[{"id":"t","enabled":true}]}]}]}`:                              "channels[0].origins[0].topics[0].enabled",
			`{"channels":[{"id":"Web","origins":[{"id":"external:test-service3","enabled":false,"topics":[{"id":"test-topic3","enabled":false,"locked":false}]}]}],"quietHours":null}`: "channels[0].origins[0].topics[0].enabled",
		} {
			e := failure(t, f.do(http.MethodPost, "/settings", userToken, body), http.StatusBadRequest, "InputError")
			if !strings.Contains(e.Error.Message, field+": is locked") {
				t.Errorf("POST %s: message %q, want it to name %s", body, e.Error.Message, field)
			}
			if got := rows(); len(got) != 0 {
				t.Errorf("POST %s stored %+v, want nothing", body, got)
			}
		}

		// Backstage's page posts back what GET answered, with one
		// unlocked change.
		body := strings.Replace(string(shown), `"external:test-service3","enabled":true`, `"external:test-service3","enabled":false`, 1)
		ok[map[string]any](t, f.do(http.MethodPost, "/settings", userToken, body))
		want := []notifications.SettingRow{{Channel: "Web", Origin: "external:test-service3", Enabled: false}}
		if got := rows(); !slices.Equal(got, want) {
			t.Errorf("stored %+v, want only %+v (locked entries are not stored)", got, want)
		}
		// The locked topic stays on under the origin the user turned off.
		after := f.do(http.MethodGet, "/settings", userToken, "")
		if !strings.Contains(string(after.body), `{"id":"external:test-service3","enabled":false,"topics":[{"id":"test-topic3","enabled":true,"locked":true}]}`) {
			t.Errorf("GET /settings after the save: %s", after.body)
		}
	})
}
