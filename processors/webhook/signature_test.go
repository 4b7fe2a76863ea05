package webhook

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1700000000, 0)
	body := []byte(`{"type":"notification.created"}`)
	sig, err := Sign(secret, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	header := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		return h
	}
	good := header("msg_1", "1700000000", sig)
	tests := []struct {
		name    string
		secret  string
		header  http.Header
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"valid", secret, good, body, now, nil},
		{"valid without prefix", secret[len("whsec_"):], good, body, now, nil},
		{"valid among several", secret, header("msg_1", "1700000000", "v1,AAAA v2,xyz "+sig), body, now, nil},
		{"within tolerance", secret, good, body, now.Add(4 * time.Minute), nil},
		{"too old", secret, good, body, now.Add(6 * time.Minute), ErrTimestamp},
		{"from the future", secret, good, body, now.Add(-6 * time.Minute), ErrTimestamp},
		{"tampered body", secret, good, []byte(`{"type":"notification.updated"}`), now, ErrSignature},
		{"other id", secret, header("msg_2", "1700000000", sig), body, now, ErrSignature},
		{"wrong secret", "whsec_c2VjcmV0", good, body, now, ErrSignature},
		{"missing id", secret, header("", "1700000000", sig), body, now, ErrMissingHeaders},
		{"missing signature", secret, header("msg_1", "1700000000", ""), body, now, ErrMissingHeaders},
		{"bad timestamp", secret, header("msg_1", "soon", sig), body, now, ErrMissingHeaders},
		{"empty secret", "", good, body, now, ErrInvalidSecret},
		{"non-base64 secret", "whsec_%%%", good, body, now, ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := verify(tt.secret, tt.header, tt.body, 0, tt.now)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if err := verify(secret, good, body, time.Hour, now.Add(30*time.Minute)); err != nil {
		t.Fatalf("custom tolerance: %v", err)
	}
}

// FuzzVerify: whatever arrives, Verify returns an error or nil, never
// panics, and never accepts a signature it did not compute.
func FuzzVerify(f *testing.F) {
	f.Add("msg_1", "1700000000", "v1,abc", []byte("{}"))
	f.Add("", "", "", []byte(nil))
	f.Add("x", "-99999999999999999999", "v1, v1,,", []byte("body"))
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if err := Verify(secret, h, body, time.Hour); err == nil {
			t.Fatalf("accepted a forged signature %q", sig)
		}
	})
}
