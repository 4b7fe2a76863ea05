package notifications_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// logChan is a slog handler that forwards each record to a channel.
type logChan chan slog.Record

func (c logChan) Enabled(context.Context, slog.Level) bool      { return true }
func (c logChan) Handle(_ context.Context, r slog.Record) error { c <- r; return nil }
func (c logChan) WithAttrs([]slog.Attr) slog.Handler            { return c }
func (c logChan) WithGroup(string) slog.Handler                 { return c }

func TestDeleteOlderThan(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := now.Add(-48 * time.Hour)
	f := setup(t, func(c *notifications.Config) { c.Now = func() time.Time { return clock } })
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "old"})
	f.send(t, notifications.Broadcast(), notifications.Payload{Title: "old broadcast"})
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "old but re-sent", Scope: "s"})
	clock = now.Add(-time.Hour)
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "re-sent", Scope: "s"})
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "recent"})
	clock = now
	n, err := f.svc.DeleteOlderThan(f.ctx, 24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("DeleteOlderThan = %d, %v; want 2", n, err)
	}
	if got := f.count(t, mockUser); got != 2 {
		t.Fatalf("%d notifications left, want the re-sent and the recent one", got)
	}
	if _, err := f.svc.DeleteOlderThan(f.ctx, 0); !errors.Is(err, notifications.ErrInvalid) {
		t.Fatalf("DeleteOlderThan(0) = %v, want ErrInvalid", err)
	}
}

func TestRunCleaner(t *testing.T) {
	t.Parallel()
	logs := make(logChan, 16)
	now := time.Now()
	clock := now.Add(-2 * time.Hour)
	f := setup(t, func(c *notifications.Config) {
		c.Logger = slog.New(logs)
		c.Now = func() time.Time { return clock }
	})
	f.send(t, notifications.Entity(mockUser), notifications.Payload{Title: "old"})
	clock = now
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() {
		done <- f.svc.RunCleaner(ctx, notifications.CleanerOptions{MaxAge: time.Hour, Interval: time.Millisecond})
	}()
	timeout := time.After(10 * time.Second)
	var got []string
wait:
	for {
		select {
		case r := <-logs:
			got = append(got, r.Message)
			if r.Message == "notifications: cleaner finished" && attr(r, "deleted") == "1" {
				break wait
			}
		case <-timeout:
			t.Fatalf("cleaner did not report a deletion; logs: %q", got)
		}
	}
	if got[0] != "notifications: cleaner started" {
		t.Errorf("first log %q", got[0])
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunCleaner returned %v, want context.Canceled", err)
	}
	if f.count(t, mockUser) != 0 {
		t.Fatal("the cleaner left the old notification")
	}
}

// attr returns the value of r's attribute key, as text; "" when absent.
func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}
