package rest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/uuid"
	"github.com/heraldhq/herald/notifications"
)

// Query parameters. listParams are the list's; topicsParams the subset
// GET /topics takes (Backstage rejects the others there, topic included).
var (
	listParams   = []string{"offset", "limit", "orderField", "topic", "search", "read", "saved", "seen", "archived", "createdAfter", "minimumSeverity", "cursor"}
	topicsParams = []string{"search", "read", "saved", "seen", "archived", "createdAfter", "minimumSeverity"}
)

// query is a parsed query string whose names have been checked.
type query url.Values

// parseQuery parses r's query string and refuses parameters not in
// allowed, and repeated ones other than repeatable, as Backstage's OpenAPI
// validator does.
func parseQuery(r *http.Request, allowed []string, repeatable ...string) (query, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, inputError("Malformed query string")
	}
	// Report in a stable order: the first offending name in sorted order.
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if problem := textProblem(name); problem != "" {
			return nil, inputError("Query parameter names " + problem)
		}
		if !slices.Contains(allowed, name) {
			return nil, inputError(fmt.Sprintf("Unknown query parameter '%s'", name))
		}
		if len(values[name]) > 1 && !slices.Contains(repeatable, name) {
			return nil, inputError(fmt.Sprintf("request/query/%s must not be repeated", name))
		}
		for _, v := range values[name] {
			if problem := textProblem(v); problem != "" {
				return nil, inputError(fmt.Sprintf("request/query/%s %s", name, problem))
			}
		}
	}
	return query(values), nil
}

// one returns the single value of name and whether it is present.
func (q query) one(name string) (string, bool) {
	v, ok := q[name]
	if !ok {
		return "", false
	}
	return v[0], true
}

// Bounds of the list's paging parameters, larger values are 400 (Backstage
// has none). A page holds at most MaxLimit notifications, and offset
// paging stops at MaxOffset: deep offsets cost the database a scan of
// every skipped row, so page on with nextCursor instead.
const (
	MaxLimit  = 10_000
	MaxOffset = 100_000
)

// nonNegInt parses a decimal integer from 0 to max.
func (q query) nonNegInt(name string, max int) (*int, error) { return q.intIn(name, 0, max) }

// intIn parses name, when present, as a decimal integer from lo to hi;
// out of range, including beyond what an int holds, is said as the bound
// it crosses.
func (q query) intIn(name string, lo, hi int) (*int, error) {
	s, ok := q.one(name)
	if !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil && isSignedDigits(s) && s[0] != '-' || err == nil && n > hi:
		return nil, inputError(fmt.Sprintf("request/query/%s must be <= %d", name, hi))
	case err != nil && isSignedDigits(s) || err == nil && n < lo:
		return nil, inputError(fmt.Sprintf("request/query/%s must be >= %d", name, lo))
	case err != nil:
		return nil, inputError(fmt.Sprintf("request/query/%s must be integer", name))
	}
	return &n, nil
}

var signedDigits = regexp.MustCompile(`^[+-]?[0-9]+$`)

func isSignedDigits(s string) bool { return signedDigits.MatchString(s) }

// boolean parses exactly "true" or "false".
func (q query) boolean(name string) (*bool, error) {
	s, ok := q.one(name)
	if !ok {
		return nil, nil
	}
	switch s {
	case "true":
		v := true
		return &v, nil
	case "false":
		v := false
		return &v, nil
	}
	return nil, inputError(fmt.Sprintf("request/query/%s must be boolean", name))
}

// filter reads the filter parameters the list and the topics share, plus
// topic when the route accepts it (parseQuery has refused it otherwise).
func (q query) filter() (notifications.Filter, error) {
	var f notifications.Filter
	var err error
	if f.Read, err = q.boolean("read"); err != nil {
		return f, err
	}
	if f.Saved, err = q.boolean("saved"); err != nil {
		return f, err
	}
	if err := q.stateFilter(&f); err != nil {
		return f, err
	}
	f.Search, _ = q.one("search")
	if err := checkSearch("request/query/search", f.Search); err != nil {
		return f, err
	}
	f.Topic, _ = q.one("topic")
	if s, ok := q.one("createdAfter"); ok && s != "" {
		if f.CreatedAfter, err = parseBound("request/query/createdAfter", s); err != nil {
			return f, err
		}
	}
	if s, ok := q.one("minimumSeverity"); ok {
		sev := notifications.Severity(s)
		if !sev.Valid() {
			return f, inputError("request/query/minimumSeverity must be equal to one of the allowed values: critical, high, normal, low")
		}
		f.MinimumSeverity = sev
	}
	return f, nil
}

// listOptions reads every list parameter.
func (q query) listOptions() (notifications.ListOptions, error) {
	var o notifications.ListOptions
	var err error
	if o.Filter, err = q.filter(); err != nil {
		return o, err
	}
	offset, err := q.nonNegInt("offset", MaxOffset)
	if err != nil {
		return o, err
	}
	if offset != nil {
		o.Offset = *offset
	}
	if o.Limit, err = q.nonNegInt("limit", MaxLimit); err != nil {
		return o, err
	}
	if o.Order, err = parseOrder(q["orderField"]); err != nil {
		return o, err
	}
	o.Cursor, _ = q.one("cursor")
	if o.Cursor != "" && !validCursor(o.Cursor) {
		return o, inputError("request/query/cursor is invalid: pass back the nextCursor of a previous page unchanged")
	}
	return o, nil
}

// checkSearch refuses a search longer than notifications.MaxSearchLength
// characters (runes), the longest every store answers.
func checkSearch(path, search string) error {
	if utf8.RuneCountInString(search) > notifications.MaxSearchLength {
		return inputError(fmt.Sprintf("%s must NOT have more than %d characters", path, notifications.MaxSearchLength))
	}
	return nil
}

// Times from a request (cursor positions, date bounds) lie within years 1
// to 9999 UTC, as Unix milliseconds: the range every store compares
// against. PostgreSQL answers an instant outside its timestamp range with
// an error, not with an empty page.
const (
	minMillis = -62135596800000 // 0001-01-01T00:00:00Z
	maxMillis = 253402300799999 // 9999-12-31T23:59:59.999Z
)

// validCursor reports whether s has the shape of a cursor the Service
// issues as nextCursor (unpadded base64url of {"c": created in Unix
// milliseconds, "b": broadcast, "i": id}) with a position every store can
// compare against: a time within years 1 to 9999 and a UUID. The Service
// decodes the cursor itself; this check keeps a tampered one from
// reaching the store, where it could only fail.
func validCursor(s string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	var c struct {
		Created   *int64 `json:"c"`
		Broadcast bool   `json:"b"`
		ID        string `json:"i"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Created == nil {
		return false
	}
	return minMillis <= *c.Created && *c.Created <= maxMillis && uuid.Valid(c.ID)
}

// parseOrder reads repeated "field,asc|desc" values; a bare field sorts
// ascending. Herald accepts only the fields of notifications.OrderFields
// (Backstage passes any name to the database).
func parseOrder(values []string) ([]notifications.Order, error) {
	if len(values) == 0 {
		return nil, nil
	}
	order := make([]notifications.Order, 0, len(values))
	for _, v := range values {
		field, dir, _ := strings.Cut(v, ",")
		o := notifications.Order{Field: notifications.OrderField(field)}
		switch dir {
		case "", "asc":
		case "desc":
			o.Desc = true
		default:
			return nil, inputError("Invalid order field order, must be asc or desc")
		}
		if !o.Field.Valid() {
			return nil, inputError(fmt.Sprintf("Invalid order field %q, must be one of %s", field, orderFieldList()))
		}
		order = append(order, o)
	}
	return order, nil
}

func orderFieldList() string {
	fields := notifications.OrderFields()
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// dateLayouts are the date forms parseDate accepts: ISO 8601 / RFC 3339
// in its common variants, and the other forms JavaScript's Date parses in
// practice (Date.toString, toUTCString, "Jan 2, 2006", "2006/01/02",
// "1/2/2006"). A form without a zone is UTC.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006-01",
	"2006",
	time.RFC1123,
	time.RFC1123Z,
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006",
	"Mon Jan 2 2006 15:04:05 -0700", // Date.toString, zone name and "GMT" removed
	"Mon Jan 2 2006 15:04:05",
	"Mon Jan 2 2006",
	time.ANSIC,
	time.UnixDate,
	"2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05",
	"2 Jan 2006",
	"2 January 2006",
	"Jan 2, 2006 15:04:05",
	"Jan 2, 2006 15:04",
	"Jan 2, 2006",
	"January 2, 2006 15:04:05",
	"January 2, 2006",
	"Jan 2 2006",
	"2006/01/02 15:04:05",
	"2006/01/02 15:04",
	"2006/01/02",
	"2006/1/2",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006",
}

// zoneName matches the " (Central European Standard Time)" that
// Date.toString appends; gmtOffset the "GMT+0100" before it, which
// time.Parse would misread as a zone named GMT+0.
var (
	zoneName  = regexp.MustCompile(`\s*\([^()]*\)$`)
	gmtOffset = regexp.MustCompile(`\b(?:GMT|UTC)([+-]\d{4})$`)
)

// parseBound parses the date bound at path: Backstage's "Unexpected date
// format" when it is no date, a 400 naming path when it falls outside
// years 1 to 9999.
func parseBound(path, s string) (*time.Time, error) {
	t, err := parseDate(s)
	if err != nil {
		return nil, inputError("Unexpected date format")
	}
	if ms := t.UnixMilli(); ms < minMillis || ms > maxMillis {
		return nil, inputError(path + " must be a date from year 1 to 9999 (UTC)")
	}
	return &t, nil
}

// parseDate parses s leniently, as Backstage's createdAfter does.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(zoneName.ReplaceAllString(strings.TrimSpace(s), ""))
	s = gmtOffset.ReplaceAllString(s, "$1")
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("rest: unexpected date format %q", s)
}
