package notifications

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DefaultIdempotencyTTL is how long an idempotency key holds when
// Config.IdempotencyTTL is zero.
const DefaultIdempotencyTTL = 24 * time.Hour

// MaxIdempotencyKeyLength bounds SendOptions.IdempotencyKey, in bytes.
const MaxIdempotencyKeyLength = 255

// KeyedSend is the committed send that holds an idempotency key, as
// Store.KeyedSend returns it.
type KeyedSend struct {
	// SendID is the send record's id.
	SendID string
	// RequestHash identifies the request the key was first used for.
	RequestHash string
	// Created is the send's time: the key expires Config.IdempotencyTTL
	// after it.
	Created time.Time
	// Result is what the send returned, in its order; empty, not nil,
	// when it stored nothing (every recipient had turned the in-app
	// channel off).
	Result []Notification
}

// SendOptionsSender is a Sender that also sends full SendOptions: the
// Sender that Service.Sender returns implements it. A plugin that needs an
// idempotency key depends on Sender and calls SendWith, which keeps
// Sender's one method all a test double has to implement.
type SendOptionsSender interface {
	Sender
	// SendOptions sends o with the Sender's origin (o.Origin is
	// ignored).
	SendOptions(ctx context.Context, o SendOptions) ([]Notification, error)
}

// ErrOptionsUnsupported is returned by SendWith when the Sender cannot
// take SendOptions and o asks for more than Send can carry.
var ErrOptionsUnsupported = errors.New("notifications: sender does not support send options")

// SendWith sends o through sender: with its IdempotencyKey when sender
// implements SendOptionsSender (the Service's senders do), and through
// plain Send otherwise, which only a request without a key may take (one
// with a key is ErrOptionsUnsupported rather than sent without it).
// o.Origin is ignored: the origin is the Sender's.
func SendWith(ctx context.Context, sender Sender, o SendOptions) ([]Notification, error) {
	if so, ok := sender.(SendOptionsSender); ok {
		return so.SendOptions(ctx, o)
	}
	if o.IdempotencyKey != "" {
		return nil, ErrOptionsUnsupported
	}
	return sender.Send(ctx, o.Recipients, o.Payload)
}

// validateIdempotencyKey checks a key: 1 to MaxIdempotencyKeyLength bytes
// of printable ASCII without spaces (what an HTTP header carries as is).
func validateIdempotencyKey(key string) error {
	msg := ""
	switch {
	case len(key) > MaxIdempotencyKeyLength:
		msg = fmt.Sprintf("must be at most %d characters", MaxIdempotencyKeyLength)
	default:
		for i := range len(key) {
			if key[i] <= ' ' || key[i] > '~' {
				msg = "must be printable ASCII without spaces"
				break
			}
		}
	}
	if msg == "" {
		return nil
	}
	return &ValidationError{Fields: []FieldError{{Field: "idempotencyKey", Message: msg}}}
}

// canonicalRequest is what "the same request" compares, hashed: the
// recipients and payload as validated and canonicalised, before the
// options phase.
type canonicalRequest struct {
	Recipients Recipients `json:"recipients"`
	Payload    Payload    `json:"payload"`
	At         *jsonTime  `json:"at,omitempty"` // a schedule's time
}

// requestHash returns the hex SHA-256 of o's canonical request (o already
// canonical), with a schedule's time when at is not nil.
func requestHash(o SendOptions, at *time.Time) (string, error) {
	js, err := json.Marshal(canonicalRequest{Recipients: o.Recipients, Payload: o.Payload, At: optTime(at)})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sum := sha256.Sum256(js)
	return hex.EncodeToString(sum[:]), nil
}

// canonical returns o canonicalised as the pipeline stores it: refs in
// canonical form, severity defaulted. It reports whether a canonical ref
// broke the ref rules (see canonicalRecipients).
func canonical(o SendOptions) (SendOptions, bool) {
	var broken bool
	o.Recipients, broken = canonicalRecipients(o.Recipients)
	o.Payload.Severity = o.Payload.Severity.OrDefault()
	return o, broken
}

// maxKeyRaces bounds how often one send finds its key taken by a
// concurrent send between its lookup and its write and reads again: each
// time, the other send committed, so a second read finds it unless it
// expired or was cleaned away in between.
const maxKeyRaces = 3

// sendIdempotent is Send for a request with an idempotency key.
func (s *Service) sendIdempotent(ctx context.Context, o SendOptions) ([]Notification, error) {
	if err := validateIdempotencyKey(o.IdempotencyKey); err != nil {
		return nil, err
	}
	canon, broken := canonical(o)
	if broken {
		if err := canon.Validate(); err != nil {
			return nil, err
		}
	}
	hash, err := requestHash(canon, nil)
	if err != nil {
		return nil, err
	}
	for range maxKeyRaces {
		cutoff := s.now().Add(-s.idempotencyTTL)
		prev, err := s.store.KeyedSend(ctx, o.Origin, o.IdempotencyKey)
		run := sendRun{key: o.IdempotencyKey, hash: hash}
		switch {
		case err == nil && !prev.Created.Before(cutoff):
			if prev.RequestHash != hash {
				return nil, fmt.Errorf("%w (key %q)", ErrIdempotencyConflict, o.IdempotencyKey)
			}
			if prev.Result == nil {
				prev.Result = []Notification{}
			}
			return prev.Result, nil
		case err == nil:
			run.keyExpiredBefore = cutoff // expired: this send takes the key over
		case !errors.Is(err, ErrNotFound):
			return nil, fmt.Errorf("notifications: read idempotency key: %w", err)
		}
		ns, err := s.send(ctx, o, run)
		if !errors.Is(err, ErrIdempotencyKeyUsed) {
			return ns, err
		}
	}
	return nil, fmt.Errorf("notifications: idempotency key %q: taken by concurrent sends %d times: %w", o.IdempotencyKey, maxKeyRaces, ErrUnavailable)
}

// sendRun is what a send carries besides its options: its idempotency
// key, or the lease of the scheduled send it runs.
type sendRun struct {
	key, hash        string
	keyExpiredBefore time.Time
	schedule         *ScheduleLease
	trace            sendTrace // set by send
}

// needsRecord reports whether the send writes its send record even
// without deliveries: it holds a key, or marks a schedule sent.
func (r sendRun) needsRecord() bool { return r.key != "" || r.schedule != nil }

// DeleteExpiredIdempotencyKeys forgets the idempotency keys that expired
// (sends and finished schedules, Config.IdempotencyTTL after their send or
// their run) and returns how many it forgot; a send record left with
// neither key nor delivery goes with DeleteFinishedDeliveries. RunCleaner
// calls it. It is safe to run on several instances at once.
func (s *Service) DeleteExpiredIdempotencyKeys(ctx context.Context) (int, error) {
	n, err := s.store.DeleteExpiredIdempotencyKeys(ctx, s.now().Add(-s.idempotencyTTL), DefaultDeleteBatchSize)
	if err != nil {
		return n, fmt.Errorf("notifications: delete expired idempotency keys: %w", err)
	}
	return n, nil
}
