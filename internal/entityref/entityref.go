// Package entityref parses and canonicalises Backstage entity references of
// the form [kind:][namespace/]name.
package entityref

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultNamespace is the namespace of a ref that names none.
const DefaultNamespace = "default"

// MaxLength is the longest ref accepted, matching the varchar(255) columns
// that store user refs.
const MaxLength = 255

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("entityref: malformed entity ref")

// Ref is a parsed entity ref. Kind is empty when the input named none.
type Ref struct {
	Kind, Namespace, Name string
}

// Parse splits s into kind, namespace and name. Kind and namespace are
// lower-cased and the namespace defaults to "default"; the name keeps its
// case. An empty part around a separator, white space or a control
// character (NUL among them), invalid UTF-8, or a ref longer than
// MaxLength (as given or in canonical form) is an error wrapping ErrSyntax.
func Parse(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty", ErrSyntax)
	}
	if len(s) > MaxLength {
		return Ref{}, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, MaxLength)
	}
	if !utf8.ValidString(s) {
		return Ref{}, fmt.Errorf("%w: %q is not valid UTF-8", ErrSyntax, s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return Ref{}, fmt.Errorf("%w: %q contains white space or a control character", ErrSyntax, s)
		}
	}
	var ref Ref
	rest := s
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		ref.Kind, rest = strings.ToLower(rest[:i]), rest[i+1:]
		if ref.Kind == "" {
			return Ref{}, fmt.Errorf("%w: %q has an empty kind", ErrSyntax, s)
		}
	}
	ref.Namespace = DefaultNamespace
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		ref.Namespace, rest = strings.ToLower(rest[:i]), rest[i+1:]
		if ref.Namespace == "" {
			return Ref{}, fmt.Errorf("%w: %q has an empty namespace", ErrSyntax, s)
		}
	}
	if rest == "" {
		return Ref{}, fmt.Errorf("%w: %q has an empty name", ErrSyntax, s)
	}
	if strings.ContainsAny(rest, ":/") {
		return Ref{}, fmt.Errorf("%w: %q has a stray ':' or '/' in its name", ErrSyntax, s)
	}
	ref.Name = rest
	// The limit holds for the canonical form too, which may be longer
	// than the input (a namespace added, a kind or namespace whose
	// lower case takes more bytes): what Parse accepts, its own output
	// must parse again.
	if n := len(ref.String()); n > MaxLength {
		return Ref{}, fmt.Errorf("%w: canonical form is %d bytes, longer than %d", ErrSyntax, n, MaxLength)
	}
	return ref, nil
}

// String returns the canonical form kind:namespace/name, or namespace/name
// when the ref has no kind.
func (r Ref) String() string {
	if r.Kind == "" {
		return r.Namespace + "/" + r.Name
	}
	return r.Kind + ":" + r.Namespace + "/" + r.Name
}

// IsUser reports whether the ref is of kind user.
func (r Ref) IsUser() bool { return r.Kind == "user" }

// Canonical parses s and returns its canonical string.
func Canonical(s string) (string, error) {
	r, err := Parse(s)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}
