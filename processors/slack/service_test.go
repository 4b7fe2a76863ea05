package slack_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/slack"
	"github.com/heraldhq/herald/store"
)

// attempts wraps the processor to report each PostProcess that returned,
// so a test waits for the Service's background delivery instead of
// sleeping.
type attempts struct {
	*slack.Processor
	done chan error
}

func (a attempts) PostProcess(ctx context.Context, n notifications.Notification, o notifications.SendOptions) error {
	err := a.Processor.PostProcess(ctx, n, o)
	select {
	case a.done <- err:
	default: // an attempt the test does not wait for must not block the Service
	}
	return err
}

// Through a real Service: a send to a group and one user posts once to the
// group's channel and DMs only the named user, not the group's member; a
// scoped re-send edits both messages.
func TestInService(t *testing.T) {
	t.Parallel()
	st, err := store.OpenSQLite(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	inner, f, _ := setup(t, slack.Config{Timestamps: st})
	p := attempts{Processor: inner, done: make(chan error, 8)}
	svc, err := notifications.New(notifications.Config{Store: st, Catalog: testCatalog, Processors: []notifications.Processor{p}})
	if err != nil {
		t.Fatal(err)
	}
	sender := svc.Sender("plugin:test")
	for _, title := range []string{"v1", "v2"} {
		if _, err := sender.Send(t.Context(), notifications.Entity("group:default/g", "user:jane"), notifications.Payload{Title: title, Scope: "deploy-7"}); err != nil {
			t.Fatal(err)
		}
		// The DM goes out in the background; the re-send must find the
		// first DM's timestamp stored, so wait for it.
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery attempt within 10s")
		}
	}
	if err := svc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range f.recorded() {
		got[c.Method+" "+c.Form.Get("channel")+" "+c.Form.Get("text")]++
	}
	want := map[string]int{
		"chat.postMessage C123 v1": 1, "chat.postMessage U111 v1": 1,
		"chat.update C123 v2": 1, "chat.update D111 v2": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("calls %v, want %v", got, want)
		}
	}
}
