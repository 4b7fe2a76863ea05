package notifications

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestEncodeCursorMatchesJSON: the hand-written cursor is byte for byte
// the base64url of cursorJSON's encoding/json encoding, for plain ids
// and for those it leaves to encoding/json, and it decodes back.
func TestEncodeCursorMatchesJSON(t *testing.T) {
	ids := []string{"0b8e9d36-1c1e-4b8a-9a0e-3f1f7b1b5a11", "x", `a"b`, `a\b`, "<&>", "é", "tab\there",
		strings.Repeat("a", 48), strings.Repeat("a", 49), "\x7f"}
	times := []time.Time{time.UnixMilli(0), time.UnixMilli(-62135596800000), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)}
	for _, id := range ids {
		for _, created := range times {
			for _, user := range []string{"user:default/u", ""} {
				n := Notification{ID: id, User: user, Created: created}
				want, err := json.Marshal(cursorJSON{Created: created.UnixMilli(), Broadcast: user == "", ID: id})
				if err != nil {
					t.Fatal(err)
				}
				got := encodeCursor(n)
				if got != base64.RawURLEncoding.EncodeToString(want) {
					raw, _ := base64.RawURLEncoding.DecodeString(got)
					t.Errorf("encodeCursor(%q, %v, broadcast %v) = %s, want %s", id, created, user == "", raw, want)
				}
				pos, err := decodeCursor(got)
				if err != nil || pos.ID != id || !pos.Created.Equal(created) || pos.Broadcast != (user == "") {
					t.Errorf("decodeCursor(encodeCursor(%q)) = %+v, %v", id, pos, err)
				}
			}
		}
	}
}
