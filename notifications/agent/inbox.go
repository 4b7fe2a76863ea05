package agent

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals/auth"
)

// The tools' names.
const (
	ToolGetNotifications      = "get-notifications"
	ToolMarkNotificationsRead = "mark-notifications-read"
	ToolSendNotification      = "send-notification"
)

// Limits of the inbox tools, stated in their input schemas.
const (
	// MaxLimit bounds get-notifications' page size.
	MaxLimit = 100
	// DefaultLimit is get-notifications' page size when none is given.
	DefaultLimit = 10
	// MaxReadIDs bounds the ids of one mark-notifications-read call: a
	// page of get-notifications. Use all to mark more at once.
	MaxReadIDs = MaxLimit
	// MaxOffset bounds get-notifications' offset.
	MaxOffset = math.MaxInt32
)

// The views of get-notifications.
const (
	viewUnread = "unread"
	viewRead   = "read"
	viewSaved  = "saved"
	viewAll    = "all"
)

type getInput struct {
	View            string `json:"view"`
	Search          string `json:"search"`
	Topic           string `json:"topic"`
	MinimumSeverity string `json:"minimumSeverity"`
	CreatedAfter    string `json:"createdAfter"`
	Offset          int    `json:"offset"`
	Limit           *int   `json:"limit"`
}

type getOutput struct {
	Notifications []notifications.Notification `json:"notifications"`
	TotalCount    int                          `json:"totalCount"`
}

const getDescription = `Fetches notifications of the authenticated user: their own and the broadcasts, newest first.

Each notification has an id, an origin (the plugin or service that sent it), a created time, and read, saved and updated times (null when unset); its payload has a title, and optionally a description, a link, a severity (critical, high, normal or low), a topic, a scope, an icon and metadata.

view chooses which notifications to return: "unread" (the default) the ones not read yet; "read" the read ones; "saved" the saved (bookmarked) ones; "all" everything. search (a literal substring of the title or description, ASCII case-insensitive), topic (exact), minimumSeverity (that severity and more severe) and createdAfter (an RFC 3339 date-time; created at or after it) narrow it further.

Page with offset and limit (1 to 100, default 10); totalCount counts every notification the filters select.`

func getTool() *mcp.Tool {
	return &mcp.Tool{
		Name:        ToolGetNotifications,
		Title:       "Get notifications",
		Description: getDescription,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)},
		InputSchema: object(nil, map[string]*jsonschema.Schema{
			"view": enum(`Which notifications to return; defaults to "unread".`, viewUnread, viewRead, viewSaved, viewAll),
			"search": str(notifications.MaxSearchLength,
				"Keep notifications whose title or description contains this text (literally; ASCII letters match either case)."),
			"topic": str(notifications.MaxFieldLength, `Keep notifications of this topic exactly, like "ci/cd".`),
			"minimumSeverity": enum("Keep this severity and more severe ones (critical > high > normal > low).",
				string(notifications.SeverityCritical), string(notifications.SeverityHigh),
				string(notifications.SeverityNormal), string(notifications.SeverityLow)),
			"createdAfter": {Type: "string", Format: "date-time", MaxLength: ptr(64),
				Description: `Keep notifications created at or after this RFC 3339 date-time, like "2025-01-01T00:00:00Z".`},
			"offset": integer(0, MaxOffset, "Notifications to skip, for paging; defaults to 0."),
			"limit":  integer(1, MaxLimit, fmt.Sprintf("Page size, 1 to %d; defaults to %d.", MaxLimit, DefaultLimit)),
		}),
		OutputSchema: object([]string{"notifications", "totalCount"}, map[string]*jsonschema.Schema{
			"notifications": {Type: "array", Items: &jsonschema.Schema{Type: "object"},
				Description: "The page of notifications, newest first."},
			"totalCount": {Type: "integer", Description: "How many notifications the filters select, ignoring paging."},
		}),
	}
}

func (h *Handler) getNotifications(ctx context.Context, p auth.Principal, in getInput) (getOutput, error) {
	o := notifications.ListOptions{
		Filter: notifications.Filter{
			Search: in.Search, Topic: in.Topic, MinimumSeverity: notifications.Severity(in.MinimumSeverity),
		},
		Offset: in.Offset,
		Limit:  in.Limit,
	}
	if o.Limit == nil {
		o.Limit = ptr(DefaultLimit)
	}
	switch in.View {
	case viewUnread, "":
		o.Read = ptr(false)
	case viewRead:
		o.Read = ptr(true)
	case viewSaved:
		o.Saved = ptr(true)
	}
	if in.CreatedAfter != "" {
		t, err := parseTime("createdAfter", in.CreatedAfter)
		if err != nil {
			return getOutput{}, err
		}
		o.CreatedAfter = &t
	}
	res, err := h.svc.List(ctx, p.User, o)
	if err != nil {
		return getOutput{}, err
	}
	return getOutput{Notifications: res.Notifications, TotalCount: res.TotalCount}, nil
}

// The dates a store holds: year 1 to 9999, UTC.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// parseTime parses an RFC 3339 date-time within the range every store
// holds.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(fmt.Sprintf("%s: %q is not an RFC 3339 date-time, like 2025-01-01T00:00:00Z", field, s))
	}
	t = t.UTC()
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, invalid(field + ": must be a date from year 1 to 9999 (UTC)")
	}
	return t, nil
}

type markInput struct {
	IDs []string `json:"ids"`
	All bool     `json:"all"`
}

type markOutput struct {
	// Count is how many notifications were marked; IDs lists the first
	// MaxReadIDs of them.
	Count int      `json:"count"`
	IDs   []string `json:"ids"`
}

func marked(ids []string) markOutput {
	if ids == nil {
		ids = []string{}
	}
	return markOutput{Count: len(ids), IDs: ids[:min(len(ids), MaxReadIDs)]}
}

func markTool() *mcp.Tool {
	return &mcp.Tool{
		Name:  ToolMarkNotificationsRead,
		Title: "Mark notifications read",
		Description: fmt.Sprintf(`Marks notifications of the authenticated user read: the ones listed in ids (at most %d, as get-notifications returns them), or with all set to true every unread one. Give ids or all, not both.

Returns how many were marked and their ids (the first %d). Ids the user cannot see are left out: they match nothing.`, MaxReadIDs, MaxReadIDs),
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(false)},
		InputSchema: object(nil, map[string]*jsonschema.Schema{
			"ids": {Type: "array", MinItems: ptr(1), MaxItems: ptr(MaxReadIDs),
				Items:       str(notifications.MaxFieldLength, "A notification id."),
				Description: "The notifications to mark read."},
			"all": {Type: "boolean", Description: "Mark every unread notification read."},
		}),
		OutputSchema: object([]string{"count", "ids"}, map[string]*jsonschema.Schema{
			"count": {Type: "integer", Description: "How many notifications were marked read."},
			"ids": {Type: "array", Items: &jsonschema.Schema{Type: "string"}, MaxItems: ptr(MaxReadIDs),
				Description: fmt.Sprintf("The notifications marked read, the first %d.", MaxReadIDs)},
		}),
	}
}

func (h *Handler) markRead(ctx context.Context, p auth.Principal, in markInput) (markOutput, error) {
	switch {
	case in.All && in.IDs != nil:
		return markOutput{}, invalid("give ids or all, not both")
	case in.All:
		ids, err := h.svc.MarkAllRead(ctx, p.User, notifications.Filter{})
		if err != nil {
			return markOutput{}, err
		}
		return marked(ids), nil
	case in.IDs == nil:
		return markOutput{}, invalid("give ids, or all: true")
	}
	ns, err := h.svc.Update(ctx, p.User, notifications.UpdateOptions{IDs: in.IDs, Read: ptr(true)})
	if err != nil {
		return markOutput{}, err
	}
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	return marked(ids), nil
}

func (h *Handler) addUserTools(s *mcp.Server) {
	addTool(h, s, getTool(), auth.PrincipalUser, h.getNotifications)
	addTool(h, s, markTool(), auth.PrincipalUser, h.markRead)
}
