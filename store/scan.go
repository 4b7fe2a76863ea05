package store

import (
	"fmt"
	"time"
)

// The scan types read the columns whose driver values differ between
// SQLite and PostgreSQL into one Go form.

// nullTime scans a time column: INTEGER epoch milliseconds (SQLite) or a
// timestamp (PostgreSQL), or NULL.
type nullTime struct {
	t     time.Time
	valid bool
}

func (n *nullTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.valid = false
		return nil
	case int64:
		n.t, n.valid = time.UnixMilli(v).UTC(), true
	case time.Time:
		n.t, n.valid = v.UTC(), true
	case string:
		return n.parse(v)
	case []byte:
		return n.parse(string(v))
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	return nil
}

func (n *nullTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("store: time %q: %w", s, err)
	}
	n.t, n.valid = t.UTC(), true
	return nil
}

func (n nullTime) ptr() *time.Time {
	if !n.valid {
		return nil
	}
	t := n.t
	return &t
}

// nullBytes scans text or bytes, keeping NULL distinct from empty.
type nullBytes struct{ b []byte }

func (n *nullBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.b = nil
	case string:
		n.b = []byte(v)
	case []byte:
		n.b = append(make([]byte, 0, len(v)), v...)
	default:
		return fmt.Errorf("store: cannot scan %T into bytes", src)
	}
	return nil
}
