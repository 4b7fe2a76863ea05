package notifications

import (
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/entityref"
)

// Validate's fast path. go-playground/validator walks the request by
// reflection (3% of a send's server CPU over HTTP, TestServerProfile
// sqlite/send); sendRequestValid checks the same tags by hand and only
// says whether the request passes. A request it passes passes the
// validator; one it does not is handed to the validator, which words the
// errors, so every message stays the validator's. It may refuse what the
// validator accepts (it is stricter where that is simpler), never the
// other way round: TestSendRequestValidAgreesWithValidator checks it.

// sendRequestValid reports whether req certainly passes sendRequest's
// tags.
func sendRequestValid(req *sendRequest) bool {
	if !shortText(req.Origin) || req.Origin == "" {
		return false
	}
	r := &req.Recipients
	switch r.Type {
	case string(RecipientEntity):
		if len(r.EntityRef) == 0 {
			return false
		}
	case string(RecipientBroadcast):
	default:
		return false
	}
	for _, ref := range r.EntityRef {
		if _, err := entityref.Parse(ref); err != nil {
			return false
		}
	}
	for _, ref := range r.ExcludeEntityRef {
		if p, err := entityref.Parse(ref); err != nil || p.Kind == "" {
			return false
		}
	}
	return payloadRequestValid(&req.Payload)
}

// payloadRequestValid reports whether p certainly passes payloadRequest's
// tags.
func payloadRequestValid(p *payloadRequest) bool {
	if p.Title == "" || !shortText(p.Title) || textProblem(p.Description) != "" ||
		!shortText(p.Topic) || !shortText(p.Scope) || !shortText(p.Icon) {
		return false
	}
	if p.Link != "" && (textProblem(p.Link) != "" || ValidateLink(p.Link) != nil) {
		return false
	}
	switch Severity(p.Severity) {
	case "", SeverityCritical, SeverityHigh, SeverityNormal, SeverityLow:
		return true
	}
	return false
}

// shortText is "max=255,text": at most MaxFieldLength characters (the
// validator counts runes) and the text rules.
func shortText(s string) bool {
	return textProblem(s) == "" && (len(s) <= MaxFieldLength || utf8.RuneCountInString(s) <= MaxFieldLength)
}
