package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/agent"
)

// TestHostileInput sends the arguments no store can take, byte for byte
// (an SDK client would re-encode them), on both stores: each is a tool
// error naming what is wrong, never a protocol failure or a crash, and
// nothing is written.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		// The metadata object is level 1.
		deep := strings.Repeat(`{"a":`, notifications.MaxMetadataDepth+1) + `1` + strings.Repeat(`}`, notifications.MaxMetadataDepth+1)
		big := `"` + strings.Repeat("x", notifications.MaxMetadataBytes) + `"`
		send := func(recipients, payload string) []byte {
			return []byte(`{"recipients":` + recipients + `,"payload":` + payload + `}`)
		}
		user := `{"type":"entity","entityRef":"user:alice"}`
		for _, c := range []struct {
			name, tool, token string
			args              []byte
			want              string
		}{
			{"NUL in title", agent.ToolSendNotification, ciToken, send(user, `{"title":"a\u0000b"}`), "payload.title"},
			{"NUL in description", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","description":"\u0000"}`), "payload.description"},
			{"lone surrogate", agent.ToolSendNotification, ciToken, send(user, `{"title":"\udc00"}`), "surrogate"},
			{"invalid UTF-8", agent.ToolSendNotification, ciToken, send(user, "{\"title\":\"\xc3\x28\"}"), "UTF-8"},
			{"duplicate key", agent.ToolSendNotification, ciToken, send(user, `{"title":"a","title":"b"}`), "duplicate"},
			{"NUL in a ref", agent.ToolSendNotification, ciToken, send(`{"type":"entity","entityRef":["user:a\u0000"]}`, `{"title":"t"}`), "recipients.entityRef[0]"},
			{"NUL in an excluded ref", agent.ToolSendNotification, ciToken, send(`{"type":"entity","entityRef":"user:alice","excludeEntityRef":"user:\u0000"}`, `{"title":"t"}`), "recipients.excludeEntityRef[0]"},
			{"metadata too deep", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","metadata":`+deep+`}`), "payload.metadata"},
			{"metadata too large", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","metadata":{"x":`+big+`}}`), "payload.metadata"},
			{"metadata number out of range", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","metadata":{"n":1e400}}`), "payload.metadata"},
			{"metadata NUL key", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","metadata":{"a\u0000":1}}`), "payload.metadata"},
			{"metadata NUL value", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","metadata":{"a":["\u0000"]}}`), "payload.metadata"},
			{"metadata duplicate key", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","metadata":{"a":1,"a":2}}`), "duplicate"},
			{"link with a NUL", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","link":"/a\u0000"}`), "payload.link"},
			{"backslash link", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","link":"/\\evil.example"}`), "payload.link"},
			{"topic too long", agent.ToolSendNotification, ciToken, send(user, `{"title":"t","topic":"`+strings.Repeat("é", 256)+`"}`), "topic"},
			{"NUL in search", agent.ToolGetNotifications, aliceToken, []byte(`{"search":"\u0000"}`), "search"},
			{"NUL in topic", agent.ToolGetNotifications, aliceToken, []byte(`{"topic":"\u0000"}`), "topic"},
			{"invalid UTF-8 search", agent.ToolGetNotifications, aliceToken, []byte("{\"search\":\"\xff\"}"), "UTF-8"},
			{"date before year 1", agent.ToolGetNotifications, aliceToken, []byte(`{"createdAfter":"0000-01-01T00:00:00Z"}`), "createdAfter"},
			{"date after 9999", agent.ToolGetNotifications, aliceToken, []byte(`{"createdAfter":"9999-12-31T23:59:59-23:59"}`), "createdAfter"},
			{"huge offset", agent.ToolGetNotifications, aliceToken, []byte(`{"offset":9223372036854775808}`), "offset"},
			{"infinite limit", agent.ToolGetNotifications, aliceToken, []byte(`{"limit":1e400}`), "limit"},
			{"NUL in an id", agent.ToolMarkNotificationsRead, aliceToken, []byte(`{"ids":["\u0000"]}`), "ids[0]"},
			{"arguments not an object", agent.ToolMarkNotificationsRead, aliceToken, []byte(`"all"`), "object"},
		} {
			status, res := f.rawCall(t, c.token, c.tool, c.args)
			switch {
			case status != http.StatusOK || res == nil:
				t.Errorf("%s: status %d, result %v; want a tool error", c.name, status, res)
			case !res.IsError || len(res.Content) == 0 || !strings.Contains(res.Content[0].Text, c.want):
				t.Errorf("%s: %+v; want a tool error mentioning %q", c.name, res, c.want)
			}
		}
		if n := f.count(t, alice); n != 0 {
			t.Errorf("hostile sends stored %d notifications", n)
		}
		if strings.Contains(f.logs.String(), "level=ERROR") {
			t.Errorf("hostile input reached an internal error:\n%s", f.logs)
		}

		// A body over the limit is refused before it is read through (the
		// SDK's client then closes its session).
		_, err := f.session(t, ciToken).CallTool(context.Background(), &mcp.CallToolParams{Name: agent.ToolSendNotification, Arguments: map[string]any{
			"recipients": map[string]any{"type": "broadcast"},
			"payload":    map[string]any{"title": "t", "description": strings.Repeat("x", agent.DefaultMaxBodyBytes)},
		}})
		if err == nil {
			t.Error("a body over DefaultMaxBodyBytes was served")
		}

		// What both stores can hold comes back as sent.
		cs := f.session(t, ciToken)
		md := json.RawMessage(`{"ünïcode ключ":["😀",1.5e300,-0.000001,12345678901234567890123,true,null,{"":""}]}`)
		sent := ok[struct {
			Notifications []wire `json:"notifications"`
		}](t, cs, agent.ToolSendNotification, map[string]any{
			"recipients": map[string]any{"type": "entity", "entityRef": "user:alice"},
			"payload":    map[string]any{"title": "😀 " + strings.Repeat("é", 253), "metadata": md},
		})
		got := ok[list](t, f.session(t, aliceToken), agent.ToolGetNotifications, nil)
		if len(got.Notifications) != 1 || got.Notifications[0].ID != sent.Notifications[0].ID ||
			got.Notifications[0].Payload.Title != "😀 "+strings.Repeat("é", 253) {
			t.Fatalf("read back %+v", got)
		}
		back, _ := json.Marshal(got.Notifications[0].Payload.Metadata)
		if !jsonEqual(t, back, md) {
			t.Errorf("metadata read back as %s, sent %s", back, md)
		}
	})
}
