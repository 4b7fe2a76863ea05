package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/heraldhq/herald/signals"
	"github.com/heraldhq/herald/signals/auth"
)

// Defaults of the catch-up fields of Config.
const (
	DefaultCatchUpWindow  = time.Minute
	DefaultCatchUpTimeout = 10 * time.Second
)

// CatchUpFunc returns the signals of one channel that user may have missed
// since a point in time, for a client that reconnects with a cursor; see
// "Catch-up" in the package documentation. since already includes the
// look-back of Config.CatchUpWindow. Return the signals oldest first, each
// as it would be published now (a replayed signal may concern something
// the client has seen already; clients de-duplicate), and nil for a
// channel the function knows nothing about, without doing any work.
//
// The returned signals are sent to the connection only if they are valid,
// on channel, and addressed to everyone or to one of the connection's
// ownership refs. ctx ends with the connection or after
// Config.CatchUpTimeout. An error ends the connection, so that the client
// retries from the same cursor instead of skipping what it missed. The
// function must be safe for concurrent use.
//
// The method value (*notifications.Service).CatchUp is a CatchUpFunc.
type CatchUpFunc func(ctx context.Context, user, channel string, since time.Time) ([]signals.Signal, error)

// errCatchUp ends a connection or stream whose catch-up failed.
var errCatchUp = errors.New("socket: catch-up failed")

// appendCursor writes t as a cursor: milliseconds since the Unix epoch,
// rounded down so a cursor never points past what it stands for.
func appendCursor(b []byte, t time.Time) []byte {
	return strconv.AppendInt(b, t.UnixMilli(), 10)
}

// parseCursor reads a client's cursor: what the server sent (milliseconds
// since the epoch), or an RFC 3339 time for people and scripts.
func parseCursor(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return time.Time{}, fmt.Errorf("cursor %q is negative", s)
		}
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("cursor %q is neither milliseconds since the epoch nor an RFC 3339 time", s)
	}
	return t, nil
}

// catchUpRequest is the cursor a client reconnected with.
type catchUpRequest struct {
	set    bool
	cursor time.Time // as the client gave it
}

// parseSince reads the since cursor of a request, when catch-up is on.
func (h *Handler) parseSince(s string) (catchUpRequest, error) {
	if h.catchUp == nil || s == "" {
		return catchUpRequest{}, nil
	}
	t, err := parseCursor(s)
	if err != nil {
		return catchUpRequest{}, err
	}
	return catchUpRequest{set: true, cursor: t}, nil
}

// startCursor is the cursor a connection or stream starts with: the
// client's own when it reconnected with one, since it has not received the
// replay yet; otherwise now, taken after the Hub subscription is in place.
func (req catchUpRequest) startCursor() time.Time {
	if req.set {
		return req.cursor
	}
	return time.Now()
}

// replay calls the CatchUpFunc for channel and returns the frames to send,
// oldest first. stop ends the call early (a Handler shutdown). A failed
// call ends the connection or stream, and the error says why: errShutdown
// when stop is closed, the cause of ctx when ctx is done, otherwise an
// error wrapping errCatchUp.
func (h *Handler) replay(ctx context.Context, stop <-chan struct{}, log *slog.Logger, id auth.Principal, channel string, req catchUpRequest) ([][]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, h.catchUpTimeout)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-cctx.Done():
		}
	}()
	since := req.cursor.Add(-h.catchUpWindow)
	sigs, err := h.catchUp(cctx, id.User, channel, since)
	if err != nil {
		log.Error("socket: catch-up failed", "channel", channel, "since", since, "error", err)
		select {
		case <-stop:
			return nil, errShutdown
		default:
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("%w: %w", errCatchUp, err)
	}
	frames := make([][]byte, 0, len(sigs))
	for _, s := range sigs {
		switch {
		case s.Channel != channel:
			log.Warn("socket: CatchUpFunc returned a signal of another channel; dropped", "channel", channel, "signal_channel", s.Channel)
			continue
		case !addressedTo(s.Recipients, id):
			log.Warn("socket: CatchUpFunc returned a signal for someone else; dropped", "channel", channel)
			continue
		}
		f, err := encodeFrame(s)
		if err != nil {
			log.Warn("socket: CatchUpFunc returned an invalid signal; dropped", "channel", channel, "error", err)
			continue
		}
		frames = append(frames, f)
	}
	log.Debug("socket: caught up", "channel", channel, "since", since, "signals", len(frames))
	return frames, nil
}

// addressedTo applies the Hub's delivery rule to one principal.
func addressedTo(r signals.Recipients, id auth.Principal) bool {
	if r.IsBroadcast() {
		return true
	}
	for _, ref := range r.EntityRefs {
		if ref == id.User || slices.Contains(id.OwnershipRefs, ref) {
			return true
		}
	}
	return false
}

// encodeFrame builds the frame of a replayed signal exactly as the Hub
// builds a live one: compact JSON, no HTML escaping, message an object.
func encodeFrame(s signals.Signal) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteString(`{"channel":`)
	if err := enc.Encode(s.Channel); err != nil {
		return nil, fmt.Errorf("%w: channel: %w", signals.ErrInvalidSignal, err)
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	buf.WriteString(`,"message":`)
	start := buf.Len()
	if err := enc.Encode(s.Message); err != nil {
		return nil, fmt.Errorf("%w: message does not encode to JSON: %w", signals.ErrInvalidSignal, err)
	}
	buf.Truncate(buf.Len() - 1)
	if buf.Bytes()[start] != '{' {
		return nil, fmt.Errorf("%w: message must be a JSON object", signals.ErrInvalidSignal)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// withCursor appends frame to buf[:0] with a "cursor" member added at the
// end: {"channel":...,"message":...,"cursor":"<ms>"}.
func withCursor(buf, frame []byte, t time.Time) []byte {
	buf = append(buf[:0], frame[:len(frame)-1]...)
	buf = append(buf, `,"cursor":"`...)
	buf = appendCursor(buf, t)
	return append(buf, `"}`...)
}

// cursorFrame is the frame that gives a WebSocket client its first cursor.
func cursorFrame(t time.Time) []byte {
	b := append([]byte(`{"cursor":"`), appendCursor(nil, t)...)
	return append(b, `"}`...)
}
