// Package slacktest is the conformance suite for slack.TimestampStore
// implementations: call RunTimestampStore from a test of yours, as Herald
// does for its in-memory and bun stores.
package slacktest

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/processors/slack"
)

// RunTimestampStore checks the TimestampStore contract on stores made by
// newStore, which must return an empty store each call. Subtests run in
// parallel.
func RunTimestampStore(t *testing.T, newStore func(t *testing.T) slack.TimestampStore) {
	t.Helper()
	base := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ts, ok, err := s.SlackTimestamp(t.Context(), "o", "s", "C1")
		if err != nil || ok || ts != "" {
			t.Fatalf("SlackTimestamp on an empty store = %q, %v, %v", ts, ok, err)
		}
	})

	t.Run("put, get, replace", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		if err := s.PutSlackTimestamp(ctx, "o", "s", "C1", "1700000000.000100", base); err != nil {
			t.Fatal(err)
		}
		if ts, ok, err := s.SlackTimestamp(ctx, "o", "s", "C1"); err != nil || !ok || ts != "1700000000.000100" {
			t.Fatalf("after put: %q, %v, %v", ts, ok, err)
		}
		if err := s.PutSlackTimestamp(ctx, "o", "s", "C1", "D1/1700000001.000200", base.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ts, ok, err := s.SlackTimestamp(ctx, "o", "s", "C1"); err != nil || !ok || ts != "D1/1700000001.000200" {
			t.Fatalf("after replace: %q, %v, %v", ts, ok, err)
		}
	})

	t.Run("keys are distinct", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		keys := [][3]string{{"o", "s", "C1"}, {"o2", "s", "C1"}, {"o", "s2", "C1"}, {"o", "s", "C2"}}
		for i, k := range keys {
			if err := s.PutSlackTimestamp(ctx, k[0], k[1], k[2], strconv.Itoa(i), base); err != nil {
				t.Fatal(err)
			}
		}
		for i, k := range keys {
			if ts, ok, err := s.SlackTimestamp(ctx, k[0], k[1], k[2]); err != nil || !ok || ts != strconv.Itoa(i) {
				t.Fatalf("%v: %q, %v, %v", k, ts, ok, err)
			}
		}
	})

	t.Run("delete before", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		for i, at := range []time.Time{base.Add(-48 * time.Hour), base.Add(-25 * time.Hour), base.Add(-24 * time.Hour), base} {
			if err := s.PutSlackTimestamp(ctx, "o", strconv.Itoa(i), "C1", "ts", at); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteSlackTimestampsBefore(ctx, base.Add(-24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("DeleteSlackTimestampsBefore = %d, %v; want 2 (strictly before)", n, err)
		}
		for i, want := range []bool{false, false, true, true} {
			if _, ok, err := s.SlackTimestamp(ctx, "o", strconv.Itoa(i), "C1"); err != nil || ok != want {
				t.Fatalf("scope %d: present=%v, %v; want %v", i, ok, err, want)
			}
		}
		if n, err := s.DeleteSlackTimestampsBefore(ctx, base.Add(-24*time.Hour)); err != nil || n != 0 {
			t.Fatalf("second delete = %d, %v; want 0", n, err)
		}
	})

	t.Run("concurrent puts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				if err := s.PutSlackTimestamp(t.Context(), "o", "s", "C1", strconv.Itoa(i), base); err != nil {
					t.Error(err)
				}
				if err := s.PutSlackTimestamp(t.Context(), "o", strconv.Itoa(i), "C1", "x", base); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if _, ok, err := s.SlackTimestamp(t.Context(), "o", "s", "C1"); err != nil || !ok {
			t.Fatalf("after concurrent puts: %v, %v", ok, err)
		}
		if n, err := s.DeleteSlackTimestampsBefore(t.Context(), base.Add(time.Second)); err != nil || n != 17 {
			t.Fatalf("delete = %d, %v; want 17 keys", n, err)
		}
	})
}
