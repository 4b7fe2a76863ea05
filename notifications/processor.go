package notifications

import (
	"context"
	"slices"
)

// Processor extends the send pipeline. Name is required: it names the
// processor in logs and is the processor's settings channel id, so users
// can turn it off per origin and topic ("Email", "SlackNotificationProcessor").
//
// A processor implements only the phases it needs, each an optional
// interface found by type assertion: OptionsProcessor, PreProcessor,
// PostProcessor, and FilteredProcessor to limit where it runs. Processors
// run in the order of Config.Processors. An error or a panic in a phase is
// logged with the processor's name and the phase, and the send goes on as
// if that processor had not run.
type Processor interface {
	Name() string
}

// OptionsProcessor may rewrite a send request before recipients are
// resolved. It runs once per send, when its filters pass for the request's
// severity and topic (user settings are not consulted).
type OptionsProcessor interface {
	ProcessOptions(ctx context.Context, o SendOptions) (SendOptions, error)
}

// PreProcessor may rewrite each recipient's notification before it is
// saved. It runs once per recipient (once for a broadcast), when its
// filters pass and the recipient has not turned its channel off.
type PreProcessor interface {
	PreProcess(ctx context.Context, n Notification, o SendOptions) (Notification, error)
}

// PostProcessor delivers elsewhere (email, chat, webhooks) after the
// notifications are committed. It runs in the background, once per
// recipient (once for a broadcast), on a context that keeps the sender's
// values but not its cancellation, and also for recipients who turned the
// in-app channel (Web) off; not for those who turned this processor's
// channel off. Service.Close waits for it.
type PostProcessor interface {
	PostProcess(ctx context.Context, n Notification, o SendOptions) error
}

// FilteredProcessor limits a processor to some severities and topics; the
// filters are checked before every phase.
type FilteredProcessor interface {
	Filters() Filters
}

// Filters limit where a processor runs. The zero Filters allow everything.
type Filters struct {
	// MinSeverity skips notifications less severe than it.
	MinSeverity Severity `json:"minSeverity,omitempty"`
	// MaxSeverity skips notifications more severe than it.
	MaxSeverity Severity `json:"maxSeverity,omitempty"`
	// IncludedTopics, when non-empty, skips notifications whose topic is
	// not listed, and those without a topic.
	IncludedTopics []string `json:"includedTopics,omitempty"`
	// ExcludedTopics skips notifications whose topic is listed.
	ExcludedTopics []string `json:"excludedTopics,omitempty"`
}

// Allow reports whether a notification of severity and topic ("" for none)
// passes f.
func (f Filters) Allow(severity Severity, topic string) bool {
	if f.MinSeverity != "" && !severity.AtLeast(f.MinSeverity) {
		return false
	}
	if f.MaxSeverity != "" && !severity.AtMost(f.MaxSeverity) {
		return false
	}
	if topic != "" && slices.Contains(f.ExcludedTopics, topic) {
		return false
	}
	if len(f.IncludedTopics) > 0 && (topic == "" || !slices.Contains(f.IncludedTopics, topic)) {
		return false
	}
	return true
}

// Validate reports bad severities in f as a *ValidationError.
func (f Filters) Validate() error {
	var verr ValidationError
	if f.MinSeverity != "" && !f.MinSeverity.Valid() {
		verr.add("filter.minSeverity", "Invalid minSeverity: "+string(f.MinSeverity))
	}
	if f.MaxSeverity != "" && !f.MaxSeverity.Valid() {
		verr.add("filter.maxSeverity", "Invalid maxSeverity: "+string(f.MaxSeverity))
	}
	return verr.errOrNil()
}

// Funcs is a processor made of functions, for one-off processors; a nil
// function is a phase it does not take part in.
//
//	audit := &notifications.Funcs{
//		ProcessorName: "audit",
//		Post: func(ctx context.Context, n notifications.Notification, _ notifications.SendOptions) error {
//			log.Printf("sent %s to %s", n.ID, n.User)
//			return nil
//		},
//	}
type Funcs struct {
	// ProcessorName is returned by Name. Required.
	ProcessorName string
	// Filter limits where the processor runs. Defaults to no limit.
	Filter  Filters
	Options func(ctx context.Context, o SendOptions) (SendOptions, error)
	Pre     func(ctx context.Context, n Notification, o SendOptions) (Notification, error)
	Post    func(ctx context.Context, n Notification, o SendOptions) error
}

var (
	_ Processor         = (*Funcs)(nil)
	_ OptionsProcessor  = (*Funcs)(nil)
	_ PreProcessor      = (*Funcs)(nil)
	_ PostProcessor     = (*Funcs)(nil)
	_ FilteredProcessor = (*Funcs)(nil)
)

// Name returns f.ProcessorName.
func (f *Funcs) Name() string { return f.ProcessorName }

// Filters returns f.Filter.
func (f *Funcs) Filters() Filters { return f.Filter }

// ProcessOptions calls f.Options, or returns o unchanged.
func (f *Funcs) ProcessOptions(ctx context.Context, o SendOptions) (SendOptions, error) {
	if f.Options == nil {
		return o, nil
	}
	return f.Options(ctx, o)
}

// PreProcess calls f.Pre, or returns n unchanged.
func (f *Funcs) PreProcess(ctx context.Context, n Notification, o SendOptions) (Notification, error) {
	if f.Pre == nil {
		return n, nil
	}
	return f.Pre(ctx, n, o)
}

// PostProcess calls f.Post, or does nothing.
func (f *Funcs) PostProcess(ctx context.Context, n Notification, o SendOptions) error {
	if f.Post == nil {
		return nil
	}
	return f.Post(ctx, n, o)
}

// PostProcessorFunc returns a processor named name that runs fn after each
// committed notification.
func PostProcessorFunc(name string, fn func(ctx context.Context, n Notification, o SendOptions) error) Processor {
	return &Funcs{ProcessorName: name, Post: fn}
}

// PreProcessorFunc returns a processor named name that may rewrite each
// notification before it is saved.
func PreProcessorFunc(name string, fn func(ctx context.Context, n Notification, o SendOptions) (Notification, error)) Processor {
	return &Funcs{ProcessorName: name, Pre: fn}
}

// OptionsProcessorFunc returns a processor named name that may rewrite each
// send request.
func OptionsProcessorFunc(name string, fn func(ctx context.Context, o SendOptions) (SendOptions, error)) Processor {
	return &Funcs{ProcessorName: name, Options: fn}
}
