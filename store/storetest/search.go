package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

// Search folds case with Unicode simple case folding, the same on every
// store (strings.EqualFold's equivalence): each character folds to one
// character, nothing expands ("ß" is not "ss") and no language's rules
// apply (the Turkish "ı" and "İ" fold to neither "i" nor "I").

// testSearchCase checks the folding itself on titles.
func testSearchCase(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	titles := []string{
		"Build FAILED on main", "ÉCOLE élève", "Straße", "GROẞ", "ärger",
		"ΚΟΣΜΟΣ", "İstanbul ılık", "5 \u212A", "Ünïcode 100% a_b",
	}
	e.expectSearches(titles, map[string][]string{
		"failed":      {id(1)},
		"bUILD f":     {id(1)},
		"école":       {id(2)},
		"éCOLE ÉLÈVE": {id(2)},
		"ECOLE":       nil, // accents are not case
		"STRAẞE":      {id(3)},
		"straße":      {id(3)},
		"STRASSE":     nil, // simple folding: ß stays one character
		"groß":        {id(4)},
		"ÄRGER":       {id(5)},
		"Ärger":       {id(5)},
		"arger":       nil,
		"κοσμος":      {id(6)}, // final sigma
		"κοσμοσ":      {id(6)},
		"ΚΌΣΜΟΣ":      nil,
		"İSTANBUL":    {id(7)},
		"istanbul":    nil, // İ is not I
		"ıLıK":        {id(7)},
		"ILIK":        nil,     // ı is not i
		"5 k":         {id(8)}, // the Kelvin sign is K
		"5 K":         {id(8)},
		"ÜNÏCODE":     {id(9)},
		"NICODE":      nil, // ï is not i
		"0% A_B":      {id(9)},
		"%a":          nil, // '%' and '_' are literal
		"0_":          nil,
	})
}

// testSearchEverywhere checks that the folded search applies to titles
// and descriptions, notifications and broadcasts, and to every call that
// takes a Filter, paged or not.
func testSearchEverywhere(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.save(
		notifications.Notification{ID: id(1), User: user, Origin: "o", Created: e.now.Add(-time.Minute),
			Payload: notifications.Payload{Title: "Ärger", Description: "ÜBER DEN BUILD", Topic: "t1"}},
		notifications.Notification{ID: id(2), User: other, Origin: "o", Created: e.now,
			Payload: notifications.Payload{Title: "ärger", Topic: "t3"}},
	)
	e.broadcast(notifications.Notification{ID: id(3), Origin: "o", Created: e.now.Add(-time.Hour),
		Payload: notifications.Payload{Title: "GRÜẞE", Description: "Straße ΣΟΦΌΣ", Topic: "t2"}})
	for term, want := range map[string][]string{
		"ÄRGER":       {id(1)},
		"über den":    {id(1)},
		"grüße":       {id(3)},
		"STRAẞE σοφ":  {id(3)},
		"σοφόσ":       {id(3)},
		"E":           {id(1), id(3)},
		"ärger über":  nil, // title and description are searched one at a time
		"DEN BUILDS":  nil,
		"grüsse":      nil,
		"straße σοφο": nil,
	} {
		e.expectSearch(term, want...)
	}
	topics, err := s.Topics(e.ctx, user, notifications.Filter{Search: "STRAẞE"})
	if err != nil || !slices.Equal(topics, []string{"t2"}) {
		t.Errorf("Topics(search STRAẞE) = %v, %v; want [t2]", topics, err)
	}
	marked, err := s.MarkAllRead(e.ctx, user, notifications.Filter{Search: "über"}, e.now)
	if err != nil {
		t.Fatalf("MarkAllRead(search über): %v", err)
	}
	expectSameIDs(t, "MarkAllRead(search über)", marked, id(1))
	marked, err = s.MarkAllRead(e.ctx, user, notifications.Filter{Search: "GRÜßE"}, e.now)
	if err != nil {
		t.Fatalf("MarkAllRead(search GRÜßE): %v", err)
	}
	expectSameIDs(t, "MarkAllRead(search GRÜßE)", marked, id(3))
	expectIDs(t, "read after MarkAllRead", e.listIDs(notifications.Query{Filter: notifications.Filter{Read: ptr(true)}}), id(1), id(3))
	expectIDs(t, "other's search", e.listIDs(notifications.Query{User: other, Filter: notifications.Filter{Search: "ÄRGER"}}), id(2))
}

// expectSearch checks that a search for term lists want, in created
// order, newest first: with no limit and with a page of 20, and counted.
func (e *env) expectSearch(term string, want ...string) {
	e.t.Helper()
	f := notifications.Filter{Search: term}
	expectIDs(e.t, fmt.Sprintf("search %q", term), e.listIDs(notifications.Query{Filter: f}), want...)
	expectIDs(e.t, fmt.Sprintf("search %q, page", term), e.listIDs(notifications.Query{Filter: f, Limit: 20}), want...)
	if c := e.count(user, f); c != len(want) {
		e.t.Errorf("Count(search %q) = %d, want %d", term, c, len(want))
	}
}

// testSearchRewritten checks that a scoped re-send is searched by its new
// text, for a user's notification and for a broadcast.
func testSearchRewritten(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	n := notifications.Notification{ID: id(1), User: user, Origin: "o", Created: e.now.Add(-time.Hour),
		Payload: notifications.Payload{Title: "Alte Übersicht", Description: "ÄLTER", Scope: "s"}}
	b := notifications.Notification{ID: id(2), Origin: "o", Created: e.now.Add(-2 * time.Hour),
		Payload: notifications.Payload{Title: "Erste Grüße", Scope: "s"}}
	e.save(n)
	e.broadcast(b)
	e.expectSearch("übersicht", id(1))
	e.expectSearch("älter", id(1))
	e.expectSearch("GRÜẞE", id(2))

	n.ID, n.Created = id(3), e.now.Add(-time.Minute)
	n.Payload.Title, n.Payload.Description = "NEUE ÜBERSICHT", ""
	b.ID, b.Created = id(4), e.now.Add(-30*time.Second)
	b.Payload.Title, b.Payload.Description = "Zweite", "GRÜẞE AN ALLE"
	e.save(n)
	e.broadcast(b)
	e.expectSearch("alte")
	e.expectSearch("älter")
	e.expectSearch("neue übersicht", id(1))
	e.expectSearch("erste")
	e.expectSearch("zweite", id(2))
	e.expectSearch("grüße an", id(2))
}

// testSearchLengthFolded checks that a search of MaxSearchLength
// characters is answered whatever its folding does to its length in
// bytes, which grows ("Ⱥ" of two bytes folds to "ⱥ" of three), shrinks
// (the Kelvin sign's three bytes to "k") or stays, and matches as folded.
func testSearchLengthFolded(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	const n = notifications.MaxSearchLength
	texts := []string{strings.Repeat("ⱥ", n), strings.Repeat("k", n), strings.Repeat("ß", n), strings.Repeat("σ", n)}
	var ns []notifications.Notification
	for i, text := range texts {
		ns = append(ns, notifications.Notification{ID: id(i + 1), User: user, Origin: "o", Created: e.now.Add(-time.Duration(i) * time.Second),
			Payload: notifications.Payload{Title: "x" + text + "y"}})
	}
	e.save(ns...)
	e.broadcast(notifications.Notification{ID: id(100), Origin: "o", Created: e.now.Add(-time.Hour),
		Payload: notifications.Payload{Title: "b", Description: strings.Repeat("Ⱥ", n)}})
	for term, want := range map[string][]string{
		strings.Repeat("Ⱥ", n):              {id(1), id(100)},
		strings.Repeat("\u212A", n):         {id(2)},
		strings.Repeat("K", n):              {id(2)},
		strings.Repeat("ẞ", n):              {id(3)},
		strings.Repeat("Σς", n/2):           {id(4)},
		strings.Repeat("Ⱥ", n-1) + "k":      nil,
		"x" + strings.Repeat("Ⱥ", n-1):      {id(1)},
		strings.Repeat("\u212A", n-1) + "Y": {id(2)},
	} {
		e.expectSearch(term, want...)
	}
}

// testSearchHostile checks that a search no store can take (a NUL byte,
// invalid UTF-8) is refused with ErrInvalid by every call that takes a
// Filter, also beside characters that fold, and that nothing was marked.
func testSearchHostile(t *testing.T, s notifications.Store) {
	e := setup(t, s)
	e.save(notifications.Notification{ID: id(1), User: user, Origin: "o", Created: e.now,
		Payload: notifications.Payload{Title: "ÄRGER \ufffd"}})
	for _, bad := range []string{"Ä\x00", "ÄR\xffGER", "\xed\xa0\x80ẞ", "\xc3", "Ä\xc3"} {
		f := notifications.Filter{Search: bad}
		q := fmt.Sprintf("%q", bad)
		var errs []error
		_, err := s.List(e.ctx, notifications.Query{User: user, Filter: f})
		errs = append(errs, err)
		_, err = s.List(e.ctx, notifications.Query{User: user, Filter: f, Limit: 20})
		errs = append(errs, err)
		_, err = s.Count(e.ctx, user, f)
		errs = append(errs, err)
		_, err = s.Topics(e.ctx, user, f)
		errs = append(errs, err)
		_, err = s.MarkAllRead(e.ctx, user, f, e.now)
		errs = append(errs, err)
		for i, err := range errs {
			if !errors.Is(err, notifications.ErrInvalid) {
				t.Errorf("%s %s: error %v, want ErrInvalid", []string{"List", "List page", "Count", "Topics", "MarkAllRead"}[i], q, err)
			}
		}
	}
	expectIDs(t, "unread after the refused searches", e.listIDs(notifications.Query{Filter: notifications.Filter{Read: ptr(false)}}), id(1))
	e.expectSearch("ärger \ufffd", id(1)) // U+FFFD itself is text like any other
}
