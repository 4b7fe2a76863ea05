// Command quickstart is Herald in one file: a SQLite store, a catalog with
// a group, a custom processor and the signals hub; it sends to a user, a
// group and everyone, then shows each inbox, marks things read, turns a
// topic off and prints the signals that went out.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/store"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	// A SQLite file in a fresh folder, so every run starts empty.
	dir, err := os.MkdirTemp("", "herald-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "herald.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	// Who is who: the catalog expands groups into their members.
	catalog := notifications.NewMemoryCatalog(
		notifications.CatalogEntity{Ref: "user:default/alice"},
		notifications.CatalogEntity{Ref: "user:default/bob"},
		notifications.CatalogEntity{Ref: "user:default/carol"},
		notifications.CatalogEntity{Ref: "group:default/platform", Relations: []notifications.Relation{
			{Type: notifications.RelationHasMember, TargetRef: "user:default/alice"},
			{Type: notifications.RelationHasMember, TargetRef: "user:default/bob"},
		}},
	)

	// A custom processor: an audit line for every delivered notification.
	// Each send stores one delivery per recipient for it, which the
	// Service's workers run in the background: collect, print later.
	var auditMu sync.Mutex
	var audit []string
	auditor := &notifications.PostProcessorFunc{ProcessorName: "audit", Func: func(_ context.Context, n notifications.Notification, _ notifications.SendOptions) error {
		who := n.User
		if n.IsBroadcast() {
			who = "everyone"
		}
		auditMu.Lock()
		defer auditMu.Unlock()
		audit = append(audit, fmt.Sprintf("audit: %q from %s to %s", n.Payload.Title, n.Origin, who))
		return nil
	}}

	// The hub fans signals out to live connections; here, Alice's browser.
	hub := signals.NewHub(signals.HubConfig{})
	defer hub.Close()
	alicesBrowser := hub.Subscribe(signals.SubscribeOptions{
		User:          "user:default/alice",
		OwnershipRefs: []string{"user:default/alice", "group:default/platform"},
		Channels:      []string{notifications.SignalChannel},
	})

	// OnDelivery sees each delivery outcome the Service records; here it
	// tells when deliveries are done.
	finished := make(chan notifications.Delivery, 16)
	svc, err := notifications.New(notifications.Config{
		Store:      st,
		Signals:    hub,
		Catalog:    catalog,
		Processors: []notifications.Processor{auditor},
		OnDelivery: func(_ context.Context, d notifications.Delivery) {
			if d.Status.Final() {
				finished <- d
			}
		},
	})
	if err != nil {
		return err
	}

	ci := svc.Sender("external:ci")
	sends := []struct {
		to notifications.Recipients
		p  notifications.Payload
	}{
		{notifications.Entity("user:carol"), notifications.Payload{Title: "Your review is requested", Link: "/reviews/42"}},
		{notifications.Entity("group:default/platform"), notifications.Payload{Title: "Build failed on main", Severity: notifications.SeverityHigh, Topic: "builds"}},
		{notifications.Broadcast(), notifications.Payload{Title: "Maintenance tonight at 22:00", Severity: notifications.SeverityLow}},
	}
	for _, s := range sends {
		sent, err := ci.Send(ctx, s.to, s.p)
		if err != nil {
			return err
		}
		fmt.Printf("sent %q to %d recipient(s)\n", s.p.Title, len(sent))
	}

	// Bob turns the builds topic off in the in-app channel (Web) only: the
	// next build notice skips his inbox, but Alice still gets it, and his
	// other channels (each post-processor is one, like the audit) still
	// deliver it to him.
	_, err = svc.SaveSettings(ctx, "user:default/bob", notifications.Settings{Channels: []notifications.ChannelSettings{{
		ID: notifications.WebChannel,
		Origins: []notifications.OriginSettings{{ID: "external:ci", Enabled: true,
			Topics: []notifications.TopicSettings{{ID: "builds", Enabled: false}}}},
	}}})
	if err != nil {
		return err
	}
	sent, err := ci.Send(ctx, notifications.Entity("group:default/platform"), notifications.Payload{Title: "Build fixed on main", Topic: "builds"})
	if err != nil {
		return err
	}
	fmt.Printf("sent %q to %d recipient(s): bob turned builds off for his inbox (the in-app channel) only,\n", "Build fixed on main", len(sent))
	fmt.Println("  so it skips his inbox but still reaches his other channels, like the audit below")

	// Alice reads everything; Carol reads her review request.
	if _, err := svc.MarkAllRead(ctx, "user:default/alice", notifications.Filter{}); err != nil {
		return err
	}
	carols, err := svc.List(ctx, "user:default/carol", notifications.ListOptions{Filter: notifications.Filter{Search: "review"}})
	if err != nil {
		return err
	}
	if _, err := svc.Update(ctx, "user:default/carol", notifications.UpdateOptions{IDs: []string{carols.Notifications[0].ID}, Read: new(true)}); err != nil {
		return err
	}

	fmt.Println()
	for _, user := range []string{"user:default/alice", "user:default/bob", "user:default/carol"} {
		page, err := svc.List(ctx, user, notifications.ListOptions{Order: []notifications.Order{{Field: notifications.OrderTitle}}})
		if err != nil {
			return err
		}
		status, err := svc.Status(ctx, user)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d unread, %d read\n", user, status.Unread, status.Read)
		for _, n := range page.Notifications {
			state := "unread"
			if n.Read != nil {
				state = "read"
			}
			kind := ""
			if n.IsBroadcast() {
				kind = " (broadcast)"
			}
			fmt.Printf("  %-8s %-6s %q%s\n", n.Payload.Severity, state, n.Payload.Title, kind)
		}
	}

	// Wait for every delivery the sends stored, then show what the
	// processor and Alice's browser saw.
	deliveries, err := svc.Deliveries(ctx, notifications.DeliveryFilter{})
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for range deliveries {
		select {
		case <-finished:
		case <-wait.Done():
			return fmt.Errorf("deliveries not finished: %w", wait.Err())
		}
	}
	if err := svc.Close(ctx); err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("the audit processor, a channel of its own, saw every delivery:")
	sort.Strings(audit)
	fmt.Println(strings.Join(audit, "\n"))
	fmt.Println()
	for {
		select {
		case d := <-alicesBrowser.C():
			fmt.Printf("signal to alice: %s\n", describeSignal(d.Signal()))
			continue
		default:
		}
		break
	}
	return nil
}

func describeSignal(s signals.Signal) string {
	switch m := s.Message.(type) {
	case notifications.NotificationMessage:
		return fmt.Sprintf("%s %q", m.Action, m.Notification.Payload.Title)
	case notifications.ReadStateMessage:
		return fmt.Sprintf("%s (%d notifications)", m.Action, len(m.NotificationIDs))
	default:
		return fmt.Sprintf("%+v", m)
	}
}
