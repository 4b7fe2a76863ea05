package store

import (
	"strings"
	"time"
	"unsafe"

	"github.com/uptrace/bun/schema"
)

// sqlBuf builds the fan-out insert (batchWriter) with its values written
// as SQL literals, and nothing else: every other statement is a stmt,
// with bun's placeholders.
//
// bun formats every query this way too: it interpolates arguments on the
// client and hands the driver a finished string with no parameters. Doing
// it here directly, with typed appends, skips boxing each value into an
// interface (a fan-out of 10,000 rows has 150,000 of them, and the
// fan-out's profile is what justified this) while bun's
// QueryContext/ExecContext still run the statement, with its hooks. A
// statement with no arguments passes through bun's formatter untouched,
// so a '?' inside a value is never mistaken for a placeholder.
//
// Strings are quoted by doubling single quotes, which is exact in SQLite
// and in PostgreSQL with standard_conforming_strings on: OpenPostgres sets
// it on every connection and New refuses a database that has it off. Text
// is checked as a stmt checks it (checkText).
type sqlBuf struct {
	b   []byte
	d   dialect
	err error
}

func newSQL(d dialect, capacity int) *sqlBuf {
	return &sqlBuf{b: make([]byte, 0, capacity), d: d}
}

func (q *sqlBuf) raw(s string) *sqlBuf {
	q.b = append(q.b, s...)
	return q
}

func (q *sqlBuf) str(s string) *sqlBuf {
	if err := checkText(s); err != nil {
		if q.err == nil {
			q.err = err
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

// bool writes TRUE or FALSE, which both databases take for a boolean
// (SQLite as 1 and 0).
func (q *sqlBuf) bool(v bool) *sqlBuf {
	if v {
		return q.raw("TRUE")
	}
	return q.raw("FALSE")
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

// String returns the statement without copying it: a fan-out's
// statements are hundreds of kilobytes. That is safe because a buffer
// only ever grows: the bytes it has handed out are never written again,
// so it must never be truncated or reused for another statement (the
// driver, a statement cache or a query hook may keep the string).
func (q *sqlBuf) String() string { return unsafe.String(unsafe.SliceData(q.b), len(q.b)) }

func (q *sqlBuf) sql(schema.QueryGen) (string, error) { return q.String(), q.err }
