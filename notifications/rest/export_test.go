package rest

// ErrorEnvelope lets the external tests decode error bodies with the
// handler's own type; http_test.go pins the envelope's exact bytes.
type ErrorEnvelope = errorEnvelope
