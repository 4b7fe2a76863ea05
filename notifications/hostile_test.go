package notifications_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/notificationstest"
)

// serviceOn is setup's Service on the given store.
func serviceOn(t *testing.T, st notifications.Store) *notifications.Service {
	t.Helper()
	svc, err := notifications.New(notifications.Config{
		Store:   st,
		Catalog: notifications.NewMemoryCatalog(notifications.CatalogEntity{Ref: mockUser}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

// deep returns metadata nested depth levels deep, the metadata object
// itself being the first.
func deep(depth int) map[string]any {
	var inner any = "leaf"
	for range depth - 1 {
		inner = []any{inner}
	}
	return map[string]any{"a": inner}
}

// verdict is what Herald must answer to a request.
type verdict int

const (
	refused  verdict = iota
	accepted         // stored, and read back with the same values
	// resolverRefuses: only resolution refuses it. Validate passes it (a
	// custom resolver may take it); the default resolver and the Recorder
	// refuse it.
	resolverRefuses
)

// hostileSends are requests that once reached a store unchecked.
var hostileSends = []struct {
	name    string
	edit    func(*notifications.SendOptions)
	verdict verdict
}{
	{"NUL in the title", func(o *notifications.SendOptions) { o.Payload.Title = "a\x00b" }, refused},
	{"NUL in the description", func(o *notifications.SendOptions) { o.Payload.Description = "\x00" }, refused},
	{"NUL in the link", func(o *notifications.SendOptions) { o.Payload.Link = "/a\x00" }, refused},
	{"NUL in the topic", func(o *notifications.SendOptions) { o.Payload.Topic = "\x00" }, refused},
	{"NUL in the scope", func(o *notifications.SendOptions) { o.Payload.Scope = "\x00" }, refused},
	{"NUL in the icon", func(o *notifications.SendOptions) { o.Payload.Icon = "\x00" }, refused},
	{"NUL in the origin", func(o *notifications.SendOptions) { o.Origin = "external:\x00" }, refused},
	{"invalid UTF-8 in the title", func(o *notifications.SendOptions) { o.Payload.Title = "caf\xc3" }, refused},
	{"a surrogate encoded in UTF-8", func(o *notifications.SendOptions) { o.Payload.Description = "\xed\xa0\x80" }, refused},
	{"invalid UTF-8 in the origin", func(o *notifications.SendOptions) { o.Origin = "external:\xff" }, refused},
	{"NUL in a metadata key", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"k\x00": "v"} }, refused},
	{"NUL in a metadata value", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"k": "v\x00"} }, refused},
	{"NUL deep in metadata", func(o *notifications.SendOptions) {
		o.Payload.Metadata = map[string]any{"a": []any{1, map[string]any{"b": []any{"\x00"}}}}
	}, refused},
	{"invalid UTF-8 in a metadata key", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"\xff": 1} }, refused},
	{"invalid UTF-8 in typed metadata", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"t": []string{"\xff"}} }, refused},
	{"a number jsonb overflows", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"n": json.Number("1e200000")} }, refused},
	{"a number past float64", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"n": json.Number("2e308")} }, refused},
	{"a number that rounds to zero", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"n": json.Number("1e-400")} }, refused},
	{"a zero with a huge exponent", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"n": json.Number("0e-99999")} }, refused},
	{"a malformed json.Number", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"n": json.Number("1x")} }, refused},
	{"NaN", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"n": math.NaN()} }, refused},
	{"infinity", func(o *notifications.SendOptions) { o.Payload.Metadata = map[string]any{"n": math.Inf(1)} }, refused},
	{"metadata nested too deep", func(o *notifications.SendOptions) { o.Payload.Metadata = deep(notifications.MaxMetadataDepth + 1) }, refused},
	{"metadata over its size limit", func(o *notifications.SendOptions) {
		o.Payload.Metadata = map[string]any{"x": strings.Repeat("y", notifications.MaxMetadataBytes)}
	}, refused},
	{"an exclusion that is no ref", func(o *notifications.SendOptions) { o.Recipients = o.Recipients.Excluding("!!") }, refused},
	{"NUL in a ref", func(o *notifications.SendOptions) { o.Recipients = notifications.Entity("user:default/mo\x00ck") }, refused},
	{"invalid UTF-8 in a ref", func(o *notifications.SendOptions) { o.Recipients = notifications.Entity("user:default/\xff") }, refused},
	{"a ref without a kind", func(o *notifications.SendOptions) { o.Recipients = notifications.Entity("mock") }, resolverRefuses},
	{"a protocol-relative link", func(o *notifications.SendOptions) { o.Payload.Link = "//evil.example/x" }, refused},
	{"a backslash link", func(o *notifications.SendOptions) { o.Payload.Link = `/\evil.example/x` }, refused},
	{"a title of 256 characters", func(o *notifications.SendOptions) { o.Payload.Title = strings.Repeat("é", 256) }, refused},

	{"a 23-digit number", func(o *notifications.SendOptions) {
		o.Payload.Metadata = map[string]any{"big": json.Number("12345678901234567890123")}
	}, accepted},
	{"numbers at the edges of the range", func(o *notifications.SendOptions) {
		o.Payload.Metadata = map[string]any{
			"max": json.Number("1.7976931348623157e308"), "min": json.Number("-5e-324"), "zero": json.Number("-0.0e-999"),
			"fraction": json.Number("0." + strings.Repeat("7", notifications.MaxMetadataNumberLength-2)),
			"gomax":    math.MaxFloat64, "gomin": math.SmallestNonzeroFloat64,
		}
	}, accepted},
	{"metadata nested as deep as allowed", func(o *notifications.SendOptions) { o.Payload.Metadata = deep(notifications.MaxMetadataDepth) }, accepted},
	{"text beyond ASCII", func(o *notifications.SendOptions) {
		o.Payload.Title = "Déploiement 🚀 \ufffd"
		o.Payload.Metadata = map[string]any{"ключ": "値", "emoji": "😀"}
	}, accepted},
}

// TestHostileSendsAgree runs every hostile request through
// SendOptions.Validate, a notificationstest.Recorder and a real Service on
// each store: all refuse it (an error wrapping ErrInvalid, nothing stored)
// or all accept it, and what is accepted reads back with every number's
// value kept.
func TestHostileSendsAgree(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		svc := serviceOn(t, st)
		for _, tt := range hostileSends {
			t.Run(tt.name, func(t *testing.T) {
				o := notifications.SendOptions{Origin: origin, Recipients: notifications.Entity(mockUser), Payload: notifications.Payload{Title: "t"}}
				tt.edit(&o)
				verdicts := map[string]error{}
				if err := o.Validate(); tt.verdict != resolverRefuses {
					verdicts["Validate"] = err
				} else if err != nil {
					t.Errorf("Validate = %v, want it left to the resolver", err)
				}
				_, verdicts["Recorder"] = notificationstest.NewRecorder(o.Origin).Send(t.Context(), o.Recipients, o.Payload)
				sent, err := svc.Send(t.Context(), o)
				verdicts["Service"] = err
				for who, err := range verdicts {
					if tt.verdict == accepted && err != nil {
						t.Errorf("%s refused it: %v", who, err)
					}
					if tt.verdict != accepted && !errors.Is(err, notifications.ErrInvalid) {
						t.Errorf("%s = %v, want an error wrapping ErrInvalid", who, err)
					}
				}
				if tt.verdict != accepted || len(sent) != 1 {
					return
				}
				got, err := svc.Get(t.Context(), mockUser, sent[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Payload.Title != o.Payload.Title {
					t.Errorf("title read back as %q, want %q", got.Payload.Title, o.Payload.Title)
				}
				sameJSONValue(t, "payload.metadata", got.Payload.Metadata, o.Payload.Metadata)
			})
		}
		// Nothing refused was stored.
		res, err := svc.List(t.Context(), mockUser, notifications.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stored := 0
		for _, tt := range hostileSends {
			if tt.verdict == accepted {
				stored++
			}
		}
		if res.TotalCount != stored {
			t.Errorf("%d notifications stored, want the %d accepted", res.TotalCount, stored)
		}
	})
}

// sameJSONValue fails t unless got (as read back, numbers json.Number)
// holds the same JSON value as want (as sent): numbers are compared
// exactly as decimals, since PostgreSQL may spell them differently.
func sameJSONValue(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s = %#v, want %#v", path, got, want)
			return
		}
		for k, v := range w {
			sameJSONValue(t, path+"."+k, g[k], v)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s = %#v, want %#v", path, got, want)
			return
		}
		for i := range w {
			sameJSONValue(t, path+"[]", g[i], w[i])
		}
	case json.Number, float64:
		var lit string
		if f, ok := w.(float64); ok {
			b, _ := json.Marshal(f)
			lit = string(b)
		} else {
			lit = string(w.(json.Number))
		}
		g, ok := got.(json.Number)
		wr, ok1 := new(big.Rat).SetString(lit)
		gr, ok2 := new(big.Rat).SetString(string(g))
		if !ok || !ok1 || !ok2 || wr.Cmp(gr) != 0 {
			t.Errorf("%s = %#v, want the value of %s", path, got, lit)
		}
	default:
		if got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
}

// wantField fails t unless err is a *ValidationError naming field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var verr *notifications.ValidationError
	if !errors.As(err, &verr) {
		t.Errorf("%s = %v, want a *ValidationError naming %s", what, err, field)
		return
	}
	for _, f := range verr.Fields {
		if f.Field == field {
			return
		}
	}
	t.Errorf("%s = %v, want it to name %s", what, err, field)
}

// TestHostileInboxInput sends what once reached the stores unchecked
// through every inbox method that takes it, on each store: each is a
// *ValidationError naming the field, and a search of the longest allowed
// length, of any characters, works.
func TestHostileInboxInput(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st notifications.Store) {
		ctx := t.Context()
		svc := serviceOn(t, st)
		if _, err := svc.Send(ctx, notifications.SendOptions{Origin: origin, Recipients: notifications.Entity(mockUser),
			Payload: notifications.Payload{Title: "100% done_", Topic: "t"}}); err != nil {
			t.Fatal(err)
		}
		filterMethods := map[string]func(notifications.Filter) error{
			"List": func(f notifications.Filter) error {
				_, err := svc.List(ctx, mockUser, notifications.ListOptions{Filter: f})
				return err
			},
			"Topics": func(f notifications.Filter) error {
				_, err := svc.Topics(ctx, mockUser, f)
				return err
			},
			"MarkAllRead": func(f notifications.Filter) error {
				f.CreatedBefore = new(time.Time{}) // marks nothing, so every case sees the same rows
				_, err := svc.MarkAllRead(ctx, mockUser, f)
				return err
			},
		}
		for name, call := range filterMethods {
			for _, tt := range []struct {
				what   string
				filter notifications.Filter
				field  string // "" when the filter is fine
			}{
				{"search too long", notifications.Filter{Search: strings.Repeat("é", notifications.MaxSearchLength+1)}, "search"},
				{"longest search of %", notifications.Filter{Search: strings.Repeat("%", notifications.MaxSearchLength)}, ""},
				{"longest search of _ and \\", notifications.Filter{Search: strings.Repeat(`_\`, notifications.MaxSearchLength/2)}, ""},
				{"longest search of é", notifications.Filter{Search: strings.Repeat("é", notifications.MaxSearchLength)}, ""},
				{"NUL in search", notifications.Filter{Search: "a\x00"}, "search"},
				{"invalid UTF-8 in search", notifications.Filter{Search: "\xff\xfe"}, "search"},
				{"invalid UTF-8 in topic", notifications.Filter{Topic: "\xff\xfe"}, "topic"},
				{"NUL in topic", notifications.Filter{Topic: "\x00"}, "topic"},
				{"invalid UTF-8 in an id", notifications.Filter{IDs: []string{"ok", "\xff"}}, "ids[1]"},
				{"unknown severity", notifications.Filter{MinimumSeverity: "urgent"}, "minimumSeverity"},
			} {
				err := call(tt.filter)
				if tt.field == "" {
					if err != nil {
						t.Errorf("%s with %s: %v", name, tt.what, err)
					}
					continue
				}
				wantField(t, name+" with "+tt.what, err, tt.field)
			}
		}
		if ids, err := svc.MarkAllRead(ctx, mockUser, notifications.Filter{Search: "100%"}); err != nil || len(ids) != 1 {
			t.Errorf("MarkAllRead after the hostile filters = %v, %v; want the one notification", ids, err)
		}

		badUser := "user:default/\xff"
		for name, call := range map[string]func() error{
			"List":   func() error { _, err := svc.List(ctx, badUser, notifications.ListOptions{}); return err },
			"Get":    func() error { _, err := svc.Get(ctx, badUser, "x"); return err },
			"Status": func() error { _, err := svc.Status(ctx, badUser); return err },
			"Topics": func() error { _, err := svc.Topics(ctx, badUser, notifications.Filter{}); return err },
			"Update": func() error {
				_, err := svc.Update(ctx, badUser, notifications.UpdateOptions{IDs: []string{}, Read: new(true)})
				return err
			},
			"MarkAllRead":  func() error { _, err := svc.MarkAllRead(ctx, badUser, notifications.Filter{}); return err },
			"Settings":     func() error { _, err := svc.Settings(ctx, badUser); return err },
			"SaveSettings": func() error { _, err := svc.SaveSettings(ctx, badUser, notifications.Settings{}); return err },
			"CatchUp": func() error {
				_, err := svc.CatchUp(ctx, badUser, notifications.SignalChannel, time.Time{})
				return err
			},
		} {
			wantField(t, name+" for an invalid UTF-8 user", call(), "user")
		}

		_, err := svc.Update(ctx, mockUser, notifications.UpdateOptions{IDs: []string{"a\x00"}, Read: new(true)})
		wantField(t, "Update with a NUL id", err, "ids[0]")
		for _, tt := range []struct {
			what     string
			settings notifications.Settings
			field    string
		}{
			{"NUL in an origin id", webOrigin("o\x00", true), "channels[0].origins[0].id"},
			{"invalid UTF-8 in an origin id", webOrigin("\xff", true), "channels[0].origins[0].id"},
			{"invalid UTF-8 in a topic id", webOrigin("o", true, notifications.TopicSettings{ID: "\xc3", Enabled: true}), "channels[0].origins[0].topics[0].id"},
			{"invalid UTF-8 in a channel id", notifications.Settings{Channels: []notifications.ChannelSettings{{ID: "W\xffb"}}}, "channels[0].id"},
		} {
			_, err := svc.SaveSettings(ctx, mockUser, tt.settings)
			wantField(t, "SaveSettings with "+tt.what, err, tt.field)
		}
	})
}
