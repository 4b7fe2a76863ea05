package notifications

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/jsonvalue"
)

// The oracle: the wire structs MarshalJSON and Compact encoded through
// json.Marshal before the append encoders replaced them. Every encoder
// must write what these write, byte for byte, and fail where they fail.

type oracleTime time.Time

func (t oracleTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

func oracleOptTime(t *time.Time) *oracleTime { return (*oracleTime)(t) }

func oracleNullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type oracleWirePayload struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Link        string         `json:"link,omitempty"`
	Severity    Severity       `json:"severity,omitempty"`
	Topic       string         `json:"topic,omitempty"`
	Scope       string         `json:"scope,omitempty"`
	Icon        string         `json:"icon,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

type oracleStoredPayload struct {
	Title       string         `json:"title"`
	Description *string        `json:"description"`
	Link        *string        `json:"link"`
	Severity    Severity       `json:"severity"`
	Topic       *string        `json:"topic"`
	Scope       *string        `json:"scope"`
	Icon        *string        `json:"icon"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

type oracleStored struct {
	ID           string              `json:"id"`
	User         *string             `json:"user"`
	Created      oracleTime          `json:"created"`
	Saved        *oracleTime         `json:"saved"`
	Read         *oracleTime         `json:"read"`
	Updated      *oracleTime         `json:"updated"`
	Origin       string              `json:"origin"`
	Payload      oracleStoredPayload `json:"payload"`
	Seen         *oracleTime         `json:"seen"`
	Archived     *oracleTime         `json:"archived"`
	SnoozedUntil *oracleTime         `json:"snoozedUntil"`
}

type oracleSent struct {
	ID           string            `json:"id"`
	User         *string           `json:"user"`
	Created      oracleTime        `json:"created"`
	Saved        *oracleTime       `json:"saved,omitempty"`
	Read         *oracleTime       `json:"read,omitempty"`
	Updated      *oracleTime       `json:"updated,omitempty"`
	Origin       string            `json:"origin"`
	Payload      oracleWirePayload `json:"payload"`
	Seen         *oracleTime       `json:"seen,omitempty"`
	Archived     *oracleTime       `json:"archived,omitempty"`
	SnoozedUntil *oracleTime       `json:"snoozedUntil,omitempty"`
}

func oracleWire(p Payload) oracleWirePayload {
	return oracleWirePayload(p)
}

func oracleMarshal(n Notification) ([]byte, error) {
	p := n.Payload
	return json.Marshal(oracleStored{
		ID: n.ID, User: oracleNullable(n.User), Created: oracleTime(n.Created),
		Saved: oracleOptTime(n.Saved), Read: oracleOptTime(n.Read), Updated: oracleOptTime(n.Updated),
		Origin: n.Origin, Seen: oracleOptTime(n.Seen), Archived: oracleOptTime(n.Archived), SnoozedUntil: oracleOptTime(n.SnoozedUntil),
		Payload: oracleStoredPayload{
			Title: p.Title, Description: oracleNullable(p.Description), Link: oracleNullable(p.Link),
			Severity: p.Severity.OrDefault(), Topic: oracleNullable(p.Topic), Scope: oracleNullable(p.Scope),
			Icon: oracleNullable(p.Icon), Metadata: p.Metadata,
		},
	})
}

func oracleCompact(n Notification) ([]byte, error) {
	p := oracleWire(n.Payload)
	p.Severity = p.Severity.OrDefault()
	return json.Marshal(oracleSent{
		ID: n.ID, User: oracleNullable(n.User), Created: oracleTime(n.Created),
		Saved: oracleOptTime(n.Saved), Read: oracleOptTime(n.Read), Updated: oracleOptTime(n.Updated),
		Origin: n.Origin, Payload: p,
		Seen: oracleOptTime(n.Seen), Archived: oracleOptTime(n.Archived), SnoozedUntil: oracleOptTime(n.SnoozedUntil),
	})
}

// checkEncoders fails t unless every encoder of n agrees with the oracle:
// the same bytes, or an error from both.
func checkEncoders(t *testing.T, n Notification) {
	t.Helper()
	forms := []struct {
		name        string
		got, oracle func() ([]byte, error)
	}{
		{"stored", n.MarshalJSON, func() ([]byte, error) { return oracleMarshal(n) }},
		{"compact", n.Compact().MarshalJSON, func() ([]byte, error) { return oracleCompact(n) }},
		{"payload", n.Payload.MarshalJSON, func() ([]byte, error) { return json.Marshal(oracleWire(n.Payload)) }},
		// Through json.Marshal too, as a caller's struct holding one would
		// be: it validates what MarshalJSON wrote.
		{"nested", func() ([]byte, error) { return json.Marshal([]any{n, n.Compact()}) }, func() ([]byte, error) {
			a, err := oracleMarshal(n)
			if err != nil {
				return nil, err
			}
			b, err := oracleCompact(n)
			return []byte("[" + string(a) + "," + string(b) + "]"), err
		}},
	}
	for _, f := range forms {
		got, gotErr := f.got()
		want, wantErr := f.oracle()
		switch {
		case (gotErr != nil) != (wantErr != nil):
			t.Errorf("%s: error %v, oracle's %v", f.name, gotErr, wantErr)
		case gotErr == nil && !bytes.Equal(got, want):
			t.Errorf("%s:\n got %s\nwant %s", f.name, got, want)
		}
	}
}

// fuzzNotification builds a notification from the fuzzer's values: seven
// strings spread over the text fields, a time, a mask choosing which
// optional times are set, and metadata grown from data (see metadataFrom).
func fuzzNotification(s1, s2, s3 string, sec int64, nsec uint32, mask uint8, data []byte) Notification {
	created := time.Unix(sec, int64(nsec%1e9)).In(time.FixedZone("", int(int8(mask))*900))
	times := make([]*time.Time, 6)
	for i := range times {
		if mask&(1<<i) != 0 {
			ti := created.Add(time.Duration(i) * 1234567 * time.Microsecond)
			times[i] = &ti
		}
	}
	n := Notification{ID: s1, User: s2, Origin: s3, Created: created,
		Saved: times[0], Read: times[1], Updated: times[2], Seen: times[3], Archived: times[4], SnoozedUntil: times[5],
		Payload: Payload{Title: s1 + s2, Description: s2, Link: s3, Severity: Severity(s3), Topic: s1, Scope: s3 + s1, Icon: s2 + s3}}
	if mask&0x40 != 0 {
		n.Payload.Severity = ""
	}
	if mask&0x80 != 0 {
		n.Payload.Metadata = metadataFrom(data, []string{s1, s2, s3})
	}
	return n
}

// metadataFrom grows a metadata object from data: if data is a JSON object
// jsonvalue accepts, that object (json.Number, nested maps and slices,
// strings, bools, nulls: what reads return); otherwise one built byte by
// byte, which adds the Go values an in-process Send may hold (float64,
// int, typed slices and maps, structs, NaN, invalid json.Number) and
// strings from texts.
func metadataFrom(data []byte, texts []string) map[string]any {
	if m, err := jsonvalue.DecodeObject(data); err == nil {
		return m
	}
	g := metadataGen{data: data, texts: texts}
	return g.object(0)
}

type metadataGen struct {
	data  []byte
	texts []string
}

func (g *metadataGen) next() byte {
	if len(g.data) == 0 {
		return 0
	}
	c := g.data[0]
	g.data = g.data[1:]
	return c
}

func (g *metadataGen) text() string {
	c := g.next()
	s := g.texts[int(c)%len(g.texts)]
	if c&0x80 != 0 && s != "" {
		s = s[:int(c)%len(s)]
	}
	return s
}

func (g *metadataGen) object(depth int) map[string]any {
	m := map[string]any{}
	for n := int(g.next() % 6); n > 0 && len(g.data) > 0; n-- {
		m[g.text()] = g.value(depth + 1)
	}
	return m
}

var fuzzNumbers = []json.Number{"0", "-0", "12", "-3.25", "1e21", "1E-7", "", "01", "1.", "x", "+1", "1e", "-", "123456789012345678901234567890"}

func (g *metadataGen) value(depth int) any {
	c := g.next()
	if depth > 6 {
		c %= 8 // scalars only
	}
	switch c % 18 {
	case 0:
		return nil
	case 1:
		return c&0x10 != 0
	case 2, 3:
		return g.text()
	case 4:
		return fuzzNumbers[int(g.next())%len(fuzzNumbers)]
	case 5:
		var raw [8]byte
		for i := range raw {
			raw[i] = g.next()
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(raw[:]))
	case 6:
		return int(int8(g.next())) * 1_000_003
	case 7:
		return int64(g.next()) << 40
	case 8, 9:
		return g.object(depth)
	case 10, 11:
		var s []any
		for n := int(g.next() % 5); n > 0; n-- {
			s = append(s, g.value(depth+1))
		}
		if c&0x20 != 0 && s == nil {
			s = []any{}
		}
		return s
	case 12:
		return map[string]any(nil)
	case 13:
		return []string{g.text(), g.text()}
	case 14:
		return struct {
			A string `json:"a"`
			B int    `json:"b,omitempty"`
		}{g.text(), int(g.next())}
	case 15:
		return map[string]int{g.text(): int(g.next())}
	case 16:
		return Severity(g.text()) // a named string: encoding/json's path
	default:
		return float32(int8(g.next())) / 7
	}
}

func FuzzNotificationJSON(f *testing.F) {
	add := func(s1, s2, s3 string, sec int64, nsec uint32, mask uint8, data string) {
		f.Add(s1, s2, s3, sec, nsec, mask, []byte(data))
	}
	add("id", "user:default/a", "plugin:ci", 1_733_000_000, 123_456_789, 0, "")
	add("", "", "", 0, 0, 0xff, `{"a":1,"b":[true,false,null,"x",1.5e300,{"c":{}}],"d":"\u2028<&>"}`)
	add("<b>&amp;</b>", "\u2028\u2029", "\x00\x01\x1f\x7f\b\f\n\r\t\"\\", -62_135_596_800, 999_999_999, 0x3f, "")
	add("\xff\xfe", "a\xc3", "é\xed\xa0\x80", 253_402_300_799, 1, 0x85, "\x08\x02\x01\x05\x00\x00\x00\x00\x00\x00\xf8\x7f")
	add("x", "y", "z", 300_000_000_000, 500_000, 0xc1, "\x05\x00\x04\x01\x04\x06\x04\x07\x04\x08\x05\x00\x00\x00\x00\x00\x00\xf0\x7f")
	add("k", "k2", "k3", -100_000_000_000, 7, 0x80, "\x05\x00\x0d\x01\x0e\x02\x03\x0f\x00\x10\x01\x11\x05\x0a\x04\x00\x01\x02\x03")
	add("deep", "d", "e", 1, 2, 0x80, strings.Repeat("[", 90)+strings.Repeat("]", 90))
	add("big", "b", "c", 1, 2, 0x80, `{"n":123456789012345678901234567890,"f":-0.000001,"g":1e-7,"h":1E+21,"u":"\ud83d\ude00"}`)
	add("empty", "m", "", 1, 2, 0x80, `{}`)
	// 1e21 and 1e-6 as float64s, where encoding/json's format changes.
	add("f", "g", "h", 1, 2, 0x80, "\x02\x00\x05\x50\xef\xe2\xd6\xe4\x1a\x4b\x44\x01\x05\x8d\xed\xb5\xa0\xf7\xc6\xb0\x3e")
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, sec int64, nsec uint32, mask uint8, data []byte) {
		checkEncoders(t, fuzzNotification(s1, s2, s3, sec, nsec, mask, data))
	})
}

// TestNotificationJSONDeep covers what the fuzzer's inputs do not reach:
// metadata nested past the hand encoder's depth, and a cycle, which only
// an in-process caller can build.
func TestNotificationJSONDeep(t *testing.T) {
	t.Parallel()
	deep := map[string]any{"leaf": json.Number("1")}
	for range maxAppendDepth + 10 {
		deep = map[string]any{"a": deep, "b": []any{"<"}}
	}
	checkEncoders(t, Notification{ID: "d", Payload: Payload{Title: "t", Metadata: deep}})

	cycle := map[string]any{"x": 1}
	cycle["self"] = cycle
	n := Notification{ID: "c", Payload: Payload{Title: "t", Metadata: cycle}}
	checkEncoders(t, n)
	if _, err := n.MarshalJSON(); err == nil {
		t.Error("MarshalJSON of a metadata cycle succeeded")
	}
}

// TestNotificationJSONErrors checks that a value encoding/json refuses
// fails every form, so that the REST handler answers 500 as before
// rather than writing broken JSON.
func TestNotificationJSONErrors(t *testing.T) {
	t.Parallel()
	for name, v := range map[string]any{
		"NaN":            math.NaN(),
		"infinity":       math.Inf(-1),
		"bad number":     json.Number("1.2.3"),
		"channel":        make(chan int),
		"nested NaN":     []any{map[string]any{"f": math.NaN()}},
		"marshaler fail": failingMarshaler{},
	} {
		n := Notification{ID: "e", Payload: Payload{Title: "t", Metadata: map[string]any{"v": v}}}
		checkEncoders(t, n)
		if _, err := n.MarshalJSON(); err == nil {
			t.Errorf("%s: MarshalJSON succeeded", name)
		}
		if _, err := n.Compact().MarshalJSON(); err == nil {
			t.Errorf("%s: Compact().MarshalJSON succeeded", name)
		}
	}
}

type failingMarshaler struct{}

func (failingMarshaler) MarshalJSON() ([]byte, error) { return nil, ErrInvalid }

// benchPage is a page of 20 as a list returns it: half broadcasts, some
// read, metadata on a few, as in BenchmarkServer's inbox.
func benchPage() []Notification {
	created := time.Date(2026, 12, 2, 5, 0, 0, 123e6, time.UTC)
	page := make([]Notification, 20)
	for i := range page {
		n := Notification{ID: "6f1c1b9e-0000-4000-8000-0000000000" + string(rune('a'+i)) + "1", Origin: "external:ci",
			Created: created.Add(-time.Duration(i) * time.Minute),
			Payload: Payload{Title: "Build failed", Description: "main is red since commit abc123", Link: "/ci/builds/1",
				Severity: SeverityHigh, Topic: "builds"}}
		if i%2 == 0 {
			n.User = "user:default/bench-1"
		}
		if i%3 == 0 {
			n.Seen = &n.Created
		}
		if i%4 == 0 {
			n.Payload.Metadata = map[string]any{"build": map[string]any{"id": json.Number("12345"), "ok": false},
				MetadataMarkdownBody: "# Build failed\n\nThe **main** branch is red.", "tags": []any{"ci", "main"}}
		}
		page[i] = n
	}
	return page
}

// BenchmarkPageJSON encodes a page of 20 as the list handler's body:
// "encoding-json" is the path before (an Encoder over the wire structs'
// MarshalJSON), "marshal" calls each MarshalJSON and concatenates (what
// the REST handler does now), "append" appends all into one buffer.
func BenchmarkPageJSON(b *testing.B) {
	page := benchPage()
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		old := oraclePage(page)
		for b.Loop() {
			// What writeJSON did: Encode calls each MarshalJSON (here the
			// oracle's, the code before) and then checks and compacts it.
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(struct {
				TotalCount    int           `json:"totalCount"`
				Notifications []oracleNotif `json:"notifications"`
			}{4800, old}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf := make([]byte, 0, 1024)
			buf = append(buf, `{"totalCount":4800,"notifications":[`...)
			for i, n := range page {
				if i > 0 {
					buf = append(buf, ',')
				}
				enc, err := n.MarshalJSON()
				if err != nil {
					b.Fatal(err)
				}
				buf = append(buf, enc...)
			}
			_ = append(buf, "]}\n"...)
		}
	})
	b.Run("marshal-reused", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = append(buf[:0], `{"totalCount":4800,"notifications":[`...)
			for i, n := range page {
				if i > 0 {
					buf = append(buf, ',')
				}
				enc, err := n.MarshalJSON()
				if err != nil {
					b.Fatal(err)
				}
				buf = append(buf, enc...)
			}
			buf = append(buf, "]}\n"...)
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = append(buf[:0], `{"totalCount":4800,"notifications":[`...)
			for i, n := range page {
				if i > 0 {
					buf = append(buf, ',')
				}
				var err error
				if buf, err = n.appendJSON(buf); err != nil {
					b.Fatal(err)
				}
			}
			buf = append(buf, "]}\n"...)
		}
	})
}

// oracleNotif is a Notification whose MarshalJSON is the oracle's, the
// encoder before this one.
type oracleNotif Notification

func (n oracleNotif) MarshalJSON() ([]byte, error) { return oracleMarshal(Notification(n)) }

func oraclePage(page []Notification) []oracleNotif {
	out := make([]oracleNotif, len(page))
	for i, n := range page {
		out[i] = oracleNotif(n)
	}
	return out
}
