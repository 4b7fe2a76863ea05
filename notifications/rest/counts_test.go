package rest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Herald's POST /counts: one count per filter, as the list's totalCount.
func TestCounts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.sent(toMock(`{"title":"a","topic":"ci","severity":"high"}`))[0]["id"].(string)
	f.sent(toMock(`{"title":"b","topic":"ci"}`))
	f.sent(toMock(`{"title":"c","topic":"review"}`))
	f.sent(broadcast(`{"title":"d","topic":"ci"}`))
	ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+a+`"],"read":true,"saved":true}`))

	counts := func(body string) []int {
		t.Helper()
		got := ok[map[string][]int](t, f.do(http.MethodPost, "/counts", userToken, body))
		c, present := got["counts"]
		if !present || c == nil {
			t.Fatalf("counts answered %v, want {counts: [...]}", got)
		}
		return c
	}
	got := counts(`{"filters":[{},{"read":false},{"saved":true},{"topic":"ci"},{"topic":"ci","read":false},` +
		`{"search":"C"},{"minimumSeverity":"high"},{"createdAfter":"9000-01-01"},{"before":"2000-01-01","topic":null}]}`)
	if want := []int{4, 3, 1, 3, 2, 1, 1, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	for i, q := range []string{"", "read=false", "saved=true", "topic=ci", "topic=ci&read=false", "search=C", "minimumSeverity=high"} {
		list := ok[map[string]any](t, f.do(http.MethodGet, "/notifications?limit=0&"+q, userToken, ""))
		if total := int(list["totalCount"].(float64)); total != got[i] {
			t.Errorf("filters[%d]: counts %d, list's totalCount %d (%s)", i, got[i], total, q)
		}
	}
	if got := counts(`{"filters":[]}`); len(got) != 0 {
		t.Errorf("no filters counted %v, want []", got)
	}
	// Another user's counts see the broadcast only.
	other := ok[map[string][]int](t, f.do(http.MethodPost, "/counts", otherUserToken, `{"filters":[{},{"read":false}]}`))
	if !slices.Equal(other["counts"], []int{1, 1}) {
		t.Errorf("other user's counts %v, want [1 1]", other["counts"])
	}

	failure(t, f.do(http.MethodPost, "/counts", serviceToken, `{"filters":[]}`), 403, "NotAllowedError")
	failure(t, f.do(http.MethodPost, "/counts", "", `{"filters":[]}`), 401, "AuthenticationError")
}

// POST /counts takes seen and archived as the list's query parameters
// do: each filter's count is the list's totalCount for them.
func TestCountsStates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.sent(toMock(`{"title":"a"}`))[0]["id"].(string)
	b := f.sent(toMock(`{"title":"b"}`))[0]["id"].(string)
	c := f.sent(toMock(`{"title":"c"}`))[0]["id"].(string)
	d := f.sent(broadcast(`{"title":"d"}`))[0]["id"].(string)
	f.sent(toMock(`{"title":"e"}`))
	ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+a+`"],"seen":true}`))
	ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+b+`","`+d+`"],"archived":true}`))
	ok[[]map[string]any](t, f.do(http.MethodPost, "/notifications/update", userToken, `{"ids":["`+c+`"],"snoozeUntil":"9999-01-01T00:00:00.000Z"}`))

	queries := []string{"", "seen=true", "seen=false", "archived=true", "archived=false", "archived=true&seen=false", "seen=false&read=false"}
	filters := []string{`{}`, `{"seen":true}`, `{"seen":false}`, `{"archived":true}`, `{"archived":false}`,
		`{"archived":true,"seen":false}`, `{"seen":false,"read":false}`}
	got := ok[map[string][]int](t, f.do(http.MethodPost, "/counts", userToken, `{"filters":[`+strings.Join(filters, ",")+`]}`))["counts"]
	// Visible: a (seen) and e; archived: b and the broadcast d, unseen.
	if want := []int{2, 1, 1, 2, 2, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	for i, q := range queries {
		list := ok[map[string]any](t, f.do(http.MethodGet, "/notifications?limit=0&"+q, userToken, ""))
		if i < len(got) && int(list["totalCount"].(float64)) != got[i] {
			t.Errorf("filters[%d] %s: counts %d, list's totalCount %v (%s)", i, filters[i], got[i], list["totalCount"], q)
		}
	}
	for _, body := range []string{`{"filters":[{"seen":"yes"}]}`, `{"filters":[{},{"archived":1}]}`} {
		e := failure(t, f.do(http.MethodPost, "/counts", userToken, body), 400, "InputError")
		if !strings.Contains(e.Error.Message, "must be boolean") {
			t.Errorf("%s: message %q, want it to say must be boolean", body, e.Error.Message)
		}
	}
}

// Bad counts bodies are 400 with a message naming the property.
func TestCountsRefuses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	many := "{}" + strings.Repeat(",{}", 20)
	cases := []struct{ name, body, message string }{
		{"no body", "", "request/body must be object"},
		{"no filters", `{}`, "must have required property 'filters'"},
		{"filters not an array", `{"filters":{}}`, "request/body/filters must be array"},
		{"a filter not an object", `{"filters":[{},3]}`, "request/body/filters/1 must be object"},
		{"read not a boolean", `{"filters":[{"read":"true"}]}`, "request/body/filters/0/read must be boolean"},
		{"topic not a string", `{"filters":[{"topic":1}]}`, "request/body/filters/0/topic must be string"},
		{"unknown severity", `{"filters":[{},{"minimumSeverity":"urgent"}]}`, "request/body/filters/1/minimumSeverity must be equal to one of"},
		{"long search", `{"filters":[{"search":"` + strings.Repeat("x", 1001) + `"}]}`, "request/body/filters/0/search must NOT have more than 1000 characters"},
		{"not a date", `{"filters":[{"createdAfter":"soon"}]}`, "Unexpected date format"},
		{"date out of range", `{"filters":[{"before":"0000-06-01"}]}`, "request/body/filters/0/before must be a date from year 1 to 9999"},
		{"too many filters", `{"filters":[` + many + `]}`, "request/body/filters must NOT have more than 20 items"},
		{"malformed", `{"filters":[`, "Malformed JSON body"},
		{"NUL in a topic", `{"filters":[{"topic":"a\u0000b"}]}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := failure(t, f.do(http.MethodPost, "/counts", userToken, tc.body), 400, "InputError")
			if !strings.Contains(e.Error.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", e.Error.Message, tc.message)
			}
		})
	}
}
