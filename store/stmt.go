package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"github.com/heraldhq/herald/notifications"
)

// stmt builds one statement: its text with bun's "?" placeholders, and the
// values they stand for. bun's dialect writes the values in when the
// statement runs (bun interpolates on the client, as it does for its own
// queries), so quoting is bun's, not ours. Every statement but the
// fan-out insert is built this way; that one writes its literals itself
// (sqlBuf) because it has over a hundred thousand values.
//
// Text values are checked first: a NUL byte (which PostgreSQL text cannot
// hold) or invalid UTF-8 (which bun would silently replace with U+FFFD) is
// refused with notifications.ErrInvalid on both databases.
type stmt struct {
	b    []byte
	args []any
	d    dialect
	err  error
	// few holds the arguments of most statements without another
	// allocation.
	few [8]any
}

// statement is what the run helpers take: a stmt, or the fan-out's sqlBuf.
type statement interface {
	// sql returns the finished statement, its values written in by gen,
	// or the error found while building it.
	sql(gen schema.QueryGen) (string, error)
}

// errNUL and errUTF8 are wrapped with notifications.ErrInvalid.
var (
	errNUL  = errors.New("text contains a NUL byte")
	errUTF8 = errors.New("text is not valid UTF-8")
)

// checkText refuses what no store keeps as given.
func checkText(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %w", notifications.ErrInvalid, errNUL)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %w", notifications.ErrInvalid, errUTF8)
	}
	return nil
}

func newStmt(d dialect, capacity int) *stmt {
	q := &stmt{b: make([]byte, 0, capacity), d: d}
	q.args = q.few[:0]
	return q
}

// sql has bun's query generator write the values in, as bun's
// QueryContext would, but into a buffer sized for the result: the
// statement then goes to bun with no arguments, which bun passes through.
// The strings share their bytes with the buffers, which are never written
// again (see sqlBuf.String).
func (q *stmt) sql(gen schema.QueryGen) (string, error) {
	if q.err != nil {
		return "", q.err
	}
	text := unsafe.String(unsafe.SliceData(q.b), len(q.b))
	if len(q.args) == 0 {
		return text, nil
	}
	b := gen.AppendQuery(make([]byte, 0, len(q.b)+32*len(q.args)), text, q.args...)
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// raw appends SQL text. A "?" followed by a letter or digit would be read
// by bun as a named or numbered placeholder, so a placeholder is always
// followed by something else.
func (q *stmt) raw(s string) *stmt {
	if len(s) > 0 && len(q.b) > 0 && q.b[len(q.b)-1] == '?' && isIdentByte(s[0]) {
		q.b = append(q.b, ' ')
	}
	q.b = append(q.b, s...)
	return q
}

func isIdentByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// arg appends a placeholder for v.
func (q *stmt) arg(v any) *stmt {
	q.b = append(q.b, '?')
	q.args = append(q.args, v)
	return q
}

func (q *stmt) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

func (q *stmt) str(s string) *stmt {
	if err := checkText(s); err != nil {
		q.fail(err)
	}
	return q.arg(s)
}

// optStr writes NULL for "": empty optional fields are stored as NULL.
func (q *stmt) optStr(s string) *stmt {
	if s == "" {
		return q.raw("NULL")
	}
	return q.str(s)
}

// strList writes (?) for the list ss, which is never empty.
func (q *stmt) strList(ss []string) *stmt {
	for _, s := range ss {
		if err := checkText(s); err != nil {
			q.fail(err)
			break
		}
	}
	q.raw("(")
	return q.arg(bun.List(ss)).raw(")")
}

func (q *stmt) int(n int) *stmt { return q.arg(n) }

func (q *stmt) bool(v bool) *stmt { return q.arg(v) }

// json writes encoded JSON (or NULL for "", a nil map) as text; the
// PostgreSQL column is jsonb and takes it by assignment.
func (q *stmt) json(js string) *stmt {
	if js == "" {
		return q.raw("NULL")
	}
	return q.str(js)
}

// time writes t, truncated to the millisecond, as a time-column value.
func (q *stmt) time(t time.Time) *stmt { return q.arg(q.d.timeArg(ms(t))) }

func (q *stmt) optTime(t *time.Time) *stmt {
	if t == nil {
		return q.raw(q.d.nullTime())
	}
	return q.time(*t)
}

// pgTime is a time-column value for PostgreSQL, epoch milliseconds: bun
// has it write itself as a timestamptz literal. The cast matters where
// nothing else gives the literal a type (a SELECT list feeding an
// INSERT).
type pgTime int64

var _ schema.QueryAppender = pgTime(0)

// AppendQuery implements schema.QueryAppender.
func (t pgTime) AppendQuery(_ schema.QueryGen, b []byte) ([]byte, error) {
	return postgresDialect{}.appendTime(b, time.UnixMilli(int64(t))), nil
}
