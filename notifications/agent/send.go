package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/internal/jsonvalue"
	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// MaxSentListed bounds the notifications send-notification returns; its
// count says how many were stored.
const MaxSentListed = MaxLimit

// refs is an entity ref list given as a string or an array of strings.
type refs []string

func (r *refs) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = refs{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(r))
}

type sendInput struct {
	Recipients struct {
		Type             string `json:"type"`
		EntityRef        refs   `json:"entityRef"`
		ExcludeEntityRef refs   `json:"excludeEntityRef"`
	} `json:"recipients"`
	Payload struct {
		Title       string          `json:"title"`
		Description string          `json:"description"`
		Link        string          `json:"link"`
		Severity    string          `json:"severity"`
		Topic       string          `json:"topic"`
		Scope       string          `json:"scope"`
		Icon        string          `json:"icon"`
		Metadata    json.RawMessage `json:"metadata"`
	} `json:"payload"`
}

type sendOutput struct {
	// Count is how many notifications were stored (or updated, by a
	// scoped re-send): one per user, or one broadcast.
	Count         int                          `json:"count"`
	Notifications []notifications.Notification `json:"notifications"`
}

const sendDescription = `Sends a notification, as the authenticated service (its origin). The request is that of the notifications REST API's POST body.

recipients.type is "entity" or "broadcast". An entity send goes to the users named by recipients.entityRef (a ref or a list, like "user:default/jane"), the members of groups and the owners of other entities, minus those of recipients.excludeEntityRef. A broadcast reaches every user.

payload.title is required; description, link (http(s) or a path like "/catalog"), severity (critical, high, normal by default, low), topic, scope (a re-send with the same scope to the same user replaces the notification and makes it unread again), icon and metadata (a JSON object, at most 64 KiB encoded, nested at most 100 deep) are optional.

Returns how many notifications were stored and the first 100 of them.`

func refList(desc string) *jsonschema.Schema {
	item := str(notifications.MaxFieldLength, "An entity ref, kind:namespace/name; the namespace defaults to \"default\".")
	return &jsonschema.Schema{
		Types: []string{"string", "array"}, Items: item, MaxLength: ptr(notifications.MaxFieldLength),
		Description: desc,
	}
}

func sendTool() *mcp.Tool {
	return &mcp.Tool{
		Name:        ToolSendNotification,
		Title:       "Send a notification",
		Description: sendDescription,
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(false)},
		InputSchema: object([]string{"recipients", "payload"}, map[string]*jsonschema.Schema{
			"recipients": object([]string{"type"}, map[string]*jsonschema.Schema{
				"type": enum("Who receives it.", string(notifications.RecipientEntity), string(notifications.RecipientBroadcast)),
				"entityRef": refList("Users, groups or other entities whose users receive it; required for entity recipients. " +
					"A ref or a list of refs."),
				"excludeEntityRef": refList("Users or groups left out. A ref or a list of refs."),
			}),
			"payload": object([]string{"title"}, map[string]*jsonschema.Schema{
				"title":       str(notifications.MaxFieldLength, "The title."),
				"description": str(0, "The text of the notification."),
				"link":        str(0, "Where it leads: an http(s) URL or a path like \"/catalog/default/component/x\"."),
				"severity": enum("Defaults to normal.", string(notifications.SeverityCritical), string(notifications.SeverityHigh),
					string(notifications.SeverityNormal), string(notifications.SeverityLow)),
				"topic": str(notifications.MaxFieldLength, "The topic, for filtering and user settings."),
				"scope": str(notifications.MaxFieldLength, "A re-send with the same scope replaces the user's notification."),
				"icon":  str(notifications.MaxFieldLength, "An icon name."),
				"metadata": {Type: "object", Description: fmt.Sprintf(
					"Any JSON object, at most %d bytes encoded and nested at most %d deep; "+
						"%q holds a markdown body.", notifications.MaxMetadataBytes, notifications.MaxMetadataDepth,
					notifications.MetadataMarkdownBody)},
			}),
		}),
		OutputSchema: object([]string{"count", "notifications"}, map[string]*jsonschema.Schema{
			"count": {Type: "integer", Description: "How many notifications were stored."},
			"notifications": {Type: "array", Items: &jsonschema.Schema{Type: "object"}, MaxItems: ptr(MaxSentListed),
				Description: fmt.Sprintf("The first %d of them.", MaxSentListed)},
		}),
	}
}

func (h *Handler) send(ctx context.Context, p auth.Principal, in sendInput) (sendOutput, error) {
	o := notifications.SendOptions{
		Origin: p.Subject,
		Payload: notifications.Payload{
			Title: in.Payload.Title, Description: in.Payload.Description, Link: in.Payload.Link,
			Severity: notifications.Severity(in.Payload.Severity),
			Topic:    in.Payload.Topic, Scope: in.Payload.Scope, Icon: in.Payload.Icon,
		},
	}
	// As the REST API does: a broadcast ignores entity refs.
	if in.Recipients.Type == string(notifications.RecipientBroadcast) {
		o.Recipients = notifications.Broadcast()
	} else {
		o.Recipients = notifications.Entity(in.Recipients.EntityRef...).Excluding(in.Recipients.ExcludeEntityRef...)
	}
	if len(in.Payload.Metadata) > 0 {
		// Numbers keep their literal, as in the REST API; decodeArguments
		// has refused what jsonvalue refuses.
		md, err := jsonvalue.DecodeObject(in.Payload.Metadata)
		if err != nil {
			return sendOutput{}, invalid("payload.metadata: " + err.Error())
		}
		o.Payload.Metadata = md
	}
	sent, err := h.svc.Send(ctx, o)
	if err != nil {
		return sendOutput{}, err
	}
	out := sendOutput{Count: len(sent), Notifications: sent[:min(len(sent), MaxSentListed)]}
	if out.Notifications == nil {
		out.Notifications = []notifications.Notification{}
	}
	return out, nil
}

func (h *Handler) addServiceTools(s *mcp.Server) {
	addTool(h, s, sendTool(), auth.PrincipalService, h.send)
}
