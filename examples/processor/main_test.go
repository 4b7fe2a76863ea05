package main

import "testing"

// TestRun keeps the example working: it must run to the end without error.
func TestRun(t *testing.T) {
	t.Parallel()
	if err := run(t.Context()); err != nil {
		t.Fatal(err)
	}
}
