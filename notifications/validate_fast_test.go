package notifications

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Whatever sendRequestValid passes, the validator passes; and it passes
// the ordinary requests, or it would save nothing.
func TestSendRequestValidAgreesWithValidator(t *testing.T) {
	texts := []string{"", "x", "Build failed", strings.Repeat("a", 255), strings.Repeat("a", 256),
		strings.Repeat("é", 255), strings.Repeat("é", 256), "bad\x00", "bad\xff", "<b>&</b>"}
	links := []string{"", "/ci/builds/1", "https://example.com/x", "javascript:alert(1)", "//evil", " /x", "\\x", "http://", "bad\xff"}
	sevs := []string{"", "critical", "high", "normal", "low", "HIGH", "urgent"}
	types := []string{"entity", "broadcast", "", "user"}
	refs := [][]string{nil, {}, {"user:default/jane"}, {"user:jane"}, {"jane"}, {"user:default/jane", "group:default/ci"}, {""}, {"user:default/"}}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	accepted := 0
	for range 20000 {
		req := sendRequest{
			Origin: pick(texts),
			Recipients: recipientsRequest{Type: pick(types), EntityRef: refs[rng.IntN(len(refs))],
				ExcludeEntityRef: refs[rng.IntN(len(refs))]},
			Payload: payloadRequest{Title: pick(texts), Description: pick(texts), Link: pick(links), Severity: pick(sevs),
				Topic: pick(texts), Scope: pick(texts), Icon: pick(texts)},
		}
		if rng.IntN(2) == 0 { // half of them ordinary
			req.Origin, req.Recipients.Type, req.Recipients.EntityRef, req.Recipients.ExcludeEntityRef = "plugin:ci", "entity", []string{"user:default/jane"}, nil
			req.Payload.Title, req.Payload.Link, req.Payload.Severity = "Build failed", "/ci/builds/1", "high"
		}
		if !sendRequestValid(&req) {
			continue
		}
		accepted++
		var verr ValidationError
		if err := checkStruct(&verr, req); err != nil || len(verr.Fields) > 0 {
			t.Fatalf("sendRequestValid passed %+v; the validator: %v %v", req, err, verr.Fields)
		}
		var perr ValidationError
		if err := checkStruct(&perr, struct {
			Payload payloadRequest `json:"payload"`
		}{req.Payload}); err != nil || len(perr.Fields) > 0 || !payloadRequestValid(&req.Payload) {
			t.Fatalf("payload %+v: %v %v", req.Payload, err, perr.Fields)
		}
	}
	if accepted < 1000 {
		t.Fatalf("sendRequestValid passed %d of 20,000 requests, half of them ordinary", accepted)
	}
	// The payload check alone never passes what the validator refuses.
	for range 20000 {
		p := payloadRequest{Title: pick(texts), Description: pick(texts), Link: pick(links), Severity: pick(sevs),
			Topic: pick(texts), Scope: pick(texts), Icon: pick(texts)}
		if !payloadRequestValid(&p) {
			continue
		}
		var verr ValidationError
		if err := checkStruct(&verr, struct {
			Payload payloadRequest `json:"payload"`
		}{p}); err != nil || len(verr.Fields) > 0 {
			t.Fatalf("payloadRequestValid passed %+v; the validator: %v %v", p, err, verr.Fields)
		}
	}
}
