// Package herald is the overview of Herald: notifications and live signals
// for Go programs, compatible with Backstage's notifications and signals
// backends. There is no code in this package; the work is done by:
//
//   - [github.com/heraldhq/herald/notifications]: the Service. Sender(origin).Send
//     validates a request, expands entity recipients (users, groups and their
//     members, owners) or broadcasts, runs processors before and after saving,
//     stores the notifications and publishes signals. Each user's inbox: List,
//     Get, Status, Topics, Update, MarkAllRead, Settings, SaveSettings, and
//     retention.
//   - [github.com/heraldhq/herald/store]: the bun store, SQLite by default
//     (OpenSQLite, ":memory:" for tests) and PostgreSQL in production
//     (OpenPostgres), with embedded migrations.
//   - [github.com/heraldhq/herald/signals]: Signal, the Publisher interface the
//     Service publishes through, and the in-process Hub that fans signals out
//     to connections; signals/socket serves them over WebSocket (the Backstage
//     signals protocol) and Server-Sent Events; signals/pgbus and
//     signals/natsbus carry them between instances.
//   - [github.com/heraldhq/herald/notifications/rest]: the REST API,
//     wire-compatible with Backstage's notifications backend.
//   - [github.com/heraldhq/herald/processors]: email, Slack and webhook
//     processors, and the helpers to write your own.
//   - [github.com/heraldhq/herald/notifications/notificationstest]: a
//     recording Sender for host programs' tests.
//
// A minimal program:
//
//	st, _ := store.OpenSQLite(ctx, "herald.db")
//	svc, _ := notifications.New(notifications.Config{Store: st})
//	defer svc.Close(ctx)
//	svc.Sender("plugin:example").Send(ctx, notifications.Entity("user:default/jane"),
//		notifications.Payload{Title: "Hello, Jane"})
//	page, _ := svc.List(ctx, "user:default/jane", notifications.ListOptions{})
//
// See examples/quickstart for the whole tour.
package herald
