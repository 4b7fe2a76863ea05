package agent_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testdb"
	"github.com/heraldhq/herald/notifications/agent"
)

// FuzzToolArguments calls each tool with arbitrary argument bytes, as a
// principal allowed to call it, on SQLite and (when available) PostgreSQL:
// every call must be answered with a result (a tool error for bad input),
// never a protocol error, a 5xx or an internal error, and both stores must
// refuse the same input. (Whether, not how: when several properties break
// the schema, the validator names whichever it met first, in map order.)
func FuzzToolArguments(f *testing.F) {
	kinds := []storeKind{onSQLite}
	if os.Getenv(testdb.PostgresEnv) != "" || os.Getenv(testdb.RequireEnv) != "" {
		kinds = append(kinds, onPostgres)
	}
	fixtures := make([]*fixture, len(kinds))
	for i, k := range kinds {
		fixtures[i] = setup(f, k)
	}
	tools := []struct{ name, token string }{
		{agent.ToolGetNotifications, aliceToken},
		{agent.ToolMarkNotificationsRead, aliceToken},
		{agent.ToolSendNotification, ciToken},
	}
	for _, seed := range []struct {
		tool uint8
		args string
	}{
		{0, `{}`},
		{0, `{"view":"all","search":"x%_","topic":"ci","minimumSeverity":"high","createdAfter":"2025-01-01T00:00:00Z","offset":1,"limit":100}`},
		{0, `{"createdAfter":"9999-12-31T23:59:59-23:59"}`},
		{0, `{"limit":1e400}`},
		{1, `{"all":true}`},
		{1, `{"ids":["6c2b3b8e-2f0a-4a51-9b53-7b0a3c0a5e11","\u0000"]}`},
		{2, `{"recipients":{"type":"entity","entityRef":"user:alice"},"payload":{"title":"t","metadata":{"n":1e400}}}`},
		{2, `{"recipients":{"type":"entity","entityRef":["group:team"],"excludeEntityRef":"user:bob"},"payload":{"title":"t","link":"/\\x"}}`},
		{2, `{"recipients":{"type":"broadcast"},"payload":{"title":"\udc00","metadata":{"a":1,"a":2}}}`},
		{2, "{\"recipients\":{\"type\":\"entity\",\"entityRef\":\"user:\xff\"},\"payload\":{\"title\":\"t\"}}"},
	} {
		f.Add(seed.tool, []byte(seed.args))
	}
	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		tool := tools[int(which)%len(tools)]
		var answers []string
		for i, fx := range fixtures {
			fx.logs.reset()
			status, res := fx.rawCall(t, tool.token, tool.name, args)
			if status == http.StatusBadRequest && res == nil {
				// Not a JSON-RPC message at all: the SDK refuses the
				// request before any tool runs.
				answers = append(answers, "400")
				continue
			}
			if status != http.StatusOK || res == nil {
				t.Fatalf("%s on %s: status %d, result %v", tool.name, kinds[i], status, res)
			}
			if strings.Contains(fx.logs.String(), "level=ERROR") {
				t.Fatalf("%s on %s: internal error for %q:\n%s", tool.name, kinds[i], args, fx.logs)
			}
			answer := "ok"
			if res.IsError {
				answer = "tool error"
			}
			answers = append(answers, answer)
		}
		for i := 1; i < len(answers); i++ {
			if answers[i] != answers[0] {
				t.Fatalf("%s %q: %s answered %q, %s %q", tool.name, args, kinds[0], answers[0], kinds[i], answers[i])
			}
		}
	})
}
