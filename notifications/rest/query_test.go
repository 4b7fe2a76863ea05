package rest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC)
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	for in, out := range map[string]time.Time{
		"2024-03-05T14:07:09.000Z":        want,
		"2024-03-05T14:07:09Z":            want,
		"2024-03-05T15:07:09+01:00":       want,
		"2024-03-05T15:07:09.000+0100":    want,
		"2024-03-05T14:07:09.123456789Z":  want.Add(123456789),
		"2024-03-05T14:07:09":             want,
		"2024-03-05T14:07":                want.Add(-9 * time.Second),
		"2024-03-05 14:07:09":             want,
		"2024-03-05 15:07:09+01:00":       want,
		"2024-03-05":                      day,
		"2024-03":                         time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		"2024":                            time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		"Tue, 05 Mar 2024 14:07:09 GMT":   want,
		"Tue, 5 Mar 2024 14:07:09 GMT":    want,
		"Tue, 05 Mar 2024 15:07:09 +0100": want,
		"Tue Mar 05 2024 15:07:09 GMT+0100 (Central European Standard Time)": want,
		"Tue Mar 05 2024 14:07:09 GMT+0000":                                  want,
		"Tue Mar 05 2024":                                                    day,
		"Mar 5, 2024":                                                        day,
		"March 5, 2024":                                                      day,
		"march 5, 2024":                                                      day,
		"Mar 5, 2024 14:07:09":                                               want,
		"5 Mar 2024":                                                         day,
		"5 March 2024":                                                       day,
		"2024/03/05":                                                         day,
		"2024/3/5":                                                           day,
		"3/5/2024":                                                           day,
		"03/05/2024 14:07:09":                                                want,
		"  2024-03-05  ":                                                     day,
	} {
		got, err := parseDate(in)
		if err != nil || !got.Equal(out) {
			t.Errorf("parseDate(%q) = %v, %v; want %v", in, got, err, out)
		}
	}
	for _, in := range []string{"", "not-a-date", "yesterday", "2024-13-01", "2024-02-30", "1700000000000", "24-03-05", "2024-03-05T25:00:00Z", "(x)"} {
		if got, err := parseDate(in); err == nil {
			t.Errorf("parseDate(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want []notifications.Order
		bad  bool
	}{
		{in: nil, want: nil},
		{in: []string{"created"}, want: []notifications.Order{{Field: "created"}}},
		{in: []string{"created,"}, want: []notifications.Order{{Field: "created"}}},
		{in: []string{"created,desc", "topic,asc"}, want: []notifications.Order{{Field: "created", Desc: true}, {Field: "topic"}}},
		{in: []string{"severity,desc"}, want: []notifications.Order{{Field: "severity", Desc: true}}},
		{in: []string{"created,DESC"}, bad: true},
		{in: []string{"created,up"}, bad: true},
		{in: []string{"Created"}, bad: true},
		{in: []string{""}, bad: true},
		{in: []string{",asc"}, bad: true},
		{in: []string{"id"}, bad: true},
	} {
		got, err := parseOrder(tc.in)
		if tc.bad != (err != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("parseOrder(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseQueryNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"", true},
		{"limit=1&offset=2", true},
		{"orderField=a&orderField=b", true},
		{"limit=1&limit=1", false},
		{"LIMIT=1", false},
		{"x", false},
		{"limit=%zz", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/?"+tc.raw, nil)
		_, err := parseQuery(r, listParams, "orderField")
		if tc.ok != (err == nil) {
			t.Errorf("parseQuery(%q) error %v, want ok %v", tc.raw, err, tc.ok)
		}
	}
}

func TestTimeBounds(t *testing.T) {
	t.Parallel()
	if got := time.UnixMilli(minMillis).UTC(); !got.Equal(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("minMillis is %v, want the first instant of year 1", got)
	}
	if got := time.UnixMilli(maxMillis).UTC(); !got.Equal(time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)) {
		t.Errorf("maxMillis is %v, want the last millisecond of year 9999", got)
	}
	for s, ok := range map[string]bool{
		"0001-01-01T00:00:00Z": true, "9999-12-31T23:59:59.999Z": true, "9999-12-31T23:59:59.9999Z": true,
		"0000-12-31T23:59:59.999999999Z": false, "0001-01-01T00:00:00+00:01": false, "9999-12-31T23:59:59-00:01": false,
	} {
		if _, err := parseBound("b", s); (err == nil) != ok {
			t.Errorf("parseBound(%q) error %v, want ok %v", s, err, ok)
		}
	}
}
