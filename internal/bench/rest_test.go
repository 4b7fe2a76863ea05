package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/notifications"
	"github.com/heraldhq/herald/notifications/rest"
	"github.com/heraldhq/herald/signals/auth"
)

// BenchmarkREST measures the REST layer's cost over the in-process call:
// the unread page of BenchmarkList (SQLite, 1,000,000 rows) as GET
// /notifications?read=false&limit=20 through rest.Handler, against
// Service.List as the floor. "handler" serves the request in process
// (httptest.NewRecorder: authentication, query parsing, JSON encoding);
// "http" goes through a loopback server and client as well.
func BenchmarkREST(b *testing.B) {
	const token = "bench-user-token"
	newHandler := func(b *testing.B) (inboxDB, http.Handler) {
		d := sqliteInbox(b)
		tokens, err := auth.NewStaticTokens(auth.StaticTokensConfig{Users: map[string]auth.StaticUser{token: {Ref: listUser}}})
		if err != nil {
			b.Fatal(err)
		}
		h, err := rest.New(rest.Config{Service: d.svc, Authenticator: tokens})
		if err != nil {
			b.Fatal(err)
		}
		return d, h
	}
	opts := notifications.ListOptions{Filter: notifications.Filter{Read: new(false)}, Limit: new(20)}
	inProcess := func(d inboxDB) func() error {
		return func() error {
			res, err := d.svc.List(context.Background(), listUser, opts)
			if err == nil && len(res.Notifications) != 20 {
				err = fmt.Errorf("page of %d", len(res.Notifications))
			}
			return err
		}
	}
	b.Run("handler", func(b *testing.B) {
		d, h := newHandler(b)
		b.ReportAllocs()
		bp := &pair{b: b}
		bp.run(func() error {
			req := httptest.NewRequest(http.MethodGet, "/notifications?read=false&limit=20", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
			}
			return nil
		}, inProcess(d))
		bp.report()
	})
	b.Run("http", func(b *testing.B) {
		d, h := newHandler(b)
		srv := httptest.NewServer(h)
		defer srv.Close()
		client := srv.Client()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/notifications?read=false&limit=20", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		b.ReportAllocs()
		bp := &pair{b: b}
		bp.run(func() error {
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}, inProcess(d))
		bp.report()
	})
}
