package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/jsonvalue"
	"github.com/heraldhq/herald/notifications"
)

// MaxUpdateIDs bounds the ids of one POST /notifications/update; use
// POST /notifications/read-all to mark more at once.
const MaxUpdateIDs = 1000

// readBody reads r's body, at most limit bytes, after checking that it
// claims to be JSON (or claims nothing). It returns nil for an empty body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errTooLarge
	case err != nil:
		return nil, inputError("Could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return nil, inputError("Unsupported Content-Type " + fmt.Sprintf("%q", ct) + ": the body must be application/json")
		}
	}
	return body, nil
}

// readAll reads body, which says it holds n bytes (-1: unknown), in one
// buffer of that size where it is known, where io.ReadAll would start at
// 512 bytes and grow; a body longer than it said is still read whole.
func readAll(body io.Reader, n int64) ([]byte, error) {
	if n <= 0 || n > 1<<20 {
		return io.ReadAll(body)
	}
	buf := make([]byte, n, n+1)
	if _, err := io.ReadFull(body, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// Nothing should follow; if something does, read it as io.ReadAll
	// would have.
	var one [1]byte
	switch k, err := body.Read(one[:]); {
	case k > 0:
		rest, err := io.ReadAll(body)
		return append(append(buf, one[0]), rest...), err
	case err != nil && err != io.EOF:
		return nil, err
	}
	return buf, nil
}

// The body decoders below check a body against the request schema of the
// OpenAPI document the way Backstage's validator does: no coercion (a
// number is not a string, "true" is not a boolean), exact property names,
// required properties present. Unknown properties are ignored, as
// Backstage's schemas allow them. Messages follow the validator's
// ("request/body/payload must have required property 'title'").

// object is a decoded JSON object, property by property.
type object struct {
	path  string
	props map[string]json.RawMessage
}

// errMalformed words a JSON syntax error with its offset, and nothing of
// the decoder that found it.
func errMalformed(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return inputError(fmt.Sprintf("Malformed JSON body: %s at offset %d", strings.TrimPrefix(se.Error(), "json: "), se.Offset))
	}
	return inputError("Malformed JSON body")
}

// decodeJSON checks that raw is a single, well-formed JSON value whose
// strings all keep the text rules (see checkJSONText).
func decodeJSON(raw []byte) (json.RawMessage, error) {
	if !json.Valid(raw) {
		var v any
		return nil, errMalformed(json.Unmarshal(raw, &v))
	}
	raw = bytes.TrimSpace(raw)
	if err := checkJSONText(bodyPath, raw); err != nil {
		return nil, err
	}
	return json.RawMessage(raw), nil
}

func kind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// asObject splits raw, which must be part of a body that passed
// decodeJSON, into an object.
func asObject(path string, raw json.RawMessage) (object, error) {
	if kind(raw) != '{' {
		return object{}, inputError(path + " must be object")
	}
	o := object{path: path}
	if props, ok := splitObject(raw); ok {
		o.props = props
		return o, nil
	}
	if err := json.Unmarshal(raw, &o.props); err != nil {
		return object{}, errMalformed(err)
	}
	return o, nil
}

// present returns a property's raw value, treating null as absent where
// the schema makes the property optional (a client echoing a read
// notification sends nulls for unset fields).
func (o object) present(name string) (json.RawMessage, bool) {
	raw, ok := o.props[name]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

func (o object) missing(name string) error {
	return inputError(fmt.Sprintf("%s must have required property '%s'", o.path, name))
}

func (o object) child(name string) string { return o.path + "/" + name }

// requiredObject returns the object property name.
func (o object) requiredObject(name string) (object, error) {
	raw, ok := o.props[name]
	if !ok {
		return object{}, o.missing(name)
	}
	return asObject(o.child(name), raw)
}

func (o object) str(name string, required bool) (string, error) {
	raw, ok := o.props[name]
	if !ok || !required && isNull(raw) {
		if required {
			return "", o.missing(name)
		}
		return "", nil
	}
	if kind(raw) != '"' {
		return "", inputError(o.child(name) + " must be string")
	}
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errMalformed(err)
	}
	return s, nil
}

func (o object) boolean(name string, required bool) (*bool, error) {
	raw, ok := o.props[name]
	if !ok || !required && isNull(raw) {
		if required {
			return nil, o.missing(name)
		}
		return nil, nil
	}
	var b bool
	if k := kind(raw); k != 't' && k != 'f' || json.Unmarshal(raw, &b) != nil {
		return nil, inputError(o.child(name) + " must be boolean")
	}
	return &b, nil
}

// strings reads an array of strings.
func (o object) strings(name string, required bool) ([]string, bool, error) {
	raw, ok := o.props[name]
	if !ok || !required && isNull(raw) {
		if required {
			return nil, false, o.missing(name)
		}
		return nil, false, nil
	}
	list, err := stringArray(o.child(name), raw)
	return list, true, err
}

func stringArray(path string, raw json.RawMessage) ([]string, error) {
	if kind(raw) != '[' {
		return nil, inputError(path + " must be array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errMalformed(err)
	}
	list := make([]string, len(items))
	for i, item := range items {
		if kind(item) != '"' {
			return nil, inputError(fmt.Sprintf("%s/%d must be string", path, i))
		}
		if err := json.Unmarshal(item, &list[i]); err != nil {
			return nil, errMalformed(err)
		}
	}
	return list, nil
}

// stringOrList reads a property that is a string or an array of strings.
func (o object) stringOrList(name string, required bool) ([]string, error) {
	raw, ok := o.props[name]
	if !ok || !required && isNull(raw) {
		if required {
			return nil, o.missing(name)
		}
		return nil, nil
	}
	switch kind(raw) {
	case '"':
		if s, ok := plainString(raw); ok {
			return []string{s}, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errMalformed(err)
		}
		return []string{s}, nil
	case '[':
		return stringArray(o.child(name), raw)
	}
	return nil, inputError(o.child(name) + " must be string or array of strings")
}

const bodyPath = "request/body"

func bodyObject(body []byte) (object, error) {
	if body == nil {
		return object{}, inputError(bodyPath + " must be object")
	}
	raw, err := decodeJSON(body)
	if err != nil {
		return object{}, err
	}
	return asObject(bodyPath, raw)
}

// decodeSend decodes a NotificationSendOptions body. The origin is left
// for the caller to set from the principal.
func decodeSend(body []byte) (notifications.SendOptions, error) {
	o, _, err := decodeSendRequest(body)
	return o, err
}

// decodeSendRequest decodes a send body and Herald's top-level deliverAt
// (RFC 3339, nil when absent or null), which makes it a scheduled send.
func decodeSendRequest(body []byte) (notifications.SendOptions, *time.Time, error) {
	root, err := bodyObject(body)
	if err != nil {
		return notifications.SendOptions{}, nil, err
	}
	o, err := decodeSendObject(root)
	if err != nil {
		return o, nil, err
	}
	raw, ok := root.present("deliverAt")
	if !ok {
		return o, nil, nil
	}
	var s string
	if kind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return o, nil, inputError(root.child("deliverAt") + " must be string")
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || at.UTC().Year() < 1 || at.UTC().Year() > 9999 {
		return o, nil, inputError(root.child("deliverAt") + ` must match format "date-time" (RFC 3339, years 1 to 9999)`)
	}
	return o, &at, nil
}

func decodeSendObject(root object) (notifications.SendOptions, error) {
	var o notifications.SendOptions
	var err error
	rec, err := root.requiredObject("recipients")
	if err != nil {
		return o, err
	}
	if o.Recipients, err = decodeRecipients(rec); err != nil {
		return o, err
	}
	payload, err := root.requiredObject("payload")
	if err != nil {
		return o, err
	}
	o.Payload, err = decodePayload(payload)
	return o, err
}

func decodeRecipients(rec object) (notifications.Recipients, error) {
	var r notifications.Recipients
	typ, err := rec.str("type", true)
	if err != nil {
		return r, err
	}
	switch notifications.RecipientType(typ) {
	case notifications.RecipientBroadcast:
		return notifications.Broadcast(), nil
	case notifications.RecipientEntity:
	default:
		return r, inputError(rec.child("type") + " must be equal to one of the allowed values: entity, broadcast")
	}
	refs, err := rec.stringOrList("entityRef", true)
	if err != nil {
		return r, err
	}
	excluded, err := rec.stringOrList("excludeEntityRef", false)
	if err != nil {
		return r, err
	}
	return notifications.Entity(refs...).Excluding(excluded...), nil
}

func decodePayload(p object) (notifications.Payload, error) {
	var out notifications.Payload
	var err error
	if out.Title, err = p.str("title", true); err != nil {
		return out, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"description", &out.Description}, {"link", &out.Link}, {"topic", &out.Topic},
		{"scope", &out.Scope}, {"icon", &out.Icon},
	} {
		if *f.dst, err = p.str(f.name, false); err != nil {
			return out, err
		}
	}
	sev, err := p.str("severity", false)
	if err != nil {
		return out, err
	}
	if _, set := p.present("severity"); set {
		if !notifications.Severity(sev).Valid() {
			return out, inputError(p.child("severity") + " must be equal to one of the allowed values: critical, high, normal, low")
		}
		out.Severity = notifications.Severity(sev)
	}
	if raw, ok := p.present("metadata"); ok {
		if kind(raw) != '{' {
			return out, inputError(p.child("metadata") + " must be object")
		}
		if out.Metadata, err = jsonvalue.DecodeObject(raw); err != nil {
			return out, inputError(p.child("metadata") + " is not representable: " + err.Error())
		}
	}
	return out, nil
}

// decodeUpdate decodes {ids, read?, saved?}.
func decodeUpdate(body []byte) (notifications.UpdateOptions, error) {
	var o notifications.UpdateOptions
	root, err := bodyObject(body)
	if err != nil {
		return o, err
	}
	if o.IDs, _, err = root.strings("ids", true); err != nil {
		return o, err
	}
	if len(o.IDs) > MaxUpdateIDs {
		return o, inputError(fmt.Sprintf("%s must NOT have more than %d items", root.child("ids"), MaxUpdateIDs))
	}
	if o.Read, err = root.boolean("read", false); err != nil {
		return o, err
	}
	if o.Saved, err = root.boolean("saved", false); err != nil {
		return o, err
	}
	return o, decodeStates(root, &o)
}

// decodeSettings decodes a NotificationSettings body.
func decodeSettings(body []byte) (notifications.Settings, error) {
	var s notifications.Settings
	root, err := bodyObject(body)
	if err != nil {
		return s, err
	}
	channels, err := root.array("channels", true)
	if err != nil {
		return s, err
	}
	s.Channels = make([]notifications.ChannelSettings, 0, len(channels))
	for _, ch := range channels {
		var c notifications.ChannelSettings
		if c.ID, err = ch.str("id", true); err != nil {
			return s, err
		}
		if c.Enabled, err = ch.boolean("enabled", false); err != nil {
			return s, err
		}
		origins, err := ch.array("origins", true)
		if err != nil {
			return s, err
		}
		for _, or := range origins {
			var os notifications.OriginSettings
			if os.ID, err = or.str("id", true); err != nil {
				return s, err
			}
			enabled, err := or.boolean("enabled", true)
			if err != nil {
				return s, err
			}
			os.Enabled = *enabled
			topics, err := or.array("topics", false)
			if err != nil {
				return s, err
			}
			for _, tp := range topics {
				var ts notifications.TopicSettings
				if ts.ID, err = tp.str("id", true); err != nil {
					return s, err
				}
				enabled, err := tp.boolean("enabled", true)
				if err != nil {
					return s, err
				}
				ts.Enabled = *enabled
				os.Topics = append(os.Topics, ts)
			}
			c.Origins = append(c.Origins, os)
		}
		s.Channels = append(s.Channels, c)
	}
	return s, nil
}

// array reads an array of objects.
func (o object) array(name string, required bool) ([]object, error) {
	raw, ok := o.props[name]
	if !ok || !required && isNull(raw) {
		if required {
			return nil, o.missing(name)
		}
		return nil, nil
	}
	path := o.child(name)
	if kind(raw) != '[' {
		return nil, inputError(path + " must be array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errMalformed(err)
	}
	out := make([]object, len(items))
	for i, item := range items {
		obj, err := asObject(fmt.Sprintf("%s/%d", path, i), item)
		if err != nil {
			return nil, err
		}
		out[i] = obj
	}
	return out, nil
}

// readAllRequest is the optional body of POST /notifications/read-all.
type readAllRequest struct {
	filter notifications.Filter
}

// decodeReadAll decodes the optional read-all body: the list's filter
// fields (search, topic, saved, createdAfter, minimumSeverity) and before,
// a date that stops the marking at what the client has seen.
func decodeReadAll(body []byte) (readAllRequest, error) {
	var req readAllRequest
	if body == nil {
		return req, nil
	}
	root, err := bodyObject(body)
	if err != nil {
		return req, err
	}
	f := &req.filter
	if f.Search, err = root.str("search", false); err != nil {
		return req, err
	}
	if err := checkSearch(root.child("search"), f.Search); err != nil {
		return req, err
	}
	if f.Topic, err = root.str("topic", false); err != nil {
		return req, err
	}
	if f.Saved, err = root.boolean("saved", false); err != nil {
		return req, err
	}
	sev, err := root.str("minimumSeverity", false)
	if err != nil {
		return req, err
	}
	if _, set := root.present("minimumSeverity"); set {
		if !notifications.Severity(sev).Valid() {
			return req, inputError(root.child("minimumSeverity") + " must be equal to one of the allowed values: critical, high, normal, low")
		}
		f.MinimumSeverity = notifications.Severity(sev)
	}
	for _, d := range []struct {
		name string
		dst  **time.Time
	}{{"createdAfter", &f.CreatedAfter}, {"before", &f.CreatedBefore}} {
		s, err := root.str(d.name, false)
		if err != nil {
			return req, err
		}
		if s == "" {
			continue
		}
		if *d.dst, err = parseBound(root.child(d.name), s); err != nil {
			return req, err
		}
	}
	return req, nil
}
