package rest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/signals/auth"
)

// The REST layer's cost over the in-process call: each benchmark runs the
// same work through Service directly ("direct") and through the Handler
// without a network ("rest"), on the same in-memory SQLite store.

func benchHandler(b *testing.B) (*fixture, http.Handler) {
	b.Helper()
	f := setup(b)
	tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{
		Services: map[string]string{serviceToken: testService},
		Users:    map[string]auth.StaticUser{userToken: {Ref: mockUser}},
	})
	if err != nil {
		b.Fatal(err)
	}
	h, err := rest.New(rest.Config{Service: f.svc, Authenticator: tokens})
	if err != nil {
		b.Fatal(err)
	}
	return f, h
}

func BenchmarkListPage(b *testing.B) {
	f, h := benchHandler(b)
	for range 100 {
		f.sent(toMock(`{"title":"a notification","topic":"t"}`))
	}
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.svc.List(ctx, mockUser, notifications.ListOptions{Limit: ptr(20), Filter: notifications.Filter{Read: ptr(false)}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rest", func(b *testing.B) {
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/notifications?limit=20&read=false", nil)
			req.Header.Set("Authorization", "Bearer "+userToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body)
			}
		}
	})
}

func BenchmarkSend(b *testing.B) {
	f, h := benchHandler(b)
	ctx := context.Background()
	body := toMock(`{"title":"a notification","topic":"t"}`)
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.svc.Send(ctx, notifications.SendOptions{Origin: testService,
				Recipients: notifications.Entity(mockUser), Payload: notifications.Payload{Title: "a notification", Topic: "t"}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rest", func(b *testing.B) {
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/notifications", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+serviceToken)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body)
			}
		}
	})
}
