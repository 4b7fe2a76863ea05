// Package agent serves a user's notifications to AI agents over the Model
// Context Protocol (MCP): a Handler is a streamable HTTP MCP endpoint a
// host mounts on its own server, next to the REST API and with the same
// tokens:
//
//	tools, err := agent.New(agent.Config{Service: svc, Authenticator: tokens})
//	mux.Handle("/api/notifications/mcp", tools)
//
// It offers three tools. A user principal gets get-notifications (their
// inbox, filtered and paged the way Backstage's get-notifications action
// does) and mark-notifications-read; a service principal gets
// send-notification, whose recipients and payload are those of the REST
// API's POST body and are validated by the same rules. Each principal
// lists only its own tools, and every tool checks the principal again, so
// a user never reads another user's inbox and never sends, and a service
// never reads an inbox.
//
// Every HTTP request is authenticated on its own from its "Authorization:
// Bearer" header, and the endpoint is stateless: it issues no MCP session
// id and keeps nothing between requests, so what a client does is always
// done as the principal of the token it presents now. A token the
// Authenticator stops accepting is refused at the next request (401);
// there is no session for it to outlive, and none another token could
// take over.
//
// Bad arguments are a tool error (a result with isError set, naming the
// fields), never a protocol failure: an agent reads the message and
// retries. Each tool's input schema states its limits (lengths, the page
// size, enums), and arguments are checked against it before anything runs.
//
// The package is not named mcp because the MCP SDK's package is:
// github.com/modelcontextprotocol/go-sdk/mcp, which a client of this
// endpoint imports too.
package agent
