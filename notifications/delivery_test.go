package notifications_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/heraldhq/herald/notifications"
)

func TestPermanentAndRetryLater(t *testing.T) {
	t.Parallel()
	if notifications.Permanent(nil) != nil || notifications.RetryLater(nil, time.Second) != nil {
		t.Fatal("wrapping nil must stay nil")
	}
	p := notifications.Permanent(io.ErrUnexpectedEOF)
	if !notifications.IsPermanent(p) || !errors.Is(p, io.ErrUnexpectedEOF) || p.Error() != io.ErrUnexpectedEOF.Error() {
		t.Fatalf("Permanent: %v", p)
	}
	if notifications.IsPermanent(io.EOF) {
		t.Fatal("a plain error is not permanent")
	}
	r := notifications.RetryLater(io.EOF, 3*time.Second)
	if d, ok := notifications.RetryAfter(r); !ok || d != 3*time.Second || !errors.Is(r, io.EOF) {
		t.Fatalf("RetryLater: %v %v %v", d, ok, r)
	}
	if _, ok := notifications.RetryAfter(io.EOF); ok {
		t.Fatal("a plain error asks for no wait")
	}
}

func TestDeliveryContext(t *testing.T) {
	t.Parallel()
	if _, ok := notifications.DeliveryFromContext(context.Background()); ok {
		t.Fatal("an empty context carries no delivery")
	}
	ctx := notifications.ContextWithDelivery(context.Background(), notifications.Delivery{ID: "d1", Attempts: 2})
	if d, ok := notifications.DeliveryFromContext(ctx); !ok || d.ID != "d1" || d.Attempts != 2 {
		t.Fatalf("DeliveryFromContext = %+v, %v", d, ok)
	}
}

func TestDeliveryStatus(t *testing.T) {
	t.Parallel()
	for _, s := range []notifications.DeliveryStatus{notifications.DeliveryPending, notifications.DeliveryRetrying} {
		if !s.Valid() || s.Final() {
			t.Errorf("%s: Valid %v Final %v", s, s.Valid(), s.Final())
		}
	}
	for _, s := range []notifications.DeliveryStatus{notifications.DeliverySent, notifications.DeliveryFailed, notifications.DeliveryCancelled} {
		if !s.Valid() || !s.Final() {
			t.Errorf("%s: Valid %v Final %v", s, s.Valid(), s.Final())
		}
	}
	if notifications.DeliveryStatus("done").Valid() {
		t.Error(`"done" is not a status`)
	}
}
