package jsonvalue

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want any
	}{
		{`{}`, map[string]any{}},
		{` {"a" : 1 , "b":[true,false,null,"x"]} `, map[string]any{"a": json.Number("1"), "b": []any{true, false, nil, "x"}}},
		{`{"big":12345678901234567890123}`, map[string]any{"big": json.Number("12345678901234567890123")}},
		{`[-0, 0.5, 1e3, 1E-3, -1.25e+10]`, []any{json.Number("-0"), json.Number("0.5"), json.Number("1e3"), json.Number("1E-3"), json.Number("-1.25e+10")}},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"\u00e9\u20AC\ud83d\ude00"`, "é€😀"},
		{`"é€😀"`, "é€😀"},
		{`"a\u0000b"`, "a\x00b"},
		{`{"\u0061":1,"b":{"a":2}}`, map[string]any{"a": json.Number("1"), "b": map[string]any{"a": json.Number("2")}}},
		{`[]`, []any{}},
		{`"\ufffd"`, "\ufffd"}, // an escaped replacement character is a character like any other
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("Decode(%s): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   error
		offset int
	}{
		{`{"a":1,"a":2}`, ErrDuplicateKey, 7},
		{`{"a":1,"\u0061":2}`, ErrDuplicateKey, 7},
		{`{"x":{"a":1,"a":1}}`, ErrDuplicateKey, 12},
		{"\"\xff\"", ErrInvalidUTF8, 1},
		{"{\"k\xc3\":1}", ErrInvalidUTF8, 3},
		{"\"\xed\xa0\x80\"", ErrInvalidUTF8, 1}, // a surrogate encoded in UTF-8
		{`"\ud800"`, ErrLoneSurrogate, 1},
		{`"\udc00"`, ErrLoneSurrogate, 1},
		{`"\ud800\u0041"`, ErrLoneSurrogate, 1},
		{`"\ud800\ud800"`, ErrLoneSurrogate, 1},
		{`"x\ud83dx"`, ErrLoneSurrogate, 2},
		{``, ErrSyntax, 0},
		{`   `, ErrSyntax, 3},
		{`{`, ErrSyntax, 1},
		{`{"a"}`, ErrSyntax, 4},
		{`{"a":}`, ErrSyntax, 5},
		{`{"a":1,}`, ErrSyntax, 7},
		{`{a:1}`, ErrSyntax, 1},
		{`[1,]`, ErrSyntax, 3},
		{`[1 2]`, ErrSyntax, 3},
		{`01`, ErrSyntax, 1},
		{`1.`, ErrSyntax, 2},
		{`1e`, ErrSyntax, 2},
		{`-`, ErrSyntax, 1},
		{`+1`, ErrSyntax, 0},
		{`.5`, ErrSyntax, 0},
		{`NaN`, ErrSyntax, 0},
		{`tru`, ErrSyntax, 0},
		{`nul`, ErrSyntax, 0},
		{`"a`, ErrSyntax, 2},
		{"\"a\tb\"", ErrSyntax, 2},
		{`"\x"`, ErrSyntax, 1},
		{`"\u12"`, ErrSyntax, 1},
		{`{} {}`, ErrSyntax, 3},
		{`{}x`, ErrSyntax, 2},
		{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), ErrTooDeep, MaxDepth},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in))
		var e *Error
		if !errors.Is(err, tt.want) || !errors.As(err, &e) {
			t.Errorf("Decode(%.40q) = %v, want %v", tt.in, err, tt.want)
			continue
		}
		if e.Offset != tt.offset {
			t.Errorf("Decode(%.40q): offset %d, want %d (%v)", tt.in, e.Offset, tt.offset, err)
		}
		if strings.HasPrefix(err.Error(), "jsonvalue:") || !strings.Contains(err.Error(), "at offset") {
			t.Errorf("Decode(%.40q): message %q, want words for the writer and an offset", tt.in, err)
		}
	}
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Decode([]byte(deep)); err != nil {
		t.Errorf("nesting of exactly MaxDepth: %v", err)
	}
}

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	m, err := DecodeObject([]byte(` {"a":[1]} `))
	if err != nil || !reflect.DeepEqual(m, map[string]any{"a": []any{json.Number("1")}}) {
		t.Fatalf("DecodeObject = %#v, %v", m, err)
	}
	for _, in := range []string{`[]`, `"x"`, `1`, `null`, ` true`} {
		if _, err := DecodeObject([]byte(in)); !errors.Is(err, ErrNotObject) {
			t.Errorf("DecodeObject(%s) = %v, want ErrNotObject", in, err)
		}
	}
	if _, err := DecodeObject([]byte(`[`)); !errors.Is(err, ErrSyntax) {
		t.Errorf("DecodeObject([) = %v, want the syntax error", err)
	}
}

// FuzzDecode checks Decode against encoding/json: whatever it accepts is
// valid JSON holding the same values, and what encoding/json takes without
// changing it (valid UTF-8, no surrogate escapes, no duplicate keys) it
// accepts too.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,null,"x"],"c":{"d":-1.5e+3}}`, `"\u00e9\ud83d\ude00"`, `{"a":1,"a":2}`,
		"\"\xff\"", `"\ud800"`, `[1,2`, `0`, `-0.0e-0`, `"\u0000"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		stdErr := dec.Decode(&want)
		if stdErr == nil && dec.More() {
			stdErr = errors.New("more than one value")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(data) {
				t.Fatalf("error %v is not an *Error with an offset inside the input", err)
			}
			if errors.Is(err, ErrSyntax) && json.Valid(data) {
				t.Fatalf("syntax error %v on valid JSON %q", err, data)
			}
			if stdErr == nil && errors.Is(err, ErrTooDeep) {
				t.Fatalf("too deep for Decode but not for encoding/json: %q", data)
			}
			return
		}
		if !json.Valid(data) || stdErr != nil {
			t.Fatalf("accepted invalid JSON %q (%v)", data, stdErr)
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %#v, encoding/json says %#v", data, got, want)
		}
	})
}
