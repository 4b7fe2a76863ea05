package email

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/heraldhq/herald/notifications"
)

func TestValidAddress(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"a@x.com": true, "first.last+tag@sub.example.org": true,
		"": false, " a@x.com": false, "a@x.com ": false, "bad address@x.com": false, "a\t@x.com": false,
		`"a"@x.com`: false, "a'b@x.com": false, "a,b@x.com": false, "a;b@x.com": false,
		"<a@x.com>": false, "a:b@x.com": false, "ax.com": false, "a@b@x.com": false, "@x.com": false, "a@": false,
	} {
		if got := validAddress(s); got != want {
			t.Errorf("validAddress(%q) = %v, want %v", s, got, want)
		}
	}
}

// The address rules alone: the allowlist and the allowed domains together
// admit an address either names; the denylist then removes addresses; all
// compared case-insensitively, and a malformed address is dropped first.
func TestAllowRules(t *testing.T) {
	t.Parallel()
	in := []string{"a@x.com", "b@y.com", "c@z.com", "A@X.COM", "bad address"}
	tests := []struct {
		name                 string
		allow, domains, deny []string
		want                 []string
	}{
		{name: "no rules", want: []string{"a@x.com", "b@y.com", "c@z.com"}},
		{name: "allowlist or domain", allow: []string{"a@x.com"}, domains: []string{"y.com"}, want: []string{"a@x.com", "b@y.com"}},
		{name: "allowlist or domain, then deny", allow: []string{"a@x.com"}, domains: []string{"y.com"}, deny: []string{"b@y.com"}, want: []string{"a@x.com"}},
		{name: "allowlist only", allow: []string{" A@x.com"}, want: []string{"a@x.com"}},
		{name: "domains only", domains: []string{"Z.COM"}, want: []string{"c@z.com"}},
		{name: "deny only, case-insensitive", deny: []string{"B@Y.com "}, want: []string{"a@x.com", "c@z.com"}},
		{name: "deny beats allow", allow: []string{"a@x.com"}, deny: []string{"a@x.com"}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Processor{allow: addressSet(tt.allow), domains: addressSet(tt.domains), deny: addressSet(tt.deny)}
			got := p.filterAddresses(slog.New(slog.DiscardHandler), in)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The built-in text part is the description, a blank line and the link
// made absolute against BaseURL; without a link, the inbox. Checked on the
// rendered message, before MIME encoding.
func TestRenderTextPart(t *testing.T) {
	t.Parallel()
	p, err := New(Config{Host: "h", From: "a@b.c", BaseURL: "http://localhost", Catalog: notifications.NewMemoryCatalog()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.render(t.Context(), notifications.Notification{Payload: notifications.Payload{Title: "T", Description: "D", Link: "/catalog"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "T" || m.Text != "D\n\nhttp://localhost/catalog" {
		t.Fatalf("subject %q text %q", m.Subject, m.Text)
	}
	m, _ = p.render(t.Context(), notifications.Notification{Payload: notifications.Payload{Title: "T", Description: "D"}})
	if m.Text != "D\n\nhttp://localhost/notifications" {
		t.Fatalf("text %q", m.Text)
	}
}
