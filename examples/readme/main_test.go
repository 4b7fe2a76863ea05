package main

import (
	"os"
	"strings"
	"testing"
)

// The README opens with the body of this program's run: the two must
// not drift.
func TestREADMESnippetIsThisProgram(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```go\n")
	snippet, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no Go block")
	}
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(program), "func run(ctx context.Context) error {\n")
	body = strings.TrimSuffix(strings.TrimSpace(body), "}")
	want := strings.TrimSpace(unindent(body))
	if got := strings.TrimSpace(snippet); got != want {
		t.Errorf("README's first Go block differs from the body of examples/readme/main.go\nREADME:\n%s\n\nmain.go:\n%s", got, want)
	}
}

func unindent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n")
}
