package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/agent"
	"github.com/heraldhq/herald/signals/auth"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	for name, cfg := range map[string]agent.Config{
		"no service":       {},
		"no authenticator": {Service: f.svc},
		"negative body":    {Service: f.svc, Authenticator: auth.AuthenticatorFunc(nil), MaxBodyBytes: -1},
	} {
		if _, err := agent.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// TestToolsPerPrincipal: a user lists the inbox tools, a service the send
// tool, each with schemas that state the limits.
func TestToolsPerPrincipal(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	names := func(cs *mcp.ClientSession) ([]string, map[string]*mcp.Tool) {
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		byName := map[string]*mcp.Tool{}
		for _, tool := range res.Tools {
			out = append(out, tool.Name)
			byName[tool.Name] = tool
		}
		slices.Sort(out)
		return out, byName
	}
	userTools, tools := names(f.session(t, aliceToken))
	if want := []string{agent.ToolGetNotifications, agent.ToolMarkNotificationsRead}; !slices.Equal(userTools, want) {
		t.Errorf("user tools = %v, want %v", userTools, want)
	}
	serviceTools, stools := names(f.session(t, ciToken))
	if want := []string{agent.ToolSendNotification}; !slices.Equal(serviceTools, want) {
		t.Errorf("service tools = %v, want %v", serviceTools, want)
	}

	// at reads a value of a tool's input schema by its path.
	at := func(tool *mcp.Tool, path ...string) string {
		t.Helper()
		b, err := json.Marshal(tool.InputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	get, mark, send := tools[agent.ToolGetNotifications], tools[agent.ToolMarkNotificationsRead], stools[agent.ToolSendNotification]
	for _, c := range []struct {
		tool *mcp.Tool
		path []string
		want string
	}{
		{get, []string{"additionalProperties"}, `false`},
		{get, []string{"properties", "limit", "type"}, `"integer"`},
		{get, []string{"properties", "limit", "minimum"}, `1`},
		{get, []string{"properties", "limit", "maximum"}, `100`},
		{get, []string{"properties", "offset", "minimum"}, `0`},
		{get, []string{"properties", "view", "enum"}, `["unread","read","saved","all"]`},
		{get, []string{"properties", "minimumSeverity", "enum"}, `["critical","high","normal","low"]`},
		{get, []string{"properties", "search", "maxLength"}, `1000`},
		{get, []string{"properties", "topic", "maxLength"}, `255`},
		{get, []string{"properties", "createdAfter", "format"}, `"date-time"`},
		{mark, []string{"properties", "ids", "minItems"}, `1`},
		{mark, []string{"properties", "ids", "maxItems"}, `100`},
		{send, []string{"required"}, `["recipients","payload"]`},
		{send, []string{"properties", "recipients", "properties", "type", "enum"}, `["entity","broadcast"]`},
		{send, []string{"properties", "recipients", "properties", "entityRef", "type"}, `["string","array"]`},
		{send, []string{"properties", "payload", "required"}, `["title"]`},
		{send, []string{"properties", "payload", "properties", "title", "maxLength"}, `255`},
		{send, []string{"properties", "payload", "properties", "scope", "maxLength"}, `255`},
		{send, []string{"properties", "payload", "properties", "metadata", "type"}, `"object"`},
	} {
		if got := at(c.tool, c.path...); got != c.want {
			t.Errorf("%s input schema %v = %s, want %s", c.tool.Name, c.path, got, c.want)
		}
	}
	for _, tool := range []*mcp.Tool{get, mark, send} {
		if tool.OutputSchema == nil {
			t.Errorf("%s has no output schema", tool.Name)
		}
	}
}

func TestGetNotifications(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		low := f.send(t, notifications.Entity(alice), notifications.Payload{Title: "low build", Severity: notifications.SeverityLow, Topic: "ci"})
		read := f.send(t, notifications.Entity(alice), notifications.Payload{Title: "read deploy", Severity: notifications.SeverityHigh, Topic: "deploy"})
		saved := f.send(t, notifications.Entity(alice), notifications.Payload{Title: "saved 100%_done", Description: "Quota"})
		f.send(t, notifications.Broadcast(), notifications.Payload{Title: "broadcast outage", Severity: notifications.SeverityCritical})
		f.send(t, notifications.Entity(bob), notifications.Payload{Title: "bob's secret", Severity: notifications.SeverityCritical, Topic: "ci"})
		ctx := context.Background()
		if _, err := f.svc.Update(ctx, alice, notifications.UpdateOptions{IDs: []string{read.ID}, Read: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Update(ctx, alice, notifications.UpdateOptions{IDs: []string{saved.ID}, Saved: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		cs := f.session(t, aliceToken)
		for _, c := range []struct {
			name  string
			args  map[string]any
			want  []string
			total int
		}{
			{"default is unread", nil, []string{"broadcast outage", "saved 100%_done", "low build"}, 3},
			{"unread", map[string]any{"view": "unread"}, []string{"broadcast outage", "saved 100%_done", "low build"}, 3},
			{"read", map[string]any{"view": "read"}, []string{"read deploy"}, 1},
			{"saved", map[string]any{"view": "saved"}, []string{"saved 100%_done"}, 1},
			{"all", map[string]any{"view": "all"}, []string{"broadcast outage", "saved 100%_done", "read deploy", "low build"}, 4},
			{"search is literal", map[string]any{"view": "all", "search": "100%_"}, []string{"saved 100%_done"}, 1},
			{"search folds ASCII case", map[string]any{"search": "QUOTA"}, []string{"saved 100%_done"}, 1},
			{"topic", map[string]any{"view": "all", "topic": "ci"}, []string{"low build"}, 1},
			{"minimumSeverity", map[string]any{"view": "all", "minimumSeverity": "high"}, []string{"broadcast outage", "read deploy"}, 2},
			{"createdAfter is inclusive", map[string]any{"view": "all", "createdAfter": read.Created.Format("2006-01-02T15:04:05.000Z07:00")},
				[]string{"broadcast outage", "saved 100%_done", "read deploy"}, 3},
			{"limit", map[string]any{"view": "all", "limit": 2}, []string{"broadcast outage", "saved 100%_done"}, 4},
			{"offset", map[string]any{"view": "all", "offset": 3, "limit": 100}, []string{"low build"}, 4},
			{"offset past the end", map[string]any{"view": "all", "offset": 10}, []string{}, 4},
		} {
			got := ok[list](t, cs, agent.ToolGetNotifications, c.args)
			if !slices.Equal(titles(got), c.want) || got.TotalCount != c.total {
				t.Errorf("%s: got %q (total %d), want %q (total %d)", c.name, titles(got), got.TotalCount, c.want, c.total)
			}
		}

		// The notifications come in the REST API's JSON form.
		got := ok[list](t, cs, agent.ToolGetNotifications, map[string]any{"topic": "ci"})
		if len(got.Notifications) != 1 {
			t.Fatalf("topic ci: %v", titles(got))
		}
		n := got.Notifications[0]
		if n.ID != low.ID || n.User == nil || *n.User != alice || n.Origin != "plugin:test" || n.Read != nil ||
			n.Payload.Severity != "low" || n.Created != low.Created.Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("notification = %+v, want the stored %+v", n, low)
		}

		// The default page is DefaultLimit.
		for range agent.DefaultLimit + 2 {
			f.send(t, notifications.Entity(alice), notifications.Payload{Title: "more"})
		}
		if got := ok[list](t, cs, agent.ToolGetNotifications, nil); len(got.Notifications) != agent.DefaultLimit {
			t.Errorf("default page holds %d, want %d", len(got.Notifications), agent.DefaultLimit)
		}
	})
}

// TestGetNotificationsLimits: arguments outside the schema's limits are
// tool errors naming the argument, and the call has no effect.
func TestGetNotificationsLimits(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	cs := f.session(t, aliceToken)
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"limit": agent.MaxLimit + 1}, "limit"},
		{map[string]any{"limit": 0}, "limit"},
		{map[string]any{"limit": 2.5}, "limit"},
		{map[string]any{"limit": "10"}, "limit"},
		{map[string]any{"offset": -1}, "offset"},
		{map[string]any{"offset": 1e30}, "offset"},
		{map[string]any{"view": "archived"}, "view"},
		{map[string]any{"minimumSeverity": "urgent"}, "minimumSeverity"},
		{map[string]any{"search": strings.Repeat("x", notifications.MaxSearchLength+1)}, "search"},
		{map[string]any{"topic": strings.Repeat("x", notifications.MaxFieldLength+1)}, "topic"},
		{map[string]any{"createdAfter": "last week"}, "createdAfter"},
		{map[string]any{"createdAfter": "0000-12-31T23:59:59Z"}, "createdAfter"},
		{map[string]any{"createdAfter": "9999-12-31T23:59:59-01:00"}, "createdAfter"},
		{map[string]any{"user": bob}, "user"},
		{map[string]any{"search": "a\x00b"}, "search"},
	} {
		toolError(t, cs, agent.ToolGetNotifications, c.args, c.want)
	}
}

func TestMarkNotificationsRead(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		a1 := f.send(t, notifications.Entity(alice), notifications.Payload{Title: "a1"})
		a2 := f.send(t, notifications.Entity(alice), notifications.Payload{Title: "a2"})
		b1 := f.send(t, notifications.Entity(bob), notifications.Payload{Title: "b1"})
		bc := f.send(t, notifications.Broadcast(), notifications.Payload{Title: "broadcast"})
		cs := f.session(t, aliceToken)

		// Another user's id (and a malformed one) match nothing.
		got := ok[struct{ IDs []string }](t, cs, agent.ToolMarkNotificationsRead,
			map[string]any{"ids": []string{a1.ID, b1.ID, "not-an-id"}})
		if !slices.Equal(got.IDs, []string{a1.ID}) {
			t.Errorf("marked %v, want only %s", got.IDs, a1.ID)
		}
		ctx := context.Background()
		if n, err := f.svc.Get(ctx, bob, b1.ID); err != nil || n.Read != nil {
			t.Errorf("bob's notification: %+v, %v; want it unread", n, err)
		}
		unread := ok[list](t, cs, agent.ToolGetNotifications, nil)
		if !slices.Equal(titles(unread), []string{"broadcast", "a2"}) {
			t.Errorf("unread after marking a1: %v", titles(unread))
		}

		all := ok[struct {
			Count int
			IDs   []string
		}](t, cs, agent.ToolMarkNotificationsRead, map[string]any{"all": true})
		slices.Sort(all.IDs)
		want := []string{a2.ID, bc.ID}
		slices.Sort(want)
		if !slices.Equal(all.IDs, want) || all.Count != 2 {
			t.Errorf("all marked %v (count %d), want %v", all.IDs, all.Count, want)
		}
		// Marking again marks nothing.
		if again := ok[struct{ Count int }](t, cs, agent.ToolMarkNotificationsRead, map[string]any{"all": true}); again.Count != 0 {
			t.Errorf("marking all twice marked %d", again.Count)
		}
		if f.count(t, alice) != 3 || ok[list](t, cs, agent.ToolGetNotifications, nil).TotalCount != 0 {
			t.Error("alice still has unread notifications")
		}
		// Bob's broadcast state is his own.
		if n, err := f.svc.Get(ctx, bob, bc.ID); err != nil || n.Read != nil {
			t.Errorf("bob's broadcast: %+v, %v; want it unread", n, err)
		}

		many := make([]string, agent.MaxReadIDs+1)
		for i := range many {
			many[i] = a1.ID
		}
		for _, c := range []struct {
			args map[string]any
			want string
		}{
			{map[string]any{}, "ids"},
			{map[string]any{"ids": []string{a1.ID}, "all": true}, "all"},
			{map[string]any{"ids": []string{}}, "ids"},
			{map[string]any{"ids": many}, "ids"},
			{map[string]any{"ids": []any{1}}, "ids"},
			{map[string]any{"ids": []string{"a\x00"}}, "ids[0]"},
		} {
			toolError(t, cs, agent.ToolMarkNotificationsRead, c.args, c.want)
		}
	})
}

func TestSendNotification(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		cs := f.session(t, ciToken)
		type sent struct {
			Count         int    `json:"count"`
			Notifications []wire `json:"notifications"`
		}
		// A ref as a string, the REST body's shape, metadata kept exactly.
		one := ok[sent](t, cs, agent.ToolSendNotification, json.RawMessage(`{
			"recipients": {"type": "entity", "entityRef": "user:alice"},
			"payload": {"title": "Build failed", "severity": "high", "topic": "ci", "link": "/ci/1",
				"metadata": {"big": 12345678901234567890, "backstage.io/body.markdown": "**red**"}}}`))
		if one.Count != 1 || len(one.Notifications) != 1 || *one.Notifications[0].User != alice ||
			one.Notifications[0].Origin != ciService {
			t.Fatalf("sent %+v", one)
		}
		stored, err := f.svc.Get(context.Background(), alice, one.Notifications[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := stored.Payload.Metadata["big"].(json.Number); n != "12345678901234567890" {
			t.Errorf("metadata big = %#v, want the exact number", stored.Payload.Metadata["big"])
		}

		// A group, with an exclusion, as a list.
		group := ok[sent](t, cs, agent.ToolSendNotification, map[string]any{
			"recipients": map[string]any{"type": "entity", "entityRef": []string{"group:team"}, "excludeEntityRef": "user:alice"},
			"payload":    map[string]any{"title": "Team news"},
		})
		if group.Count != 1 || *group.Notifications[0].User != bob {
			t.Errorf("group send: %+v, want bob only", group)
		}
		bc := ok[sent](t, cs, agent.ToolSendNotification, map[string]any{
			"recipients": map[string]any{"type": "broadcast"}, "payload": map[string]any{"title": "Maintenance"},
		})
		if bc.Count != 1 || bc.Notifications[0].User != nil {
			t.Errorf("broadcast: %+v", bc)
		}
		if f.count(t, alice) != 2 || f.count(t, bob) != 2 {
			t.Errorf("alice has %d, bob %d; want 2 each", f.count(t, alice), f.count(t, bob))
		}

		// Bad input is a tool error naming the field, and writes nothing.
		entity := map[string]any{"type": "entity", "entityRef": alice}
		for _, c := range []struct {
			args any
			want []string
		}{
			{map[string]any{"recipients": entity}, []string{"payload"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{}}, []string{"title"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": ""}}, []string{"payload.title"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": strings.Repeat("é", 256)}}, []string{"title"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": "x", "link": "javascript:alert(1)"}}, []string{"payload.link"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": "x", "link": "//evil.example/x"}}, []string{"payload.link"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": "x", "severity": "urgent"}}, []string{"severity"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": "a\x00b"}}, []string{"payload.title"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": "x", "metadata": []int{1}}}, []string{"metadata"}},
			{map[string]any{"recipients": map[string]any{"type": "entity"}, "payload": map[string]any{"title": "x"}}, []string{"recipients.entityRef"}},
			{map[string]any{"recipients": map[string]any{"type": "entity", "entityRef": []string{}}, "payload": map[string]any{"title": "x"}}, []string{"recipients.entityRef"}},
			{map[string]any{"recipients": map[string]any{"type": "entity", "entityRef": "not a ref"}, "payload": map[string]any{"title": "x"}}, []string{"recipients.entityRef"}},
			{map[string]any{"recipients": map[string]any{"type": "group", "entityRef": alice}, "payload": map[string]any{"title": "x"}}, []string{"type"}},
			{map[string]any{"recipients": map[string]any{"type": "entity", "entityRef": 7}, "payload": map[string]any{"title": "x"}}, []string{"entityRef"}},
			{map[string]any{"recipients": entity, "payload": map[string]any{"title": "x"}, "origin": "plugin:catalog"}, []string{"origin"}},
		} {
			toolError(t, cs, agent.ToolSendNotification, c.args, c.want...)
		}
		if f.count(t, alice) != 2 {
			t.Errorf("a refused send wrote: alice has %d", f.count(t, alice))
		}
	})
}

// TestAuthorization: every request is authenticated; users reach only
// their inbox and never send; services send and never read inboxes.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	f.send(t, notifications.Entity(alice), notifications.Payload{Title: "alice's"})

	// A user cannot send: the tool is not theirs, over the SDK client
	// or the wire.
	user := f.session(t, aliceToken)
	args := map[string]any{"recipients": map[string]any{"type": "broadcast"}, "payload": map[string]any{"title": "spoof"}}
	if res, err := user.CallTool(context.Background(), &mcp.CallToolParams{Name: agent.ToolSendNotification, Arguments: args}); err == nil && !res.IsError {
		t.Errorf("a user sent: %s", text(res))
	}
	// A service cannot read an inbox, nor mark one.
	svc := f.session(t, ciToken)
	for _, tool := range []string{agent.ToolGetNotifications, agent.ToolMarkNotificationsRead} {
		if res, err := svc.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"all": true}}); err == nil && !res.IsError {
			t.Errorf("a service called %s: %s", tool, text(res))
		}
	}
	if f.count(t, alice) != 1 || f.count(t, bob) != 0 {
		t.Error("a refused call wrote")
	}
	if res := ok[list](t, user, agent.ToolGetNotifications, nil); res.TotalCount != 1 {
		t.Errorf("alice sees %d", res.TotalCount)
	}
	// Bob does not see alice's notification.
	if res := ok[list](t, f.session(t, bobToken), agent.ToolGetNotifications, map[string]any{"view": "all"}); res.TotalCount != 0 {
		t.Errorf("bob sees %v", titles(res))
	}

	// Bad tokens never reach MCP.
	for _, c := range []struct {
		token  string
		status int
	}{
		{"", http.StatusUnauthorized},
		{"unknown-token", http.StatusUnauthorized},
		{forbiddenToken, http.StatusForbidden},
		{brokenToken, http.StatusInternalServerError},
	} {
		if _, _, err := f.connect(t, c.token); err == nil {
			t.Errorf("token %q: connected", c.token)
		}
		status, _ := f.rawCall(t, c.token, agent.ToolGetNotifications, []byte(`{}`))
		if status != c.status {
			t.Errorf("token %q: status %d, want %d", c.token, status, c.status)
		}
	}
	if !strings.Contains(f.logs.String(), "identity provider unreachable") {
		t.Errorf("the Authenticator's failure is not logged:\n%s", f.logs)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url, strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no credentials: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestSessionFollowsToken: a client session acts as the token it presents
// on each request, so revoking a token stops it at the next call, and a
// session never keeps a principal another token opened it with.
func TestSessionFollowsToken(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	f.send(t, notifications.Entity(alice), notifications.Payload{Title: "alice's"})
	f.send(t, notifications.Entity(bob), notifications.Payload{Title: "bob's"})
	cs, b, err := f.connect(t, aliceToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := ok[list](t, cs, agent.ToolGetNotifications, nil); !slices.Equal(titles(got), []string{"alice's"}) {
		t.Fatalf("alice sees %v", titles(got))
	}

	// The same session with bob's token is bob's.
	b.set(bobToken)
	if got := ok[list](t, cs, agent.ToolGetNotifications, nil); !slices.Equal(titles(got), []string{"bob's"}) {
		t.Errorf("with bob's token the session sees %v", titles(got))
	}
	b.set(aliceToken)
	f.revoke(aliceToken)
	if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: agent.ToolMarkNotificationsRead, Arguments: map[string]any{"all": true}}); err == nil {
		t.Errorf("a revoked token's session still calls tools: %s", text(res))
	}
	if got, err := f.svc.List(context.Background(), alice, notifications.ListOptions{Filter: notifications.Filter{Read: ptr(false)}}); err != nil || got.TotalCount != 1 {
		t.Errorf("alice's unread after the refused call: %d, %v", got.TotalCount, err)
	}
	if _, _, err := f.connect(t, aliceToken); err == nil {
		t.Error("a revoked token opened a session")
	}
}

// TestMarkAllReadListsAPage: marking everything read counts them all and
// lists a page of ids, so the result stays small for an agent.
func TestMarkAllReadListsAPage(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	for range agent.MaxReadIDs + 5 {
		f.send(t, notifications.Entity(alice), notifications.Payload{Title: "n"})
	}
	got := ok[struct {
		Count int
		IDs   []string
	}](t, f.session(t, aliceToken), agent.ToolMarkNotificationsRead, map[string]any{"all": true})
	if got.Count != agent.MaxReadIDs+5 || len(got.IDs) != agent.MaxReadIDs {
		t.Errorf("count %d with %d ids, want %d with %d", got.Count, len(got.IDs), agent.MaxReadIDs+5, agent.MaxReadIDs)
	}
}

// TestSendListsAPage: a send to many users counts them all and lists the
// first MaxSentListed.
func TestSendListsAPage(t *testing.T) {
	t.Parallel()
	f := setup(t, onSQLite)
	refs := make([]string, agent.MaxSentListed+1)
	for i := range refs {
		refs[i] = "user:u" + strconv.Itoa(i)
	}
	got := ok[struct {
		Count         int
		Notifications []wire
	}](t, f.session(t, ciToken), agent.ToolSendNotification, map[string]any{
		"recipients": map[string]any{"type": "entity", "entityRef": refs},
		"payload":    map[string]any{"title": "all hands"},
	})
	if got.Count != len(refs) || len(got.Notifications) != agent.MaxSentListed {
		t.Errorf("count %d with %d listed, want %d with %d", got.Count, len(got.Notifications), len(refs), agent.MaxSentListed)
	}
}
