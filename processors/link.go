package processors

import (
	"net/url"
	"strings"
)

// AbsoluteLink makes a notification's link absolute against the
// application's base URL (Backstage's app.baseUrl), the way the email and
// Slack processors render it:
//
//   - an empty link becomes base + "/notifications", the inbox;
//   - an absolute URL (one with a scheme, like https://example.com/x) is
//     returned unchanged;
//   - anything else loses its leading slashes and is resolved against base
//     with a trailing slash, so base "https://b.example/portal" and link
//     "/catalog" give "https://b.example/portal/catalog".
//
// base is used as given apart from trailing slashes; AbsoluteLink does not
// validate it (the processors' constructors do).
func AbsoluteLink(base, link string) string {
	base = strings.TrimRight(base, "/")
	link = strings.TrimSpace(link)
	if link == "" {
		return base + "/notifications"
	}
	if u, err := url.Parse(link); err == nil && u.Scheme != "" {
		return link
	}
	rel := strings.TrimLeft(link, "/")
	b, err := url.Parse(base + "/")
	if err != nil {
		return base + "/" + rel
	}
	r, err := url.Parse(rel)
	if err != nil {
		return base + "/" + rel
	}
	return b.ResolveReference(r).String()
}

// IsAbsoluteURL reports whether s is an absolute http or https URL with a
// host, the only kind of link a chat button or an email client can open.
func IsAbsoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
