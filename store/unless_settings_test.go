package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/store"
)

// SaveUnlessSettings stores a user's notification only while the user has
// no settings rows, the same on both stores, and refuses what
// SaveNotifications refuses.
func TestSaveUnlessSettings(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		n := notifications.Notification{User: "user:default/plain", Origin: "svc",
			Payload: notifications.Payload{Title: "T", Description: "D", Topic: "t", Metadata: map[string]any{"k": "v"}}}
		stored, ok, err := s.SaveUnlessSettings(ctx, n)
		if err != nil || !ok {
			t.Fatalf("no settings: ok %v, %v; want stored", ok, err)
		}
		if stored.ID == "" || stored.Created.IsZero() || stored.Payload.Severity != notifications.SeverityNormal {
			t.Errorf("stored %+v: want an id, a created time and the default severity", stored)
		}
		got, err := s.Get(ctx, n.User, stored.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Payload.Title != "T" || got.Payload.Description != "D" || got.Payload.Topic != "t" || got.Payload.Metadata["k"] != "v" ||
			!got.Created.Equal(stored.Created) || got.Read != nil {
			t.Errorf("read back %+v, want what was stored: %+v", got, stored)
		}

		withSettings := n
		withSettings.User = "user:default/tuned"
		if err := s.ReplaceSettings(ctx, withSettings.User, []notifications.SettingRow{{Channel: "Email", Origin: "svc", Enabled: false}}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.SaveUnlessSettings(ctx, withSettings); err != nil || ok {
			t.Errorf("with settings: ok %v, %v; want not stored", ok, err)
		}
		scoped := n
		scoped.Payload.Scope = "s"
		if _, ok, err := s.SaveUnlessSettings(ctx, scoped); err != nil || ok {
			t.Errorf("scoped: ok %v, %v; want not stored", ok, err)
		}
		for _, u := range []string{withSettings.User, n.User} {
			c, err := s.Count(ctx, u, notifications.Filter{})
			want := 0
			if u == n.User {
				want = 1
			}
			if err != nil || c != want {
				t.Errorf("Count(%s) = %d, %v; want %d", u, c, err, want)
			}
		}

		bad := n
		bad.Payload.Title = "a\x00b"
		if _, _, err := s.SaveUnlessSettings(ctx, bad); !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("NUL in the title: %v, want ErrInvalid", err)
		}
		bad = n
		bad.User = ""
		if _, _, err := s.SaveUnlessSettings(ctx, bad); !errors.Is(err, notifications.ErrInvalid) {
			t.Errorf("no user: %v, want ErrInvalid", err)
		}
		dup := n
		dup.ID, dup.Created = stored.ID, time.Now()
		if _, _, err := s.SaveUnlessSettings(ctx, dup); !errors.Is(err, store.ErrDuplicateID) {
			t.Errorf("a stored id again: %v, want ErrDuplicateID", err)
		}
	})
}
