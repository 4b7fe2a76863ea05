package rest

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text rules at the HTTP boundary. Every string a request carries (query
// values, JSON strings and JSON property names) must be valid UTF-8 and
// hold no NUL character. PostgreSQL refuses both in text and jsonb while
// SQLite stores them, so the two stores can only answer alike if neither
// ever sees them; and encoding/json would silently turn invalid UTF-8 and
// lone surrogate escapes ("\ud800") into U+FFFD, changing the data. They
// are refused here instead, naming the parameter or the body path.

const (
	ruleUTF8      = "must be valid UTF-8"
	ruleSurrogate = "must be valid UTF-8 (it holds a lone surrogate escape)"
	ruleNUL       = "must not contain a NUL character"
)

// textProblem returns the rule s breaks, or "".
func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return ruleUTF8
	case strings.IndexByte(s, 0) >= 0:
		return ruleNUL
	}
	return ""
}

// checkJSONText walks data, a well-formed JSON value (json.Valid holds),
// and refuses the first string or property name that breaks a text rule,
// naming it by its path under root ("request/body/payload/title").
func checkJSONText(root string, data []byte) error {
	s := textScanner{data: data, root: root}
	s.path = s.few[:0]
	return s.value()
}

// textScanner walks well-formed JSON without decoding it, so that it sees
// the bytes encoding/json would have replaced.
type textScanner struct {
	data []byte
	pos  int
	// root and path say where the value at pos sits: path holds one step
	// per enclosing property or element, spelled out only for an error
	// (decoding every property name and joining every path up front was
	// most of a send body's check, perf).
	root string
	path []pathStep
	few  [8]pathStep
}

// pathStep is a property, by its name's JSON literal (quotes included,
// still encoded), or an element, by its index when prop is nil.
type pathStep struct {
	prop  []byte
	index int
}

// where spells the path of the value at pos.
func (s *textScanner) where() string {
	var b strings.Builder
	b.WriteString(s.root)
	for _, step := range s.path {
		b.WriteByte('/')
		if step.prop == nil {
			b.WriteString(strconv.Itoa(step.index))
			continue
		}
		var name string
		_ = json.Unmarshal(step.prop, &name) // a valid literal: checked before
		b.WriteString(name)
	}
	return b.String()
}

func (s *textScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// value checks the value at s.pos and moves past it.
func (s *textScanner) value() error {
	s.skipSpace()
	switch s.data[s.pos] {
	case '{':
		s.pos++
		for {
			s.skipSpace()
			switch s.data[s.pos] {
			case '}':
				s.pos++
				return nil
			case ',':
				s.pos++
				s.skipSpace()
			}
			start := s.pos
			if problem := s.str(); problem != "" {
				return inputError(s.where() + " property names " + problem)
			}
			s.path = append(s.path, pathStep{prop: s.data[start:s.pos]})
			s.skipSpace()
			s.pos++ // ':'
			if err := s.value(); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
		}
	case '[':
		s.pos++
		for i := 0; ; i++ {
			s.skipSpace()
			switch s.data[s.pos] {
			case ']':
				s.pos++
				return nil
			case ',':
				s.pos++
			}
			s.path = append(s.path, pathStep{index: i})
			if err := s.value(); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
		}
	case '"':
		if problem := s.str(); problem != "" {
			return inputError(s.where() + " " + problem)
		}
		return nil
	}
	// A number, true, false or null.
	for s.pos < len(s.data) && !strings.ContainsRune(",]} \t\r\n", rune(s.data[s.pos])) {
		s.pos++
	}
	return nil
}

// str moves past the string literal at s.pos and returns the rule its
// content breaks, or "".
func (s *textScanner) str() string {
	s.pos++ // opening quote
	problem := ""
	note := func(p string) {
		if problem == "" {
			problem = p
		}
	}
	for {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return problem
		case c == '\\':
			if s.data[s.pos+1] != 'u' {
				s.pos += 2
				continue
			}
			r := s.hex4(s.pos + 2)
			s.pos += 6
			switch {
			case r == 0:
				note(ruleNUL)
			case 0xD800 <= r && r < 0xDC00: // a high surrogate needs a low one next
				if s.pos+6 <= len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
					if low := s.hex4(s.pos + 2); 0xDC00 <= low && low < 0xE000 {
						s.pos += 6
						continue
					}
				}
				note(ruleSurrogate)
			case 0xDC00 <= r && r < 0xE000:
				note(ruleSurrogate)
			}
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size == 1 {
				note(ruleUTF8)
			}
			s.pos += size
		}
	}
}

// hex4 reads the four hexadecimal digits at i.
func (s *textScanner) hex4(i int) rune {
	var r rune
	for _, c := range s.data[i : i+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
