package notifications

import (
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/jsonvalue"
)

// The UnmarshalJSON methods decode with internal/jsonvalue, the decoder
// the store and the REST API use for metadata: numbers keep every digit
// (json.Number), and a duplicate key, invalid UTF-8 or a lone surrogate
// escape anywhere in the input is an error instead of being passed on
// changed. Wrong JSON types (a number for a title) are errors too, never
// coerced.

// jsonFields reads the members of one decoded JSON object by type. The
// first wrong type is kept in err; later reads return zero values.
type jsonFields struct {
	path string // "" at the top, "payload." inside
	m    map[string]any
	err  error
}

func decodeFields(data []byte, path string) (*jsonFields, error) {
	m, err := jsonvalue.DecodeObject(data)
	if err != nil {
		return nil, err
	}
	return &jsonFields{path: path, m: m}, nil
}

func (f *jsonFields) wrongType(name, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("%s%s: must be %s", f.path, name, want)
	}
}

// str returns a string member; absent and null read as "".
func (f *jsonFields) str(name string) string {
	s := f.optStr(name)
	if s == nil {
		return ""
	}
	return *s
}

// optStr returns a string member, nil when absent or null.
func (f *jsonFields) optStr(name string) *string {
	switch v := f.m[name].(type) {
	case nil:
		return nil
	case string:
		return &v
	}
	f.wrongType(name, "a string")
	return nil
}

// object returns an object member, nil when absent or null.
func (f *jsonFields) object(name string) map[string]any {
	switch v := f.m[name].(type) {
	case nil:
		return nil
	case map[string]any:
		return v
	}
	f.wrongType(name, "an object")
	return nil
}

// optTime returns a time member (an RFC 3339 string), nil when absent or
// null.
func (f *jsonFields) optTime(name string) *time.Time {
	s := f.optStr(name)
	if s == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		if f.err == nil {
			f.err = fmt.Errorf("%s%s: %q is not an RFC 3339 time", f.path, name, *s)
		}
		return nil
	}
	t = t.UTC()
	return &t
}

// refs returns a member that is one string or an array of strings, nil
// when absent or null.
func (f *jsonFields) refs(name string) []string {
	switch v := f.m[name].(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []any:
		out := make([]string, len(v))
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				f.wrongType(name, "a string or an array of strings")
				return nil
			}
			out[i] = s
		}
		return out
	}
	f.wrongType(name, "a string or an array of strings")
	return nil
}

func isJSONNull(data []byte) bool {
	for len(data) > 0 && (data[0] == ' ' || data[0] == '\t' || data[0] == '\n' || data[0] == '\r') {
		data = data[1:]
	}
	for len(data) > 0 && (data[len(data)-1] == ' ' || data[len(data)-1] == '\t' || data[len(data)-1] == '\n' || data[len(data)-1] == '\r') {
		data = data[:len(data)-1]
	}
	return string(data) == "null"
}

func payloadFromFields(f *jsonFields) Payload {
	return Payload{
		Title: f.str("title"), Description: f.str("description"), Link: f.str("link"),
		Severity: Severity(f.str("severity")), Topic: f.str("topic"), Scope: f.str("scope"),
		Icon: f.str("icon"), Metadata: f.object("metadata"),
	}
}

// UnmarshalJSON decodes a payload in either form MarshalJSON and
// Notification.MarshalJSON write, with absent or null fields left empty.
// Metadata numbers decode as json.Number. It refuses wrong JSON types (a
// number for title) rather than coercing them, as Backstage's request
// validator does, and input that jsonvalue refuses.
func (p *Payload) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		return nil
	}
	f, err := decodeFields(data, "")
	if err != nil {
		return err
	}
	out := payloadFromFields(f)
	if f.err != nil {
		return f.err
	}
	*p = out
	return nil
}

// UnmarshalJSON decodes either form MarshalJSON and Compact write, as
// strictly as Payload.UnmarshalJSON.
func (n *Notification) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		return nil
	}
	f, err := decodeFields(data, "")
	if err != nil {
		return err
	}
	out := Notification{
		ID: f.str("id"), User: f.str("user"), Origin: f.str("origin"),
		Saved: f.optTime("saved"), Read: f.optTime("read"), Updated: f.optTime("updated"),
		Seen: f.optTime("seen"), Archived: f.optTime("archived"), SnoozedUntil: f.optTime("snoozedUntil"),
	}
	if created := f.optTime("created"); created != nil {
		out.Created = *created
	}
	if p := f.object("payload"); p != nil {
		pf := &jsonFields{path: "payload.", m: p}
		out.Payload = payloadFromFields(pf)
		if f.err == nil {
			f.err = pf.err
		}
	}
	if f.err != nil {
		return f.err
	}
	*n = out
	return nil
}

// UnmarshalJSON accepts each ref field as a string or an array of
// strings, as strictly as Payload.UnmarshalJSON.
func (r *Recipients) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		return nil
	}
	f, err := decodeFields(data, "")
	if err != nil {
		return err
	}
	out := Recipients{Type: RecipientType(f.str("type")), EntityRefs: f.refs("entityRef"), ExcludeEntityRefs: f.refs("excludeEntityRef")}
	if f.err != nil {
		return f.err
	}
	*r = out
	return nil
}
