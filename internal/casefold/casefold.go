// Package casefold folds text for Herald's case-insensitive search: both
// stores keep each notification's title and description folded, and fold
// the search term the same way, so a search matches the same rows on
// every database whatever its collation or locale.
//
// The folding is Unicode simple case folding, the equivalence
// strings.EqualFold and unicode.SimpleFold use: "ÄRGER" and "ärger", "ẞ"
// and "ß", "Σ", "σ" and "ς", "K" (the Kelvin sign), "K" and "k" fold
// alike. Every character folds to exactly one character, so folding keeps
// a string's length in characters (not in bytes). Full folding's
// expansions ("ß" to "ss") are not made, and no language's special rules
// apply: the Turkish "ı" and "İ" are letters of their own, neither of
// which folds to "i".
package casefold

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every character replaced by its case fold: for
// two strings of the same length in characters, String(a) == String(b)
// exactly when strings.EqualFold(a, b). Bytes that are not valid UTF-8
// are kept as they are, so invalid text stays invalid. String returns s
// itself when nothing in it folds.
func String(s string) string {
	i := foldsAt(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteByte(c)
		} else {
			b.WriteRune(Rune(r))
		}
		i += size
	}
	return b.String()
}

// foldsAt is the index of the first byte of s that String may change, or
// -1: the ASCII letters A to Z and every non-ASCII character.
func foldsAt(s string) int {
	for i := range len(s) {
		if c := s[i]; 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf {
			return i
		}
	}
	return -1
}

// Rune returns r's case fold: the same rune for every member of r's
// orbit under unicode.SimpleFold, and a member of it; r itself when r has
// no other case.
func Rune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	next := unicode.SimpleFold(r)
	if next == r {
		return r
	}
	// The lower case of the upper case is the fold of nearly every orbit
	// ("ς" and "σ" both give "σ"); where it leaves the orbit (the upper
	// case of "ı" is "I", whose lower case "i" is not "ı"'s equal under
	// simple folding), the orbit's smallest member stands for it.
	f := unicode.ToLower(unicode.ToUpper(r))
	smallest := r
	for c := next; c != r; c = unicode.SimpleFold(c) {
		if c == f {
			return f
		}
		smallest = min(smallest, c)
	}
	if f == r {
		return f
	}
	return smallest
}
