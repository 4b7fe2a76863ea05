package rest

import (
	"strings"
	"testing"
)

// TestCheckJSONTextNamesThePath: the path of the offending string is
// spelled from the steps that lead to it, escaped property names decoded
// and array elements by index, and only the steps still open count.
func TestCheckJSONTextNamesThePath(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"a":{"b":"x"},"c":["ok",{"d\u00e9":"\u0000"}]}`, "root/c/1/dé must not contain a NUL character"},
		{`{"a":[["ok"],["ok","\ud800"]]}`, "root/a/1/1 must be valid UTF-8 (it holds a lone surrogate escape)"},
		{`{"x":1,"y":{"z\u0000":2}}`, "root/y property names must not contain a NUL character"},
		{`["\u0000"]`, "root/0 must not contain a NUL character"},
		{`"\u0000"`, "root must not contain a NUL character"},
	} {
		err := checkJSONText("root", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkJSONText(%s) = %v, want %q", c.body, err, c.want)
		}
	}
	if err := checkJSONText("root", []byte(`{"a":["x",{"b":"y"}],"c":"\u00e9"}`)); err != nil {
		t.Errorf("a clean body: %v", err)
	}
}
