package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// User settings rows.

func testSettingsRoundTrip(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const u = "user:default/test"
	rows := []notifications.SettingRow{
		{Channel: notifications.WebChannel, Origin: "abcd-origin", Enabled: true},
		{Channel: notifications.WebChannel, Origin: "abcd-origin", Topic: "efgh-topic", Enabled: false},
		{Channel: notifications.WebChannel, Origin: "plugin-test", Enabled: true},
	}
	if err := s.ReplaceSettings(e.ctx, u, rows); err != nil {
		t.Fatalf("ReplaceSettings: %v", err)
	}
	got, err := s.SettingRows(e.ctx, []string{u})
	if err != nil {
		t.Fatalf("SettingRows: %v", err)
	}
	if !slices.Equal(got[u], rows) || len(got) != 1 {
		t.Errorf("SettingRows = %+v, want %+v", got, rows)
	}
}

func testSettingsOrderAndReplace(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const a, b = "user:default/a", "user:default/b"
	rowsA := []notifications.SettingRow{
		{Channel: "Web", Origin: "zeta", Enabled: false},
		{Channel: "Web", Origin: "alpha", Topic: "t2", Enabled: true},
		{Channel: "Email", Origin: "alpha", Enabled: true},
		{Channel: "Web", Origin: "alpha", Topic: "t1", Enabled: false},
		{Channel: "Web", Origin: "alpha", Enabled: true},
	}
	rowsB := []notifications.SettingRow{{Channel: "Web", Origin: "zeta", Enabled: true}}
	for u, rows := range map[string][]notifications.SettingRow{a: rowsA, b: rowsB} {
		if err := s.ReplaceSettings(e.ctx, u, rows); err != nil {
			t.Fatalf("ReplaceSettings(%s): %v", u, err)
		}
	}
	load := func(users ...string) map[string][]notifications.SettingRow {
		t.Helper()
		got, err := s.SettingRows(e.ctx, users)
		if err != nil {
			t.Fatalf("SettingRows: %v", err)
		}
		return got
	}
	got := load(a, b, "user:default/nobody", a)
	want := map[string][]notifications.SettingRow{a: rowsA, b: rowsB}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("SettingRows = %+v, want %+v (in saved order, users without rows absent)", got, want)
	}

	// A duplicate (channel, origin, topic) fails and changes nothing.
	dup := []notifications.SettingRow{{Channel: "Web", Origin: "x", Enabled: true}, {Channel: "Web", Origin: "x", Enabled: false}}
	if err := s.ReplaceSettings(e.ctx, a, dup); err == nil {
		t.Errorf("ReplaceSettings with a duplicate row: no error")
	}
	if got := load(a); !slices.Equal(got[a], rowsA) {
		t.Errorf("after a failed ReplaceSettings: %+v, want unchanged %+v", got[a], rowsA)
	}

	// Replacing replaces; an empty list deletes.
	fewer := []notifications.SettingRow{{Channel: "Web", Origin: "alpha", Topic: "t1", Enabled: true}, rowsA[0]}
	if err := s.ReplaceSettings(e.ctx, a, fewer); err != nil {
		t.Fatalf("ReplaceSettings: %v", err)
	}
	if got := load(a, b); !slices.Equal(got[a], fewer) || !slices.Equal(got[b], rowsB) {
		t.Errorf("after replace: %+v, want a=%+v and b unchanged", got, fewer)
	}
	if err := s.ReplaceSettings(e.ctx, a, nil); err != nil {
		t.Fatalf("ReplaceSettings(nil): %v", err)
	}
	if got := load(a, b); len(got) != 1 || !slices.Equal(got[b], rowsB) {
		t.Errorf("after clearing a: %+v, want only b", got)
	}
	if got := load(); len(got) != 0 {
		t.Errorf("SettingRows(no users) = %+v, want empty", got)
	}
}

func testSettingRowsManyUsers(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	users := make([]string, 2500)
	for i := range users {
		users[i] = fmt.Sprintf("user:default/u%04d", i)
	}
	if got, err := s.SettingRows(e.ctx, users); err != nil || len(got) != 0 {
		t.Fatalf("SettingRows with nobody's settings = %v, %v; want empty", got, err)
	}
	with := []string{users[3], users[1200], users[2499]}
	for i, u := range with {
		rows := []notifications.SettingRow{{Channel: "Web", Origin: fmt.Sprint("o", i), Enabled: i%2 == 0}}
		if err := s.ReplaceSettings(e.ctx, u, rows); err != nil {
			t.Fatalf("ReplaceSettings: %v", err)
		}
	}
	got, err := s.SettingRows(e.ctx, users)
	if err != nil {
		t.Fatalf("SettingRows: %v", err)
	}
	if len(got) != 3 {
		t.Errorf("SettingRows: %d users, want 3", len(got))
	}
	for i, u := range with {
		if rows := got[u]; len(rows) != 1 || rows[0].Origin != fmt.Sprint("o", i) || rows[0].Enabled != (i%2 == 0) {
			t.Errorf("SettingRows[%s] = %+v", u, rows)
		}
	}
}

// testConcurrentReplaceSettings saves one user's settings from many
// goroutines at once: every save succeeds and one of them wins whole.
func testConcurrentReplaceSettings(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const u = "user:default/clicker"
	const savers = 8
	rows := func(i int) []notifications.SettingRow {
		return []notifications.SettingRow{
			{Channel: "Web", Origin: "plugin:ci", Enabled: i%2 == 0},
			{Channel: "Web", Origin: "plugin:ci", Topic: "builds", Enabled: false},
			{Channel: "Web", Origin: fmt.Sprint("plugin:", i), Enabled: true},
		}
	}
	parallel(t, savers, func(i int) error { return s.ReplaceSettings(e.ctx, u, rows(i)) })
	got, err := s.SettingRows(e.ctx, []string{u})
	if err != nil {
		t.Fatalf("SettingRows: %v", err)
	}
	for i := range savers {
		if slices.Equal(got[u], rows(i)) {
			return
		}
	}
	t.Errorf("after concurrent saves: %+v, want exactly one saver's rows", got[u])
}
