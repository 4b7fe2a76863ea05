package signalstest_test

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/signalstest"
)

func TestMemoryNetwork(t *testing.T) {
	t.Parallel()
	signalstest.RunTransportTests(t, func(t *testing.T) signalstest.Backend {
		n := signalstest.NewMemoryNetwork()
		return signalstest.Backend{
			OpenFunc: func(t *testing.T) signals.Transport {
				tr := n.Transport()
				t.Cleanup(func() { tr.Close() })
				return tr
			},
			InterruptFunc: func(t *testing.T) { n.Interrupt(errors.New("simulated outage")) },
		}
	})
}
