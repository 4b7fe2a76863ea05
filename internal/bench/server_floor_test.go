//go:build linux

package bench

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/casefold"
	"github.com/heraldhq/herald/internal/uuid"
)

// The floor server is the HTTP floor of BenchmarkServer: the least a
// plain net/http + encoding/json + database/sql program must do to answer
// the requests the benchmark sends to examples/server, on the same driver,
// pragmas and schema (a database Herald's store has migrated). It runs in
// a process of its own, the test binary re-executed with floorDBEnv set
// (see startFloor), so that its CPU time and RSS are its own.
//
// It is the fastest plain way, not a second implementation of Herald: a
// send is one autocommit INSERT through a prepared statement (no
// transaction, no settings lookup, no signal), a page is the best plain
// queries of BenchmarkList's floor (floorCountSQL and floorPageSQL with
// floorBroadcastsSQL on SQLite, floorUnionSQL on PostgreSQL), prepared,
// with the metadata passed through as raw JSON rather than decoded and
// encoded again, and the status is floorStatusSQL. Bearer tokens are
// compared in constant time; a body is decoded with encoding/json into
// a struct, and only what the insert needs is checked.
const (
	floorDBEnv      = "HERALD_BENCH_FLOOR_DB"      // "sqlite:PATH" or "postgres:DSN"
	floorServiceEnv = "HERALD_BENCH_FLOOR_SERVICE" // TOKEN=SUBJECT
	floorUserEnv    = "HERALD_BENCH_FLOOR_USER"    // TOKEN=USERREF
)

// TestServerFloorProcess is the floor server's process: it serves until
// SIGTERM, printing "listening ADDR" to stdout once it accepts requests.
// Without floorDBEnv (in an ordinary test run) it skips.
func TestServerFloorProcess(t *testing.T) {
	spec := os.Getenv(floorDBEnv)
	if spec == "" {
		t.Skip("the floor server of BenchmarkServer; runs only when the benchmark starts it")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	f, err := newFloorServer(ctx, spec, os.Getenv(floorServiceEnv), os.Getenv(floorUserEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}

type floorServer struct {
	db                      *sql.DB
	serviceToken, origin    []byte
	userToken               []byte
	user                    string
	postgres                bool
	ts                      func(time.Time) any
	insertNotification      *sql.Stmt
	insertBroadcast         *sql.Stmt
	count, page, broadcasts *sql.Stmt // page is floorUnionSQL on PostgreSQL
	status                  *sql.Stmt
}

func newFloorServer(ctx context.Context, spec, service, user string) (_ *floorServer, err error) {
	f := &floorServer{}
	driver, dsn, _ := strings.Cut(spec, ":")
	serviceToken, origin, ok1 := cutLast(service)
	userToken, userRef, ok2 := cutLast(user)
	if !ok1 || !ok2 {
		return nil, errors.New("floor: tokens must be TOKEN=VALUE")
	}
	f.serviceToken, f.origin, f.userToken, f.user = []byte(serviceToken), []byte(origin), []byte(userToken), userRef
	param, param2, mark := "?1", "?2", "?"
	switch driver {
	case "sqlite":
		dsn, f.ts = sqliteDSN(dsn), sqliteTime
	case "postgres":
		driver, param, param2, mark, f.postgres, f.ts = "pgx", "$1", "$2", "$", true, pgTime
	default:
		return nil, fmt.Errorf("floor: unknown database %q", spec)
	}
	if f.db, err = sql.Open(driver, dsn); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	// database/sql keeps 2 idle connections by default: with 8 clients
	// it would open and close connections all the time. Keep as many as
	// the store does.
	f.db.SetMaxIdleConns(8)
	if err := f.db.PingContext(ctx); err != nil {
		return nil, err
	}
	placeholders := func(n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = mark
			if mark == "$" {
				ps[i] = fmt.Sprintf("$%d", i+1)
			}
		}
		return strings.Join(ps, ", ")
	}
	prepare := func(dst **sql.Stmt, query string) {
		if err != nil {
			return
		}
		*dst, err = f.db.PrepareContext(ctx, strings.NewReplacer("$P", param, "$Q", param2).Replace(query))
	}
	prepare(&f.insertNotification, "INSERT INTO notification ("+notificationColumns+") VALUES ("+placeholders(columnsPerRow)+")")
	prepare(&f.insertBroadcast, "INSERT INTO broadcast ("+broadcastColumns+") VALUES ("+placeholders(14)+")")
	prepare(&f.count, floorCountSQL)
	prepare(&f.status, floorStatusSQL)
	if f.postgres {
		prepare(&f.page, floorUnionSQL)
	} else {
		prepare(&f.page, floorPageSQL)
		prepare(&f.broadcasts, floorBroadcastsSQL)
	}
	return f, err
}

func cutLast(s string) (string, string, bool) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func (f *floorServer) close() {
	for _, s := range []*sql.Stmt{f.insertNotification, f.insertBroadcast, f.count, f.page, f.broadcasts, f.status} {
		if s != nil {
			s.Close()
		}
	}
	if f.db != nil {
		f.db.Close()
	}
}

func (f *floorServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/notifications/notifications", f.send)
	mux.HandleFunc("GET /api/notifications/notifications", f.list)
	mux.HandleFunc("GET /api/notifications/status", f.getStatus)
	return mux
}

// bearer reports whether r carries token.
func bearer(r *http.Request, token []byte) bool {
	h := r.Header.Get("Authorization")
	return len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && subtle.ConstantTimeCompare([]byte(h[7:]), token) == 1
}

// floorSendRequest is what the floor reads of a send's body.
type floorSendRequest struct {
	Recipients struct {
		Type      string `json:"type"`
		EntityRef string `json:"entityRef"`
	} `json:"recipients"`
	Payload floorPayload `json:"payload"`
}

type floorPayload struct {
	Title       string          `json:"title"`
	Description *string         `json:"description"`
	Link        *string         `json:"link"`
	Severity    string          `json:"severity"`
	Topic       *string         `json:"topic"`
	Scope       *string         `json:"scope"`
	Icon        *string         `json:"icon"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// foldText is the folded search text Herald stores beside a description:
// NULL when there is none.
func foldText(s *string) any {
	if s == nil {
		return nil
	}
	return casefold.String(*s)
}

// floorNotification is a notification on the wire.
type floorNotification struct {
	ID      string     `json:"id"`
	User    *string    `json:"user"`
	Created time.Time  `json:"created"`
	Updated *time.Time `json:"updated"`
	Read    *time.Time `json:"read"`
	Saved   *time.Time `json:"saved"`
	// The inbox states, as Herald's REST answers them.
	Seen         *time.Time   `json:"seen"`
	Archived     *time.Time   `json:"archived"`
	SnoozedUntil *time.Time   `json:"snoozedUntil"`
	Origin       string       `json:"origin"`
	Payload      floorPayload `json:"payload"`
}

func floorJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (f *floorServer) send(w http.ResponseWriter, r *http.Request) {
	if !bearer(r, f.serviceToken) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var req floorSendRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Payload.Title == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p := &req.Payload
	if p.Severity == "" {
		p.Severity = "normal"
	}
	var meta any // NULL, or the JSON text as the client sent it
	if len(p.Metadata) > 0 && !bytes.Equal(p.Metadata, []byte("null")) {
		meta = string(p.Metadata)
	}
	n := floorNotification{ID: uuid.New(), Created: time.Now().UTC().Truncate(time.Millisecond), Origin: string(f.origin), Payload: *p}
	var err error
	switch req.Recipients.Type {
	case "entity":
		if req.Recipients.EntityRef == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		n.User = &req.Recipients.EntityRef
		_, err = f.insertNotification.ExecContext(r.Context(), n.ID, *n.User, p.Title, p.Description, p.Severity, p.Link,
			n.Origin, p.Scope, p.Topic, f.ts(n.Created), nil, nil, nil, p.Icon, meta, casefold.String(p.Title), foldText(p.Description))
	case "broadcast":
		_, err = f.insertBroadcast.ExecContext(r.Context(), n.ID, p.Title, p.Description, p.Severity, p.Link,
			n.Origin, p.Scope, p.Topic, f.ts(n.Created), nil, p.Icon, meta, casefold.String(p.Title), foldText(p.Description))
	default:
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	floorJSON(w, []floorNotification{n})
}

type floorListResponse struct {
	TotalCount    int                 `json:"totalCount"`
	Notifications []floorNotification `json:"notifications"`
}

// list answers the one page the benchmark asks for: the user's newest 20
// unread, notifications and broadcasts merged, and their total.
func (f *floorServer) list(w http.ResponseWriter, r *http.Request) {
	if !bearer(r, f.userToken) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	if q.Get("read") != "false" || q.Get("limit") != "20" {
		http.Error(w, "the floor serves limit=20&read=false only", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	res := floorListResponse{Notifications: make([]floorNotification, 0, 20)}
	err := f.count.QueryRowContext(ctx, f.user).Scan(&res.TotalCount)
	if err == nil && f.postgres {
		res.Notifications, err = f.scan(ctx, f.page, res.Notifications, f.user)
	} else if err == nil {
		res.Notifications, err = f.sqlitePage(ctx, res.Notifications)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	floorJSON(w, res)
}

// sqlitePage reads the notification page, then the unread broadcasts
// newer than its last row, and merges them.
func (f *floorServer) sqlitePage(ctx context.Context, page []floorNotification) ([]floorNotification, error) {
	own, err := f.scan(ctx, f.page, page, f.user)
	if err != nil {
		return nil, err
	}
	var after time.Time
	if len(own) == 20 {
		after = own[19].Created
	}
	bs, err := f.scan(ctx, f.broadcasts, nil, f.user, f.ts(after))
	if err != nil || len(bs) == 0 {
		return own, err
	}
	merged := make([]floorNotification, 0, 20)
	for len(merged) < 20 && (len(own) > 0 || len(bs) > 0) {
		if len(bs) == 0 || len(own) > 0 && !bs[0].Created.After(own[0].Created) {
			merged, own = append(merged, own[0]), own[1:]
		} else {
			merged, bs = append(merged, bs[0]), bs[1:]
		}
	}
	return merged, nil
}

// scan runs one of the page statements and appends its rows to ns.
func (f *floorServer) scan(ctx context.Context, stmt *sql.Stmt, ns []floorNotification, args ...any) ([]floorNotification, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			n                             floorNotification
			kind                          int
			created, updated, read, saved floorTime
			seen, archived, snoozed       floorTime
			meta                          []byte
		)
		p := &n.Payload
		if err := rows.Scan(&n.ID, &kind, &p.Title, &p.Description, &p.Severity, &p.Link, &n.Origin, &p.Scope, &p.Topic,
			&created, &updated, &read, &saved, &p.Icon, &meta, &seen, &archived, &snoozed); err != nil {
			return nil, err
		}
		if kind == 0 {
			n.User = &f.user
		}
		n.Created, n.Updated, n.Read, n.Saved = created.t, updated.ptr(), read.ptr(), saved.ptr()
		n.Seen, n.Archived, n.SnoozedUntil = seen.ptr(), archived.ptr(), snoozed.ptr()
		if n.Seen == nil {
			n.Seen = n.Read // reading implies seeing
		}
		p.Metadata = meta
		ns = append(ns, n)
	}
	return ns, rows.Err()
}

type floorStatus struct {
	Unread int `json:"unread"`
	Read   int `json:"read"`
	Unseen int `json:"unseen"`
}

func (f *floorServer) getStatus(w http.ResponseWriter, r *http.Request) {
	if !bearer(r, f.userToken) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var unread, read, unseen, broadcasts, notUnread, broadcastsRead, notUnseen int
	if err := f.status.QueryRowContext(r.Context(), f.user).Scan(&unread, &read, &unseen, &broadcasts, &notUnread, &broadcastsRead, &notUnseen); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	floorJSON(w, floorStatus{Unread: unread + broadcasts - notUnread, Read: read + broadcastsRead, Unseen: unseen + broadcasts - notUnseen})
}

// drain reads and closes a response body so its connection is reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, body)
	body.Close()
}
