package rest

import (
	"encoding/json"
	"maps"
	"testing"
)

var splitSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a" : "x" , "b":[1,{"c":"]}"}],"d":{"e":"\"}"}}`,
	`{"a":1,"a":2}`, `{"t\u00e9":"v","t\"x":null,"b":true,"f":false,"n":-1.5e3}`,
	`{"recipients":{"type":"entity","entityRef":"user:default/jane"},"payload":{"title":"Build failed","severity":"high"}}`,
	"{\n\t\"k\":\r\n[ ]\n}",
}

// splitObject finds the properties json.Unmarshal finds.
func TestSplitObjectMatchesUnmarshal(t *testing.T) {
	for _, s := range splitSeeds {
		checkSplit(t, []byte(s))
	}
}

func FuzzSplitObject(f *testing.F) {
	for _, s := range splitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := decodeJSON(data)
		if err != nil || kind(raw) != '{' {
			return
		}
		checkSplit(t, raw)
	})
}

func checkSplit(t *testing.T, raw []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	got, ok := splitObject(raw)
	if !ok {
		t.Fatalf("splitObject(%s) refused a valid object", raw)
	}
	if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
		t.Errorf("splitObject(%s) = %q, want %q", raw, got, want)
	}
	for name, v := range got {
		if kind(v) != '"' {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			t.Fatal(err)
		}
		if p, ok := plainString(v); ok && p != s {
			t.Errorf("%s: plainString(%s) = %q, want %q", name, v, p, s)
		}
	}
}
