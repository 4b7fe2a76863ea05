package notifications

import (
	"encoding/json"
	"time"
)

// MetadataMarkdownBody is the well-known metadata key whose string value is
// a Markdown body that processors (email) render in place of the
// description.
const MetadataMarkdownBody = "backstage.io/body.markdown"

// Payload is what a notification says. Only Title is required.
type Payload struct {
	// Title is required, at most 255 characters.
	Title string
	// Description is free text shown under the title.
	Description string
	// Link is a relative path ("/catalog") or an absolute http or https
	// URL; it is stored as given.
	Link string
	// Severity defaults to SeverityNormal.
	Severity Severity
	// Topic groups notifications; users can turn topics off per origin.
	Topic string
	// Scope de-duplicates: a send with the same origin and scope as an
	// earlier one, to the same user, updates that notification instead of
	// adding one, and makes it unread again.
	Scope string
	// Icon names an icon for the UI.
	Icon string
	// Metadata is any JSON object, at most MaxMetadataBytes once encoded,
	// within the rules SendOptions.Validate states (no NUL, valid UTF-8,
	// numbers PostgreSQL can store exactly). It is stored as given except
	// that key order is not kept (PostgreSQL's jsonb sorts keys) and a
	// number may be spelled differently with the same value (PostgreSQL
	// reads 1E2 back as 100). Reads (List, Get, and JSON decoding) return
	// numbers as json.Number, every digit kept, inside map[string]any and
	// []any; use its Int64 or Float64 methods, or strconv, to compute with
	// one. What Send returns holds the map it was given.
	Metadata map[string]any
}

// Notification is one stored notification as one user sees it. For a
// broadcast, User is empty and Read, Saved, Seen, Archived and
// SnoozedUntil are that user's own state.
type Notification struct {
	ID string
	// User is the recipient's canonical user ref; "" for a broadcast,
	// which encodes as JSON null.
	User   string
	Origin string
	// Created is when it was sent, to the millisecond; one value for every
	// recipient of one send. A scoped re-send keeps it.
	Created time.Time
	// Updated is set when a scoped re-send replaced the content.
	Updated *time.Time
	// Read and Saved are nil while the notification is unread / unsaved.
	Read, Saved *time.Time
	// Seen is when the user's client first showed it (reading implies
	// seeing); nil while unseen. Archived is when the user archived it;
	// SnoozedUntil is when a snoozed notification comes back, unread and
	// unseen. An archived or snoozed notification is hidden: List,
	// Status, Counts, Topics and MarkAllRead leave it out (see
	// Filter.Archived). Herald extensions, absent from Backstage.
	Seen, Archived, SnoozedUntil *time.Time
	Payload                      Payload
}

// IsBroadcast reports whether n is a broadcast.
func (n Notification) IsBroadcast() bool { return n.User == "" }

// SendOptions is one send request as processors see it.
type SendOptions struct {
	// Origin is who sent it: "plugin:catalog", or the subject of an
	// external service's token. Set by Sender, never by the request body.
	Origin     string     `json:"-"`
	Recipients Recipients `json:"recipients"`
	Payload    Payload    `json:"payload"`
	// IdempotencyKey, when set, makes a retry of this send a no-op: within
	// Config.IdempotencyTTL, a send from the same origin with the same key
	// and the same request returns the first send's result (the same
	// notifications, ids included) and writes, signals and delivers
	// nothing again; the same key with a different request is
	// ErrIdempotencyConflict. The key is scoped to the origin: another
	// origin's identical key is unrelated.
	//
	// "The same request" is the request as validated and canonicalised,
	// before any options processor runs (their output need not be
	// deterministic): recipients with their refs in canonical form (so
	// user:alice and user:default/alice are one), and the payload with its
	// severity defaulted, compared by a SHA-256 hash of their JSON
	// encoding (metadata keys sorted; a number is compared as spelled).
	//
	// Scope de-duplication is another thing: a new send with the same
	// scope updates the stored notification in place (new content, unread
	// again), whereas a repeated key makes the repeated send do nothing.
	//
	// At most MaxIdempotencyKeyLength bytes of printable ASCII (no
	// spaces); Send refuses another with a *ValidationError naming
	// idempotencyKey. The REST API takes it from the Idempotency-Key
	// header. It is never part of the JSON encoding.
	IdempotencyKey string `json:"-"`
}

// timeLayout is JavaScript's Date.toISOString: UTC, milliseconds, "Z".
const timeLayout = "2006-01-02T15:04:05.000Z"

type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	return appendTime(make([]byte, 0, len(timeLayout)+2), time.Time(t)), nil
}

func optTime(t *time.Time) *jsonTime { return (*jsonTime)(t) }

// MarshalJSON encodes the payload as a request carries it: unset fields are
// left out.
func (p Payload) MarshalJSON() ([]byte, error) {
	return p.appendWireJSON(make([]byte, 0, 128+len(p.Title)+len(p.Description)+len(p.Link)+48*len(p.Metadata)), p.Severity)
}

// MarshalJSON encodes n as Backstage's reads return it (list, get, update):
// read, saved and updated are present and null when unset (and so are
// Herald's seen, archived and snoozedUntil), unset payload
// strings are null, metadata is absent when unset, user is null for a
// broadcast, and times are ISO 8601 UTC with milliseconds.
func (n Notification) MarshalJSON() ([]byte, error) {
	return n.appendJSON(make([]byte, 0, n.jsonSizeHint()))
}

// Compact returns n in the form Backstage's send response uses for a
// freshly stored notification: fields never set are absent rather than
// null. (A scoped re-send answers with the stored form, MarshalJSON's.)
func (n Notification) Compact() json.Marshaler { return compactNotification(n) }

type compactNotification Notification

func (c compactNotification) MarshalJSON() ([]byte, error) {
	n := Notification(c)
	return n.appendCompactJSON(make([]byte, 0, n.jsonSizeHint()))
}
