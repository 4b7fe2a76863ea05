package entityref

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		kind     string
		wantErr  bool
	}{
		{in: "user:foo", want: "user:default/foo", kind: "user"},
		{in: "user:default/foo", want: "user:default/foo", kind: "user"},
		{in: "User:Default/Foo", want: "user:default/Foo", kind: "user"},
		{in: "group:team-a/platform", want: "group:team-a/platform", kind: "group"},
		{in: "component:my.service_1", want: "component:default/my.service_1", kind: "component"},
		{in: "foo", want: "default/foo", kind: ""},
		{in: "ns/foo", want: "ns/foo", kind: ""},
		{in: "", wantErr: true},
		{in: ":foo", wantErr: true},
		{in: "user:/foo", wantErr: true},
		{in: "user:", wantErr: true},
		{in: "user:ns/", wantErr: true},
		{in: "user:a/b/c", wantErr: true},
		{in: "user:a:b", wantErr: true},
		{in: "user:foo bar", wantErr: true},
		{in: "user:foo\n", wantErr: true},
		{in: "user:foo\x00", wantErr: true},
		{in: "user:caf\xc3", wantErr: true},
		{in: "\xffuser:foo", wantErr: true},
		{in: "user:café", want: "user:default/café", kind: "user"},
		{in: "user:" + strings.Repeat("x", MaxLength), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) = %v, %v; want an ErrSyntax error", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.String() != tt.want || got.Kind != tt.kind {
				t.Fatalf("Parse(%q) = %q (kind %q), want %q (kind %q)", tt.in, got, got.Kind, tt.want, tt.kind)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"user:foo", "group:ns/team", "foo", "a:b/c", ":", "/", "user:é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// Canonical output parses back to itself.
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", r.String(), s, err)
		}
		if again != r {
			t.Fatalf("Parse(%q) = %+v, but its canonical form parses to %+v", s, r, again)
		}
	})
}
