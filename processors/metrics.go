package processors

import "sync/atomic"

// Event is what happened to one outbound message in one attempt: an email
// to one address, a Slack message to one channel, a webhook call to one
// endpoint.
type Event string

// The events Metrics counts. Every attempt at a message counts once as
// EventSent or EventFailed; an attempt that repeats an earlier one counts
// EventRetried as well. So Sent+Failed is the number of attempts, and a
// message the Service retried twice before it went out counts Failed 2,
// Sent 1, Retried 2.
const (
	// EventSent is a message delivered (for Slack, also an edit of an
	// earlier message by a scoped re-send).
	EventSent Event = "sent"
	// EventFailed is an attempt at a message that failed, whether the
	// Service will retry it or not: the delivery record (Service.Deliveries)
	// says which failures were final.
	EventFailed Event = "failed"
	// EventRetried is an attempt that repeats an earlier one: a delivery
	// attempt after the first (the delivery in the context has Attempts >
	// 1), or one of the Slack options phase's in-process retries.
	EventRetried Event = "retried"
)

// Metrics counts what processors deliver. The host creates one, passes
// the pointer in the processors' Config.Metrics (one per processor, or one
// shared by several), and reads the counters whenever it likes; they are
// atomic, so reading and counting may overlap. A nil *Metrics counts
// nothing, so processors call it unconditionally.
//
// To feed a metrics system (Prometheus, OpenTelemetry), set OnEvent before
// handing the Metrics to a processor, or poll Snapshot.
//
// A Metrics must not be copied after first use.
type Metrics struct {
	// Sent counts EventSent.
	Sent atomic.Int64
	// Failed counts EventFailed.
	Failed atomic.Int64
	// Retried counts EventRetried.
	Retried atomic.Int64

	// OnEvent, when set, is called after each count with the processor's
	// name and the event. It runs on the delivering goroutine, concurrently
	// with other calls, so it must be quick and safe for concurrent use.
	// Defaults to nothing.
	OnEvent func(processor string, e Event)
}

// MetricsSnapshot is the counters of a Metrics at one moment.
type MetricsSnapshot struct {
	Sent, Failed, Retried int64
}

// Add counts one e for the processor named processor. It is a no-op on a
// nil Metrics; an unknown event is passed to OnEvent only.
func (m *Metrics) Add(processor string, e Event) {
	if m == nil {
		return
	}
	switch e {
	case EventSent:
		m.Sent.Add(1)
	case EventFailed:
		m.Failed.Add(1)
	case EventRetried:
		m.Retried.Add(1)
	}
	if m.OnEvent != nil {
		m.OnEvent(processor, e)
	}
}

// Snapshot returns the current counts; the zero snapshot for a nil Metrics.
// The three counters are read one after another, not as one atomic step.
func (m *Metrics) Snapshot() MetricsSnapshot {
	if m == nil {
		return MetricsSnapshot{}
	}
	return MetricsSnapshot{Sent: m.Sent.Load(), Failed: m.Failed.Load(), Retried: m.Retried.Load()}
}
