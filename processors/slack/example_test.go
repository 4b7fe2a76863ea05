package slack_test

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/processors/slack"
)

// Broadcasts from the catalog go to #catalog-ops, security broadcasts from
// anywhere to #security; everything else to #announcements.
func ExampleProcessor_RouteChannels() {
	p, err := slack.New(slack.Config{
		Token: "xoxb-your-bot-token",
		BroadcastRoutes: []slack.Route{
			{Origin: "plugin:catalog", Channels: []string{"#catalog-ops"}},
			{Topic: "security", Channels: []string{"#security"}},
		},
		BroadcastChannels: []string{"#announcements"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.RouteChannels("plugin:catalog", "security"))
	fmt.Println(p.RouteChannels("plugin:scaffolder", "security"))
	fmt.Println(p.RouteChannels("plugin:scaffolder", ""))
	// Output:
	// [#catalog-ops]
	// [#security]
	// [#announcements]
}

// The processor needs a catalog for group channels and direct messages,
// and a shared TimestampStore (Herald's store implements it) so scoped
// re-sends edit their message from any instance.
func ExampleNew() {
	catalog := notifications.NewMemoryCatalog(
		notifications.CatalogEntity{Ref: "group:default/team-a", Annotations: map[string]string{slack.AnnotationBotNotify: "C0123TEAMA"}},
	)
	p, err := slack.New(slack.Config{
		Token:      "xoxb-your-bot-token",
		Catalog:    catalog,
		BaseURL:    "https://backstage.example.com",
		Timestamps: slack.NewMemoryTimestamps(), // or the *store.Store
	})
	if err != nil {
		panic(err)
	}
	// Forget message timestamps after a day, as Backstage does.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = p.RunTimestampCleaner(ctx, time.Hour) }()
	// Add p to notifications.Config.Processors.
}
