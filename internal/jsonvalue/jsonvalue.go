// Package jsonvalue decodes JSON into plain Go values strictly: what
// Herald stores as JSON (notification metadata) must mean the same in
// SQLite and in PostgreSQL's jsonb, and read back as it was sent.
//
// Values decode as encoding/json decodes into any, except that numbers are
// json.Number, their literal, so no precision is lost: objects are
// map[string]any, arrays []any, then string, json.Number, bool and nil.
// Unlike encoding/json it refuses, instead of passing on silently, a key
// that appears twice in one object (encoding/json keeps the last, jsonb
// too), invalid UTF-8 in a string and a \u escape of a lone UTF-16
// surrogate (encoding/json turns both into U+FFFD; jsonb refuses the
// escape). It accepts \u0000: whether a NUL may be stored is for the
// caller's validation to say, with the path of the value.
package jsonvalue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays Decode accepts,
// encoding/json's own limit.
const MaxDepth = 10000

// Reasons a decode fails, matched with errors.Is on the *Error it returns.
var (
	ErrSyntax        = errors.New("jsonvalue: malformed JSON")
	ErrDuplicateKey  = errors.New("jsonvalue: duplicate key")
	ErrInvalidUTF8   = errors.New("jsonvalue: invalid UTF-8")
	ErrLoneSurrogate = errors.New("jsonvalue: lone UTF-16 surrogate escape")
	ErrTooDeep       = errors.New("jsonvalue: nested too deeply")
	ErrNotObject     = errors.New("jsonvalue: not an object")
)

// Error is a decode failure at a byte offset of the input. Its message
// says what is wrong in words meant for whoever wrote the JSON, without a
// package prefix, like encoding/json's SyntaxError.
type Error struct {
	// Offset is the byte offset where the problem was found.
	Offset int
	// Err is one of the Err* sentinels.
	Err error
	msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.Offset) }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Decode decodes data, which must hold exactly one JSON value (white space
// around it allowed).
func Decode(data []byte) (any, error) {
	d := decoder{data: data}
	d.space()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.space()
	if d.pos != len(d.data) {
		return nil, d.fail(ErrSyntax, "unexpected data after the JSON value")
	}
	return v, nil
}

// DecodeObject decodes data, which must hold exactly one JSON object.
func DecodeObject(data []byte) (map[string]any, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		d := decoder{data: data}
		d.space()
		return nil, d.fail(ErrNotObject, "the JSON value is not an object")
	}
	return m, nil
}

type decoder struct {
	data  []byte
	pos   int
	depth int
}

func (d *decoder) fail(sentinel error, format string, args ...any) error {
	return &Error{Offset: d.pos, Err: sentinel, msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.fail(ErrSyntax, "unexpected end of JSON input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.string()
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, d.fail(ErrSyntax, "invalid character %q looking for a value", c)
	}
}

func (d *decoder) literal(word string) error {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		return d.fail(ErrSyntax, "invalid literal, want %s", word)
	}
	d.pos += len(word)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return d.fail(ErrTooDeep, "nested deeper than %d levels", MaxDepth)
	}
	return nil
}

func (d *decoder) object() (any, error) {
	m := map[string]any{}
	err := d.items('}', "an object value", func() error {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return d.fail(ErrSyntax, "expected a string key")
		}
		keyAt := d.pos
		key, err := d.string()
		if err != nil {
			return err
		}
		if _, dup := m[key]; dup {
			d.pos = keyAt
			return d.fail(ErrDuplicateKey, "duplicate key %q", key)
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return d.fail(ErrSyntax, "expected ':' after an object key")
		}
		d.pos++
		d.space()
		v, err := d.value()
		if err != nil {
			return err
		}
		m[key] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (d *decoder) array() (any, error) {
	a := []any{}
	err := d.items(']', "an array element", func() error {
		v, err := d.value()
		if err != nil {
			return err
		}
		a = append(a, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// items reads the object or array that opens at d.pos and ends with end,
// calling item for each member or element, with d.pos at its first byte;
// what names one in errors. Objects and arrays differ only in their items.
func (d *decoder) items(end byte, what string, item func() error) error {
	if err := d.enter(); err != nil {
		return err
	}
	d.pos++ // { or [
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == end {
		d.pos++
		d.depth--
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		d.space()
		if d.pos >= len(d.data) {
			return d.fail(ErrSyntax, "unexpected end of JSON input")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.space()
		case end:
			d.pos++
			d.depth--
			return nil
		default:
			return d.fail(ErrSyntax, "expected ',' or '%c' after %s", end, what)
		}
	}
}

// string decodes the string literal at d.pos. Most strings are plain
// ASCII without escapes; they are sliced out without a builder.
func (d *decoder) string() (string, error) {
	start := d.pos + 1
	i := start
	for i < len(d.data) {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return string(d.data[start:i]), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	var b strings.Builder
	b.Write(d.data[start:i])
	for {
		if i >= len(d.data) {
			d.pos = i
			return "", d.fail(ErrSyntax, "unterminated string")
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return b.String(), nil
		case c < 0x20:
			d.pos = i
			return "", d.fail(ErrSyntax, "control character %q in a string", c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return "", d.fail(ErrInvalidUTF8, "invalid UTF-8 in a string")
			}
			b.Write(d.data[i : i+size])
			i += size
		case c != '\\':
			b.WriteByte(c)
			i++
		default:
			d.pos = i
			if i+1 >= len(d.data) {
				return "", d.fail(ErrSyntax, "unterminated string")
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, n, err := d.unicodeEscape(i)
				if err != nil {
					return "", err
				}
				b.WriteRune(r)
				i += n
				continue
			default:
				return "", d.fail(ErrSyntax, "invalid escape \\%c in a string", e)
			}
			i += 2
		}
	}
}

// unicodeEscape decodes the \uXXXX escape at i, with the low half that
// must follow a high surrogate, and returns the rune and the bytes read.
func (d *decoder) unicodeEscape(i int) (rune, int, error) {
	r, ok := hex4(d.data, i+2)
	if !ok {
		return 0, 0, d.fail(ErrSyntax, "invalid \\u escape in a string")
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if r >= 0xdc00 {
		return 0, 0, d.fail(ErrLoneSurrogate, "\\u%04x is a low surrogate without a high one", r)
	}
	if i+7 < len(d.data) && d.data[i+6] == '\\' && d.data[i+7] == 'u' {
		if lo, ok := hex4(d.data, i+8); ok && 0xdc00 <= lo && lo <= 0xdfff {
			return utf16.DecodeRune(r, lo), 12, nil
		}
	}
	return 0, 0, d.fail(ErrLoneSurrogate, "\\u%04x is a high surrogate without a low one", r)
}

func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number scans a JSON number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (d *decoder) number() (any, error) {
	start := d.pos
	i := d.pos
	if d.data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d.data) && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case digits() == 0:
		d.pos = i
		return nil, d.fail(ErrSyntax, "invalid number")
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if digits() == 0 {
			d.pos = i
			return nil, d.fail(ErrSyntax, "invalid number: no digit after the decimal point")
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.pos = i
			return nil, d.fail(ErrSyntax, "invalid number: no digit in the exponent")
		}
	}
	d.pos = i
	return json.Number(d.data[start:i]), nil
}
