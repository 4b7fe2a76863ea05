package notifications

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The encoders below write what encoding/json writes for the wire structs
// these types had before (storedNotification, sentNotification,
// wirePayload; kept in notification_json_test.go as the oracle), byte for
// byte, without reflection and without encoding/json's second pass over
// each MarshalJSON result: on a list of 20 they were most of the REST
// handler's encoding cost. Whatever they do not know how to write (a
// metadata value of a type other than those JSON decodes to) goes through
// json.Marshal, so the output and the errors stay encoding/json's.

// appendJSON appends n in its stored form, Notification.MarshalJSON's.
// It fails only on metadata encoding/json cannot encode.
func (n Notification) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, n.ID)
	b = append(b, `,"user":`...)
	b = appendNullable(b, n.User)
	b = append(b, `,"created":`...)
	b = appendTime(b, n.Created)
	b = append(b, `,"saved":`...)
	b = appendOptTime(b, n.Saved)
	b = append(b, `,"read":`...)
	b = appendOptTime(b, n.Read)
	b = append(b, `,"updated":`...)
	b = appendOptTime(b, n.Updated)
	b = append(b, `,"origin":`...)
	b = appendString(b, n.Origin)

	p := &n.Payload
	b = append(b, `,"payload":{"title":`...)
	b = appendString(b, p.Title)
	b = append(b, `,"description":`...)
	b = appendNullable(b, p.Description)
	b = append(b, `,"link":`...)
	b = appendNullable(b, p.Link)
	b = append(b, `,"severity":`...)
	b = appendString(b, string(p.Severity.OrDefault()))
	b = append(b, `,"topic":`...)
	b = appendNullable(b, p.Topic)
	b = append(b, `,"scope":`...)
	b = appendNullable(b, p.Scope)
	b = append(b, `,"icon":`...)
	b = appendNullable(b, p.Icon)
	b, err := appendMetadataField(b, p.Metadata)
	if err != nil {
		return nil, err
	}

	b = append(b, `},"seen":`...)
	b = appendOptTime(b, n.Seen)
	b = append(b, `,"archived":`...)
	b = appendOptTime(b, n.Archived)
	b = append(b, `,"snoozedUntil":`...)
	b = appendOptTime(b, n.SnoozedUntil)
	return append(b, '}'), nil
}

// appendCompactJSON appends n in the compact form Compact's MarshalJSON
// writes: unset times and payload fields absent, severity defaulted.
func (n Notification) appendCompactJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendString(b, n.ID)
	b = append(b, `,"user":`...)
	b = appendNullable(b, n.User)
	b = append(b, `,"created":`...)
	b = appendTime(b, n.Created)
	b = appendOptTimeField(b, `,"saved":`, n.Saved)
	b = appendOptTimeField(b, `,"read":`, n.Read)
	b = appendOptTimeField(b, `,"updated":`, n.Updated)
	b = append(b, `,"origin":`...)
	b = appendString(b, n.Origin)
	b = append(b, `,"payload":`...)
	b, err := n.Payload.appendWireJSON(b, n.Payload.Severity.OrDefault())
	if err != nil {
		return nil, err
	}
	b = appendOptTimeField(b, `,"seen":`, n.Seen)
	b = appendOptTimeField(b, `,"archived":`, n.Archived)
	b = appendOptTimeField(b, `,"snoozedUntil":`, n.SnoozedUntil)
	return append(b, '}'), nil
}

// appendWireJSON appends p as a request carries it, unset fields absent,
// with severity sev (absent when empty).
func (p *Payload) appendWireJSON(b []byte, sev Severity) ([]byte, error) {
	b = append(b, `{"title":`...)
	b = appendString(b, p.Title)
	b = appendStringField(b, `,"description":`, p.Description)
	b = appendStringField(b, `,"link":`, p.Link)
	b = appendStringField(b, `,"severity":`, string(sev))
	b = appendStringField(b, `,"topic":`, p.Topic)
	b = appendStringField(b, `,"scope":`, p.Scope)
	b = appendStringField(b, `,"icon":`, p.Icon)
	b, err := appendMetadataField(b, p.Metadata)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// jsonSizeHint is about how many bytes n's stored form takes, so that
// MarshalJSON allocates once for a typical notification.
func (n *Notification) jsonSizeHint() int {
	p := &n.Payload
	// The names, punctuation and seven times or nulls come to about 330.
	return 384 + len(n.ID) + len(n.User) + len(n.Origin) + len(p.Title) + len(p.Description) + len(p.Link) +
		len(p.Topic) + len(p.Scope) + len(p.Icon) + 48*len(p.Metadata)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

func appendStringField(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, name...), s)
}

func appendOptTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendTime(b, *t)
}

func appendOptTimeField(b []byte, name string, t *time.Time) []byte {
	if t == nil {
		return b
	}
	return appendTime(append(b, name...), *t)
}

// appendTime appends t quoted in timeLayout. Years 0 to 9999 are written
// digit by digit (AppendFormat parses the layout on every call); others
// take AppendFormat, which the layout defines.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		b = append(b, '"')
		b = t.AppendFormat(b, timeLayout)
		return append(b, '"')
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(b, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

// appendMetadataField appends `,"metadata":{...}` unless m is empty, as
// omitempty does.
func appendMetadataField(b []byte, m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return b, nil
	}
	return appendObject(append(b, `,"metadata":`...), m, 0)
}

// maxAppendDepth is how deep appendValue nests before it hands the rest
// to json.Marshal: far beyond MaxMetadataDepth, so valid metadata never
// gets there, and it leaves a cycle (which only an in-process caller can
// build) to encoding/json's detection and error.
const maxAppendDepth = 2 * MaxMetadataDepth

// appendValue appends v as encoding/json encodes it inside a
// map[string]any: the types jsonvalue and encoding/json decode to, and
// the common Go scalars, by hand; anything else by json.Marshal.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case json.Number:
		s := string(v)
		if s == "" {
			s = "0" // encoding/json writes the zero Number as 0
		}
		if !isValidNumber(s) {
			break // json.Marshal words the error
		}
		return append(b, s...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if depth < maxAppendDepth {
			return appendObject(b, v, depth+1)
		}
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if depth < maxAppendDepth {
			b = append(b, '[')
			for i, item := range v {
				if i > 0 {
					b = append(b, ',')
				}
				var err error
				if b, err = appendValue(b, item, depth+1); err != nil {
					return nil, err
				}
			}
			return append(b, ']'), nil
		}
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			return appendFloat(b, v), nil
		}
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// appendObject appends m with its keys sorted, as encoding/json does.
func appendObject(b []byte, m map[string]any, depth int) ([]byte, error) {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, m[k], depth); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendFloat writes f as encoding/json does for a float64: like
// JavaScript, exponent form below 1e-6 and from 1e21, with no padded
// exponent.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// isValidNumber reports whether s is a JSON number literal (RFC 8259),
// the check encoding/json makes before writing a json.Number.
func isValidNumber(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	switch {
	case s == "":
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = skipDigits(s[1:])
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		s = skipDigits(s[2:])
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		s = skipDigits(s)
	}
	return s == ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func skipDigits(s string) string {
	for s != "" && isDigit(s[0]) {
		s = s[1:]
	}
	return s
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as json.Marshal does: \" \\ \b \f \n \r
// \t, other control bytes as \u00XX, <, > and & as \u003c \u003e \u0026
// (HTML-safe), U+2028 and U+2029 escaped, and each byte of invalid UTF-8
// as \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
