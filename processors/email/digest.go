package email

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/notifications"
)

// defaultDigestSubject is Config.DigestSubject's default.
const defaultDigestSubject = "{count} new notifications"

// PostProcessDigest makes one attempt at mailing user one email listing
// ns, oldest first, which is what the processor does for a digest when
// wrapped with notifications.Digest:
//
//	notifications.Digest(mailer, notifications.DigestConfig{Window: time.Hour})
//
// The email's Subject is Config.DigestSubject. Each notification is
// rendered as PostProcess renders it without a Template (its title as a
// heading, then its description or Markdown body and its absolute link),
// in both the HTML and the text part, separated by rules. The Message-ID
// derives from the digest's delivery (notifications.DeliveryFromContext)
// and the address, the same on every attempt, which sends the same
// notifications. Addresses, their rules, the throttle, the failure
// classification and the retries that mail only the addresses that
// failed are PostProcess's.
func (p *Processor) PostProcessDigest(ctx context.Context, user string, ns []notifications.Notification) error {
	log := p.log.With("processor", Name, "user", user)
	addrs, err := p.lookup.Addresses(ctx, user)
	if err != nil {
		return fmt.Errorf("email: digest for %s: recipients: %w", user, err)
	}
	addrs = p.filterAddresses(log, addrs)
	if len(addrs) == 0 || len(ns) == 0 {
		log.Debug("email: no recipients for a digest")
		return nil
	}
	msg, err := p.renderDigest(ns)
	if err != nil {
		return fmt.Errorf("email: digest for %s: render: %w", user, err)
	}
	d, stable := notifications.DeliveryFromContext(ctx)
	return p.mailAll(ctx, log, addrs, mailing{msg: msg, id: d.ID, stable: stable && d.ID != "", deliveryID: d.ID, what: "digest for " + user})
}

// renderDigest builds a digest's message from each notification's
// built-in rendering.
func (p *Processor) renderDigest(ns []notifications.Notification) (Message, error) {
	subject := strings.ReplaceAll(cmp.Or(p.cfg.DigestSubject, defaultDigestSubject), "{count}", strconv.Itoa(len(ns)))
	var text, body strings.Builder
	for i, n := range ns {
		item, err := p.builtIn(n)
		if err != nil {
			return Message{}, fmt.Errorf("notification %s: %w", n.ID, err)
		}
		if i > 0 {
			text.WriteString("\n\n---\n\n")
			body.WriteString("<hr>")
		}
		text.WriteString(n.Payload.Title + "\n\n" + item.Text)
		body.WriteString("<h2>" + html.EscapeString(n.Payload.Title) + "</h2>" + item.HTML)
	}
	return Message{Subject: subject, Text: text.String(), HTML: body.String()}, nil
}
