package casefold_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/heraldhq/herald/internal/casefold"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"already folded", "already folded"},
		{"Build FAILED", "build failed"},
		{"ÄRGER", "ärger"},
		{"Straße STRAẞE", "straße straße"},
		{"ΚΟΣΜΟΣ κόσμος", "κοσμοσ κόσμοσ"},
		{"\u212A", "k"}, // the Kelvin sign
		{"ſ", "s"},      // the long s
		{"İı Iİ", "İı iİ"},
		{"ǅ ǈ", "ǆ ǉ"}, // title-case digraphs
		{"Ⱥ", "ⱥ"},     // one character, three bytes from two
		{"100% a_b", "100% a_b"},
		{"a\xffB", "a\xffb"}, // invalid UTF-8 kept
		{"\xed\xa0\x80É", "\xed\xa0\x80é"},
	} {
		if got := casefold.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRuneIsSimpleFolding checks every rune: its fold is a member of its
// orbit under unicode.SimpleFold, and the same for every member, so two
// strings fold alike exactly when strings.EqualFold says they are equal.
func TestRuneIsSimpleFolding(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		f := casefold.Rune(r)
		inOrbit := f == r
		for c := unicode.SimpleFold(r); c != r; c = unicode.SimpleFold(c) {
			inOrbit = inOrbit || c == f
			if g := casefold.Rune(c); g != f {
				t.Fatalf("Rune(%U) = %U but Rune(%U) = %U: one orbit, two folds", r, f, c, g)
			}
		}
		if !inOrbit {
			t.Fatalf("Rune(%U) = %U, not in its orbit", r, f)
		}
		if s := string(r); utf8.ValidRune(r) && !strings.EqualFold(casefold.String(s), s) {
			t.Fatalf("String(%q) = %q, not EqualFold", s, casefold.String(s))
		}
	}
}

// TestStringKeepsLength checks that folding keeps the length in
// characters, which the search length limit counts.
func TestStringKeepsLength(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if utf8.ValidRune(r) {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if got, want := utf8.RuneCountInString(casefold.String(s)), utf8.RuneCountInString(s); got != want {
		t.Errorf("String of every rune: %d characters, want %d", got, want)
	}
}

func TestStringUnchangedIsSame(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("nothing to fold here, 100% ", 4)
	if got := casefold.String(s); unsafeData(got) != unsafeData(s) {
		t.Error("String of folded text copied it")
	}
}

func unsafeData(s string) *byte { return unsafe.StringData(s) }

func BenchmarkString(b *testing.B) {
	for _, s := range []string{"build failed on main", "Build FAILED on main", "Ärger über den Build auf main"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				casefold.String(s)
			}
		})
	}
}
