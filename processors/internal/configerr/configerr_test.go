package configerr_test

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/processors/internal/configerr"
)

var errConfig = errors.New("x: invalid config")

func TestList(t *testing.T) {
	t.Parallel()
	l := configerr.New(errConfig)
	if err := l.Err(); err != nil {
		t.Fatalf("Err of an empty List = %v, want nil", err)
	}
	cause := errors.New("bad filter")
	l.Addf("Host is required")
	l.Addf("Port %d is out of range", 70000)
	l.Add(cause)
	err := l.Err()
	if !errors.Is(err, errConfig) || !errors.Is(err, cause) {
		t.Fatalf("Err = %v, want it to wrap the sentinel and the added error", err)
	}
	want := "x: invalid config: Host is required\nx: invalid config: Port 70000 is out of range\nx: invalid config: bad filter"
	if err.Error() != want {
		t.Fatalf("Err =\n%s\nwant\n%s", err, want)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("Err does not join the three faults: %#v", err)
	}
}
