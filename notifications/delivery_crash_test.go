package notifications_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
	"github.com/heraldhq/herald/store"
)

// crashChildEnv, when set to a SQLite file path, makes the test binary
// the child process of TestDeliverySurvivesCrash instead of running tests.
const crashChildEnv = "HERALD_TEST_CRASH_CHILD_DB"

// The crash child's shape.
const (
	crashUsers   = 40
	crashWorkers = 4
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		if err := crashChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		return
	}
	os.Exit(m.Run())
}

// crashChild sends to crashUsers users through a slow post-processor that
// prints "delivered <notification id>" for every delivery it makes (its
// outside effect), prints "sent" once the send is committed, and waits to
// be killed.
func crashChild(path string) error {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		return err
	}
	var out sync.Mutex
	slow := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
		time.Sleep(20 * time.Millisecond) // the slow part of a delivery, an SMTP exchange, say
		out.Lock()
		defer out.Unlock()
		_, err := fmt.Fprintf(os.Stdout, "delivered %s\n", n.ID)
		return err
	}}
	svc, err := notifications.New(notifications.Config{Store: st, Processors: []notifications.Processor{slow}, DeliveryWorkers: crashWorkers})
	if err != nil {
		return err
	}
	users := make([]string, crashUsers)
	for i := range users {
		users[i] = fmt.Sprintf("user:default/u%02d", i)
	}
	if _, err := svc.Sender("plugin:crash").Send(ctx, notifications.Entity(users...), notifications.Payload{Title: "t"}); err != nil {
		return err
	}
	fmt.Println("sent")
	select {} // until SIGKILL
}

// A process killed with SIGKILL in the middle of its deliveries loses
// none: a new Service on the same SQLite file takes over the dead
// process's claims at once and delivers the rest, repeating at most the
// attempts that were in flight.
func TestDeliverySurvivesCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	childDelivered := map[string]int{}
	sent, killed := false, false
	timeout := time.After(60 * time.Second)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			switch {
			case l == "sent":
				sent = true
			case strings.HasPrefix(l, "delivered "):
				childDelivered[strings.TrimPrefix(l, "delivered ")]++
			}
			// Kill it a fifth of the way through, with attempts in flight.
			if !killed && sent && len(childDelivered) >= crashUsers/5 {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		case <-timeout:
			_ = cmd.Process.Kill()
			t.Fatalf("the child did not get far enough; stderr:\n%s", stderr.String())
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended before it was killed (sent %v, %d delivered); stderr:\n%s", sent, len(childDelivered), stderr.String())
	}
	if len(childDelivered) >= crashUsers {
		t.Fatalf("the child delivered everything before the kill landed: nothing left to test")
	}

	st, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	parentDelivered := map[string]int{}
	audit := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
		mu.Lock()
		defer mu.Unlock()
		parentDelivered[n.ID]++
		return nil
	}}
	// The clock stands at the restart: a claim the dead process still
	// holds is not due by its lease, only by the store seeing its owner
	// gone.
	clock := notificationstest.NewClock(time.Now())
	svc := startService(t, notifications.Config{Store: st, Processors: []notifications.Processor{audit}, DeliveryWorkers: -1, Now: clock.Now})
	notificationstest.DeliverAll(t, svc)

	ds, err := svc.Deliveries(t.Context(), notifications.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != crashUsers {
		t.Fatalf("%d deliveries stored, want %d", len(ds), crashUsers)
	}
	duplicates := 0
	for _, d := range ds {
		if d.Status != notifications.DeliverySent {
			t.Errorf("delivery to %s is %s after the restart (attempts %d, next %v)", d.User, d.Status, d.Attempts, d.NextAttempt)
		}
		c, p := childDelivered[d.NotificationID], parentDelivered[d.NotificationID]
		switch {
		case c+p == 0:
			t.Errorf("the notification to %s was never delivered", d.User)
		case c > 1 || p > 1:
			t.Errorf("the notification to %s was delivered %d times by the child and %d by the restart", d.User, c, p)
		case c+p == 2:
			duplicates++
		}
	}
	if duplicates > crashWorkers {
		t.Errorf("%d deliveries repeated after the crash, more than the %d attempts in flight", duplicates, crashWorkers)
	}
	t.Logf("child delivered %d, restart %d, repeated %d", len(childDelivered), len(parentDelivered), duplicates)
}
