package signalstest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/signalstest"
)

const brokenEnv = "SIGNALSTEST_BROKEN"

// brokenTransport breaks one guarantee of a MemoryTransport.
type brokenTransport struct {
	*signalstest.MemoryTransport
	flaw string
	sent *atomic.Int64
}

func (b brokenTransport) Send(ctx context.Context, msg []byte) error {
	switch b.flaw {
	case "duplicates":
		if err := b.MemoryTransport.Send(ctx, msg); err != nil {
			return err
		}
	case "loses":
		if b.sent.Add(1)%7 == 0 {
			return nil
		}
	case "truncates":
		msg = msg[:min(len(msg), 8000)]
	}
	return b.MemoryTransport.Send(ctx, msg)
}

// TestSuiteCatchesBrokenTransports runs the suite, in a child process,
// against transports that each break one guarantee, and checks that it
// fails where it should: a suite that cannot fail proves nothing.
func TestSuiteCatchesBrokenTransports(t *testing.T) {
	t.Parallel()
	if os.Getenv(brokenEnv) != "" {
		t.Skip("running as the child")
	}
	tests := []struct{ flaw, wantFailure string }{
		{"duplicates", "DeliversToEverySubscription"},
		{"loses", "BusDeliversOnceToEveryInstance"},
		{"truncates", "LargeAndBinaryMessages"},
		{"no-gaps", "Interrupt"},
	}
	for _, tc := range tests {
		t.Run(tc.flaw+"/"+tc.wantFailure, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenTransport$/^"+tc.wantFailure+"$", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tc.flaw)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--- FAIL: TestBrokenTransport/"+tc.wantFailure) {
				t.Errorf("the suite did not catch a transport that %s (err %v):\n%s", tc.flaw, err, out)
			}
		})
	}
}

// TestBrokenTransport is the child of TestSuiteCatchesBrokenTransports.
func TestBrokenTransport(t *testing.T) {
	flaw := os.Getenv(brokenEnv)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesBrokenTransports")
	}
	signalstest.RunTransportTests(t, func(t *testing.T) signalstest.Backend {
		n := signalstest.NewMemoryNetwork()
		b := signalstest.Backend{
			OpenFunc: func(t *testing.T) signals.Transport {
				tr := n.Transport()
				t.Cleanup(func() { tr.Close() })
				return brokenTransport{tr, flaw, new(atomic.Int64)}
			},
			InterruptFunc: func(t *testing.T) {},
			Timeout:       time.Second,
		}
		return b
	})
}
