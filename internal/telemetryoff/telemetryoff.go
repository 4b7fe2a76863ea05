// Package telemetryoff turns a notifications.Service's telemetry off, for
// Herald's own benchmarks and tests: the uninstrumented send its
// instrumented one is measured against. It is internal, so no host can
// reach it; a host turns telemetry off by configuring no SDK.
package telemetryoff

// Disable removes svc's (a *notifications.Service) tracer and
// instruments; package notifications sets it. Call it right after
// New, before the Service is used, on a Service without delivery workers.
var Disable func(svc any)
