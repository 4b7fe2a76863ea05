package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/heraldhq/herald/notifications"
)

// sqlBuf builds one statement with its values written as SQL literals.
//
// bun formats every query this way: it interpolates arguments on the
// client and hands the driver a finished string with no parameters. Doing
// it here directly, with typed appends, skips boxing each value into an
// interface (a fan-out insert has over a hundred thousand of them) while
// bun's QueryContext/ExecContext still run the statement, with its hooks.
// A statement with no arguments passes through bun's formatter untouched,
// so a '?' inside a value is never mistaken for a placeholder.
//
// Strings are quoted by doubling single quotes, which is exact in SQLite
// and in PostgreSQL with standard_conforming_strings on (the default since
// 9.1). A NUL byte cannot be stored in PostgreSQL text and is refused on
// both databases.
type sqlBuf struct {
	b   []byte
	d   dialect
	err error
}

// errNUL is wrapped with notifications.ErrInvalid.
var errNUL = errors.New("text contains a NUL byte")

func newSQL(d dialect, capacity int) *sqlBuf {
	return &sqlBuf{b: make([]byte, 0, capacity), d: d}
}

func (q *sqlBuf) raw(s string) *sqlBuf {
	q.b = append(q.b, s...)
	return q
}

func (q *sqlBuf) str(s string) *sqlBuf {
	if strings.IndexByte(s, 0) >= 0 {
		if q.err == nil {
			q.err = fmt.Errorf("%w: %w", notifications.ErrInvalid, errNUL)
		}
		q.b = append(q.b, "NULL"...)
		return q
	}
	q.b = append(q.b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		q.b = append(q.b, s[:i+1]...)
		q.b = append(q.b, '\'')
		s = s[i+1:]
	}
	q.b = append(q.b, s...)
	q.b = append(q.b, '\'')
	return q
}

// optStr writes NULL for "": empty optional fields are stored as NULL.
func (q *sqlBuf) optStr(s string) *sqlBuf {
	if s == "" {
		q.b = append(q.b, "NULL"...)
		return q
	}
	return q.str(s)
}

func (q *sqlBuf) int(n int) *sqlBuf {
	q.b = strconv.AppendInt(q.b, int64(n), 10)
	return q
}

func (q *sqlBuf) bool(v bool) *sqlBuf {
	if v {
		q.b = append(q.b, "TRUE"...)
	} else {
		q.b = append(q.b, "FALSE"...)
	}
	return q
}

func (q *sqlBuf) time(t time.Time) *sqlBuf {
	q.b = q.d.appendTime(q.b, t)
	return q
}

func (q *sqlBuf) optTime(t *time.Time) *sqlBuf {
	if t == nil {
		q.b = append(q.b, q.d.nullTime()...)
		return q
	}
	return q.time(ms(*t))
}

// json writes encoded JSON (or NULL for "", a nil map) as a text
// literal; the PostgreSQL column is jsonb and takes it by assignment.
func (q *sqlBuf) json(js string) *sqlBuf {
	if js == "" {
		q.b = append(q.b, "NULL"...)
		return q
	}
	return q.str(js)
}

// strList writes ('a', 'b', ...); callers never pass an empty list.
func (q *sqlBuf) strList(ss []string) *sqlBuf {
	q.b = append(q.b, '(')
	for i, s := range ss {
		if i > 0 {
			q.b = append(q.b, ", "...)
		}
		q.str(s)
	}
	q.b = append(q.b, ')')
	return q
}

// String returns the statement without copying it: a fan-out's
// statements are hundreds of kilobytes. That is safe because a buffer
// only ever grows: the bytes it has handed out are never written again,
// so it must never be truncated or reused for another statement (the
// driver, a statement cache or a query hook may keep the string).
func (q *sqlBuf) String() string { return unsafe.String(unsafe.SliceData(q.b), len(q.b)) }

// ms truncates t to the millisecond, in UTC: what the store keeps.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
