package rest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestReadAll: a body is read whole whatever length it declared: exact,
// unknown, longer than declared; a shorter one is an error.
func TestReadAll(t *testing.T) {
	const body = `{"payload":{"title":"t"}}`
	for _, n := range []int64{-1, 0, int64(len(body)), 5} {
		got, err := readAll(strings.NewReader(body), n)
		if err != nil || string(got) != body {
			t.Errorf("readAll(declared %d) = %q, %v; want the body", n, got, err)
		}
	}
	if _, err := readAll(strings.NewReader(body), int64(len(body))+10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a body shorter than declared: %v, want io.ErrUnexpectedEOF", err)
	}
	big := bytes.Repeat([]byte("x"), 2<<20)
	if got, err := readAll(bytes.NewReader(big), int64(len(big))); err != nil || len(got) != len(big) {
		t.Errorf("a 2 MiB body: %d bytes, %v", len(got), err)
	}
}
