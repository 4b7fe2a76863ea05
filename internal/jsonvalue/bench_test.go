package jsonvalue

import (
	"bytes"
	"encoding/json"
	"testing"
)

// metadata is a typical notification's metadata.
var metadata = []byte(`{"backstage.io/body.markdown":"# Build failed\n\nThe **main** branch is red since commit abc123.","build":{"id":12345,"url":"https://ci.example/builds/12345","duration":312.5,"ok":false},"tags":["ci","main","urgent"]}`)

// BenchmarkDecodeObject compares the strict decoder with what the store
// used before it: encoding/json into map[string]any, with UseNumber so
// that both keep numbers exactly.
func BenchmarkDecodeObject(b *testing.B) {
	b.Run("jsonvalue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeObject(metadata); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := json.NewDecoder(bytes.NewReader(metadata))
			d.UseNumber()
			var m map[string]any
			if err := d.Decode(&m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
