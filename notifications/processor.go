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
// notifications are committed. Each call is one attempt at one delivery:
// the Service stores a delivery per recipient (one for a broadcast) with
// the send, also for recipients who turned the in-app channel (Web) off,
// not for those who turned this processor's channel off, and its delivery
// workers call PostProcess for it, in the background, maybe in another
// process after a restart. o is the send as it was after the options
// phase; DeliveryFromContext gives the delivery, whose id is the same on
// every attempt (a key for downstream de-duplication, since an attempt
// may run again after a crash: delivery is at least once).
//
// Return nil when delivered, Permanent(err) when retrying cannot help,
// RetryLater(err, d) to be retried no sooner than d, or any other error
// to be retried with the Service's backoff. Do not retry inside
// PostProcess: the Service does, durably. The context keeps none of the
// sender's values or cancellation; it is cancelled when the Service
// abandons the attempt (Close ran out of time, or the lease was lost to
// another worker), and PostProcess should then return promptly.
type PostProcessor interface {
	PostProcess(ctx context.Context, n Notification, o SendOptions) error
}

// FilteredProcessor limits a processor to some severities and topics; the
// filters are checked before every phase.
type FilteredProcessor interface {
	Filter() ProcessorFilter
}

// ProcessorFilter limits where a processor runs, by severity and topic. The
// zero ProcessorFilter allows everything. Its JSON form is the filter block
// of a processor's configuration file.
type ProcessorFilter struct {
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
func (f ProcessorFilter) Allow(severity Severity, topic string) bool {
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
func (f ProcessorFilter) Validate() error {
	var verr ValidationError
	if f.MinSeverity != "" && !f.MinSeverity.Valid() {
		verr.add("filter.minSeverity", "Invalid minSeverity: "+string(f.MinSeverity))
	}
	if f.MaxSeverity != "" && !f.MaxSeverity.Valid() {
		verr.add("filter.maxSeverity", "Invalid maxSeverity: "+string(f.MaxSeverity))
	}
	return verr.errOrNil()
}

// OptionsProcessorFunc is a processor made of one function that takes part
// in the options phase only, for one-off processors. Like the other Func
// adapters it implements exactly one phase, so the Service never mistakes
// it for a processor of another phase.
//
//	tagger := &notifications.OptionsProcessorFunc{
//		ProcessorName: "tagger",
//		Func: func(_ context.Context, o notifications.SendOptions) (notifications.SendOptions, error) {
//			o.Payload.Topic = "ci"
//			return o, nil
//		},
//	}
type OptionsProcessorFunc struct {
	// ProcessorName is returned by Name. Required.
	ProcessorName string
	// ProcessorFilter limits where the processor runs. Defaults to no limit.
	ProcessorFilter ProcessorFilter
	// Func rewrites a send request. Required.
	Func func(ctx context.Context, o SendOptions) (SendOptions, error)
}

// PreProcessorFunc is a processor made of one function that may rewrite
// each notification before it is saved, and takes part in no other phase.
type PreProcessorFunc struct {
	// ProcessorName is returned by Name. Required.
	ProcessorName string
	// ProcessorFilter limits where the processor runs. Defaults to no limit.
	ProcessorFilter ProcessorFilter
	// Func rewrites one recipient's notification. Required.
	Func func(ctx context.Context, n Notification, o SendOptions) (Notification, error)
}

// PostProcessorFunc is a processor made of one function that delivers
// each committed notification (see PostProcessor for what it returns), and
// takes part in no other phase.
//
//	audit := &notifications.PostProcessorFunc{
//		ProcessorName: "audit",
//		Func: func(ctx context.Context, n notifications.Notification, _ notifications.SendOptions) error {
//			log.Printf("sent %s to %s", n.ID, n.User)
//			return nil
//		},
//	}
type PostProcessorFunc struct {
	// ProcessorName is returned by Name. Required.
	ProcessorName string
	// ProcessorFilter limits where the processor runs. Defaults to no limit.
	ProcessorFilter ProcessorFilter
	// Func delivers one committed notification. Required.
	Func func(ctx context.Context, n Notification, o SendOptions) error
}

var (
	_ OptionsProcessor  = (*OptionsProcessorFunc)(nil)
	_ FilteredProcessor = (*OptionsProcessorFunc)(nil)
	_ PreProcessor      = (*PreProcessorFunc)(nil)
	_ FilteredProcessor = (*PreProcessorFunc)(nil)
	_ PostProcessor     = (*PostProcessorFunc)(nil)
	_ FilteredProcessor = (*PostProcessorFunc)(nil)
)

// Name returns p.ProcessorName.
func (p *OptionsProcessorFunc) Name() string { return p.ProcessorName }

// Filter returns p.ProcessorFilter.
func (p *OptionsProcessorFunc) Filter() ProcessorFilter { return p.ProcessorFilter }

// ProcessOptions calls p.Func.
func (p *OptionsProcessorFunc) ProcessOptions(ctx context.Context, o SendOptions) (SendOptions, error) {
	return p.Func(ctx, o)
}

// Name returns p.ProcessorName.
func (p *PreProcessorFunc) Name() string { return p.ProcessorName }

// Filter returns p.ProcessorFilter.
func (p *PreProcessorFunc) Filter() ProcessorFilter { return p.ProcessorFilter }

// PreProcess calls p.Func.
func (p *PreProcessorFunc) PreProcess(ctx context.Context, n Notification, o SendOptions) (Notification, error) {
	return p.Func(ctx, n, o)
}

// Name returns p.ProcessorName.
func (p *PostProcessorFunc) Name() string { return p.ProcessorName }

// Filter returns p.ProcessorFilter.
func (p *PostProcessorFunc) Filter() ProcessorFilter { return p.ProcessorFilter }

// PostProcess calls p.Func.
func (p *PostProcessorFunc) PostProcess(ctx context.Context, n Notification, o SendOptions) error {
	return p.Func(ctx, n, o)
}
