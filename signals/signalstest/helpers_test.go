package signalstest_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldhq/herald/signals/signalstest"
)

// The helpers transport tests share, on the in-memory backend: nodes hear
// each other and their own signals, report an outage once, and the log
// recorder finds the line it waits for past the others.
func TestHelpers(t *testing.T) {
	t.Parallel()
	network := signalstest.NewMemoryNetwork()
	a := signalstest.NewNode(t, network.Transport())
	b := signalstest.NewNode(t, network.Transport())
	a.Publish(t, 1)
	if got := b.NextMessage(t, "a's signal on b"); got != `{"n":1}` {
		t.Errorf("b got %s, want {\"n\":1}", got)
	}
	if got := a.NextMessage(t, "a's signal on a"); got != `{"n":1}` {
		t.Errorf("a got %s, want its own signal", got)
	}

	network.Interrupt(errors.New("simulated outage"))
	if g := signalstest.Receive(t, b.Gaps, "the gap on b"); g.Err == nil || g.Err.Error() != "simulated outage" {
		t.Errorf("gap %+v, want the simulated outage", g)
	}
	b.NoMoreGaps(t)

	logs := signalstest.NewLogRecorder(slog.LevelInfo)
	log := logs.Logger()
	log.Debug("below the level")
	log.Info("first")
	log.Warn("wanted", "k", "v")
	if r := logs.WaitFor(t, "wanted"); r.Level != slog.LevelWarn {
		t.Errorf("record %+v, want the warning", r)
	}
	log.Debug("below the level")
	log.Info("any")
	if r := logs.WaitFor(t, ""); r.Message != "any" {
		t.Errorf("WaitFor(\"\") = %q, want the next record at the level, \"any\"", r.Message)
	}

	x, y := signalstest.UniqueName("p_"), signalstest.UniqueName("p_")
	if x == y || !strings.HasPrefix(x, "p_") || len(x) != len("p_")+16 {
		t.Errorf("UniqueName gave %q and %q", x, y)
	}
}
