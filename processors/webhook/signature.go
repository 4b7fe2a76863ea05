package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns, matched with errors.Is.
var (
	// ErrInvalidSecret means the secret is empty or not base64 (after an
	// optional "whsec_" prefix).
	ErrInvalidSecret = errors.New("webhook: invalid secret")
	// ErrMissingHeaders means webhook-id, webhook-timestamp or
	// webhook-signature is absent or malformed.
	ErrMissingHeaders = errors.New("webhook: missing or malformed signature headers")
	// ErrTimestamp means the message was signed too long ago or too far
	// in the future: a replay, or a clock far off.
	ErrTimestamp = errors.New("webhook: timestamp outside the tolerance")
	// ErrSignature means no signature matches: wrong secret, or a body
	// changed on the way.
	ErrSignature = errors.New("webhook: no matching signature")
)

// decodeSecret returns the HMAC key of a Standard Webhooks secret:
// "whsec_" followed by base64, or the base64 alone.
func decodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), "whsec_")
	if s == "" {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: not base64", ErrInvalidSecret)
		}
	}
	if len(key) == 0 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// Sign returns the webhook-signature value for a message: "v1," and the
// base64 HMAC-SHA256, keyed by the decoded secret, of
// "<id>.<unix seconds>.<body>".
func Sign(secret, id string, timestamp time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp.Unix(), body)), nil
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received webhook: the headers' timestamp is within
// tolerance of now (tolerance <= 0 means DefaultTolerance), and one of the
// space-separated v1 signatures in webhook-signature matches body, which
// must be the raw request body, byte for byte. Signatures are compared in
// constant time. The error wraps ErrInvalidSecret, ErrMissingHeaders,
// ErrTimestamp or ErrSignature.
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration) error {
	return verify(secret, header, body, tolerance, time.Now())
}

func verify(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	id, tsText, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q", ErrMissingHeaders, tsText)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s from now", ErrTimestamp, d.Round(time.Second))
	}
	want := mac(key, id, unix, body)
	for _, sig := range strings.Fields(sigs) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}
