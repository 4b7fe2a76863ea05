package email_test

import (
	"log/slog"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/email"
)

// A mail processor for a company relay: STARTTLS required, mail only to
// the company's domain, broadcasts to every catalog user, critical and high
// notifications only.
func ExampleNew() {
	catalog := notifications.NewMemoryCatalog(
		notifications.CatalogEntity{Ref: "user:default/jane", Profile: notifications.Profile{Email: "jane@example.com"}},
	)
	mailer, err := email.New(email.Config{
		Host:              "smtp.example.com",
		TLS:               email.TLSStartTLS,
		Username:          "backstage",
		Password:          "secret",
		From:              "Backstage <noreply@example.com>",
		BaseURL:           "https://backstage.example.com",
		Catalog:           catalog,
		BroadcastReceiver: email.ReceiverUsers,
		AllowedDomains:    []string{"example.com"},
		Filter:            notifications.ProcessorFilter{MinSeverity: notifications.SeverityHigh},
		Logger:            slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	// Add it to the service: notifications.Config{Processors: []notifications.Processor{mailer}, ...}.
	_ = mailer
}
