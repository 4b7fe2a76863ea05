package notifications

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/entityref"
)

// ListOptions select, sort and page a user's inbox. The zero value lists
// everything, newest first.
type ListOptions struct {
	Filter
	// Order sorts the page; nil means created descending. Ties are broken
	// deterministically (user notifications before broadcasts, then id).
	Order []Order
	// Offset skips that many notifications.
	Offset int
	// Limit caps the page; nil means no limit and new(0) returns an empty
	// page with only TotalCount, as Backstage's limit=0 does.
	Limit *int
	// Cursor continues after the page that returned it as NextCursor. It
	// is stable under concurrent inserts (keyset pagination) and works with
	// the default order or a single created order; Offset is applied after
	// it.
	Cursor string
}

// ListResult is one page of an inbox.
type ListResult struct {
	Notifications []Notification `json:"notifications"`
	// TotalCount counts every notification the filter selects, ignoring
	// paging.
	TotalCount int `json:"totalCount"`
	// NextCursor continues after this page; "" when the page was not full
	// or the order does not support cursors.
	NextCursor string `json:"nextCursor,omitempty"`
}

// List returns a page of user's notifications together with all
// broadcasts, each with that user's read and saved state. A Search longer
// than MaxSearchLength characters, an unknown MinimumSeverity, or a
// Search, Topic or id that is not valid UTF-8 or holds a NUL is a
// *ValidationError naming the field (search, minimumSeverity, topic,
// ids[i]); Topics and MarkAllRead check their Filter the same way.
func (s *Service) List(ctx context.Context, user string, o ListOptions) (ListResult, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return ListResult{}, err
	}
	if err := validateListOptions(o); err != nil {
		return ListResult{}, err
	}
	q := Query{User: user, Filter: o.Filter, Order: o.Order, Offset: o.Offset}
	if o.Cursor != "" {
		pos, err := decodeCursor(o.Cursor)
		if err != nil {
			return ListResult{}, err
		}
		q.After = &pos
	}
	if o.Limit != nil {
		q.Limit = *o.Limit
	}
	var result ListResult
	if pc, ok := s.store.(PageCounter); ok && (o.Limit == nil || *o.Limit > 0) {
		ns, total, err := pc.ListPage(ctx, q)
		if err != nil {
			return ListResult{}, fmt.Errorf("notifications: list: %w", err)
		}
		result = ListResult{TotalCount: total, Notifications: ns}
	} else {
		total, err := s.store.Count(ctx, user, o.Filter)
		if err != nil {
			return ListResult{}, fmt.Errorf("notifications: count: %w", err)
		}
		result = ListResult{TotalCount: total, Notifications: []Notification{}}
		if q.Limit == 0 && o.Limit != nil {
			return result, nil
		}
		ns, err := s.store.List(ctx, q)
		if err != nil {
			return ListResult{}, fmt.Errorf("notifications: list: %w", err)
		}
		result.Notifications = ns
	}
	ns := result.Notifications
	if q.Limit > 0 && len(ns) == q.Limit && cursorOrder(o.Order) {
		result.NextCursor = encodeCursor(ns[len(ns)-1])
	}
	return result, nil
}

func validateListOptions(o ListOptions) error {
	var verr ValidationError
	for i, ord := range o.Order {
		if !ord.Field.Valid() {
			verr.add(fmt.Sprintf("orderField[%d]", i), fmt.Sprintf("unknown field %q", ord.Field))
		}
	}
	if o.Offset < 0 {
		verr.add("offset", "must be >= 0")
	}
	if o.Limit != nil && *o.Limit < 0 {
		verr.add("limit", "must be >= 0")
	}
	verr.checkFilter(o.Filter)
	if o.Cursor != "" && !cursorOrder(o.Order) {
		verr.add("cursor", "only works with the default order or a single created order")
	}
	return verr.errOrNil()
}

// checkFilter adds f's bad fields to e: a search longer than
// MaxSearchLength, an unknown severity, and strings no store can take
// (invalid UTF-8, NUL).
func (e *ValidationError) checkFilter(f Filter) {
	e.checkText("search", f.Search)
	if utf8.RuneCountInString(f.Search) > MaxSearchLength {
		e.add("search", fmt.Sprintf("must be at most %d characters", MaxSearchLength))
	}
	e.checkText("topic", f.Topic)
	e.checkIDs(f.IDs)
	if f.MinimumSeverity != "" && !f.MinimumSeverity.Valid() {
		e.add("minimumSeverity", fmt.Sprintf("%q is not one of critical, high, normal, low", f.MinimumSeverity))
	}
}

// checkIDs refuses ids no store can take. Well-formed text that is not a
// UUID is left to the store, for which it matches nothing.
func (e *ValidationError) checkIDs(ids []string) {
	for i, id := range ids {
		e.checkText(fmt.Sprintf("ids[%d]", i), id)
	}
}

func validateFilter(f Filter) error {
	var verr ValidationError
	verr.checkFilter(f)
	return verr.errOrNil()
}

// cursorOrder reports whether a cursor can continue a list in this order.
func cursorOrder(order []Order) bool {
	return order == nil || len(order) == 1 && order[0].Field == OrderCreated
}

type cursorJSON struct {
	Created   int64  `json:"c"`
	Broadcast bool   `json:"b,omitempty"`
	ID        string `json:"i"`
}

// encodeCursor writes the cursor after n: cursorJSON's encoding, in
// base64url. A plain id (a store's UUIDs) is written by hand, with the
// bytes encoding/json writes, since every page with a next one builds a
// cursor (json.Marshal was 1% of a page's CPU); any other goes through
// encoding/json.
func encodeCursor(n Notification) string {
	c := cursorJSON{Created: n.Created.UnixMilli(), Broadcast: n.IsBroadcast(), ID: n.ID}
	var buf [96]byte
	var b []byte
	if plainJSONString(c.ID) && len(c.ID) <= 48 {
		b = append(buf[:0], `{"c":`...)
		b = strconv.AppendInt(b, c.Created, 10)
		if c.Broadcast {
			b = append(b, `,"b":true`...)
		}
		b = append(b, `,"i":"`...)
		b = append(b, c.ID...)
		b = append(b, `"}`...)
	} else {
		b, _ = json.Marshal(c)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// plainJSONString reports whether encoding/json writes s as itself
// between quotes: printable ASCII without '"', '\\' and the HTML
// characters it escapes.
func plainJSONString(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

func decodeCursor(s string) (Position, error) {
	bad := &ValidationError{Fields: []FieldError{{Field: "cursor", Message: "malformed cursor"}}}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Position{}, bad
	}
	var c cursorJSON
	if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" {
		return Position{}, bad
	}
	return Position{Created: time.UnixMilli(c.Created).UTC(), Broadcast: c.Broadcast, ID: c.ID}, nil
}

// Get returns one notification or broadcast as user sees it. Another
// user's notification, an unknown id and a malformed id are all
// ErrNotFound.
func (s *Service) Get(ctx context.Context, user, id string) (Notification, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return Notification{}, err
	}
	return s.store.Get(ctx, user, id)
}

// Status counts user's unread, read and unseen notifications, broadcasts
// included, leaving out archived and snoozed ones.
func (s *Service) Status(ctx context.Context, user string) (Status, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return Status{}, err
	}
	return s.store.Status(ctx, user)
}

// MaxCountFilters bounds the filters of one Counts call.
const MaxCountFilters = 20

// Counts counts user's notifications and broadcasts that each filter
// selects, as List's TotalCount would for it, and returns the counts in
// the order of fs: several badges (per topic, unread, saved) in one round
// trip to the store. Each filter is checked as List checks it, a bad one
// a *ValidationError naming filters[i] and the field; more than
// MaxCountFilters filters is a *ValidationError naming filters. An empty
// fs returns an empty slice.
func (s *Service) Counts(ctx context.Context, user string, fs []Filter) ([]int, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return nil, err
	}
	var verr ValidationError
	if len(fs) > MaxCountFilters {
		verr.add("filters", fmt.Sprintf("must hold at most %d filters", MaxCountFilters))
	}
	for i, f := range fs {
		var one ValidationError
		one.checkFilter(f)
		for _, fe := range one.Fields {
			verr.add(fmt.Sprintf("filters[%d].%s", i, fe.Field), fe.Message)
		}
	}
	if err := verr.errOrNil(); err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return []int{}, nil
	}
	counts, err := s.store.Counts(ctx, user, fs)
	if err != nil {
		return nil, fmt.Errorf("notifications: counts: %w", err)
	}
	return counts, nil
}

// Topics returns the distinct topics among user's notifications and
// broadcasts that f selects, sorted. f is checked as List checks it.
func (s *Service) Topics(ctx context.Context, user string, f Filter) ([]string, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f); err != nil {
		return nil, err
	}
	topics, err := s.store.Topics(ctx, user, f)
	if topics == nil && err == nil {
		topics = []string{}
	}
	return topics, err
}

// UpdateOptions change the state of some notifications. Each state is
// independent of the others, except that reading implies seeing (Read
// true also marks the unseen ones seen); nil leaves that state alone.
type UpdateOptions struct {
	IDs   []string
	Read  *bool
	Saved *bool
	// Seen marks them seen (shown by the user's client) or unseen.
	Seen *bool
	// Archived archives them (hidden until un-archived, Filter.Archived
	// lists them) or brings them back as they were.
	Archived *bool
	// SnoozedUntil, when set, snoozes them until that time: hidden as if
	// archived, then back unread and unseen, with a new_notification
	// signal to the user. A time not after now un-snoozes them at once;
	// one outside the years 1 to 9999 is a *ValidationError naming
	// snoozedUntil.
	SnoozedUntil *time.Time
}

// Update marks the listed notifications and broadcasts read or unread,
// saved or unsaved, seen or unseen, archived or not, and snoozed or not
// for user, and returns them as they are now, newest first, hidden ones
// included. Ids the user cannot see are ignored. Marking read or unread
// publishes notification_read or notification_unread to the user with the
// ids as given. Every change is visible to Filter.ChangedSince, and so to
// CatchUp.
func (s *Service) Update(ctx context.Context, user string, o UpdateOptions) ([]Notification, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return nil, err
	}
	if o.IDs == nil {
		return nil, &ValidationError{Fields: []FieldError{{Field: "ids", Message: "is required"}}}
	}
	var verr ValidationError
	verr.checkIDs(o.IDs)
	if o.SnoozedUntil != nil {
		if y := o.SnoozedUntil.UTC().Year(); y < 1 || y > 9999 {
			verr.add("snoozedUntil", "must be within the years 1 to 9999")
		}
	}
	if err := verr.errOrNil(); err != nil {
		return nil, err
	}
	now := s.now()
	at := func(on bool) *time.Time {
		if on {
			return &now
		}
		return nil
	}
	if o.Read != nil {
		if err := s.store.SetRead(ctx, user, o.IDs, at(*o.Read), now); err != nil {
			return nil, fmt.Errorf("notifications: mark read: %w", err)
		}
		action := ActionNotificationRead
		if !*o.Read {
			action = ActionNotificationUnread
		}
		s.publishToUser(ctx, user, ReadStateMessage{Action: action, NotificationIDs: o.IDs})
	}
	if o.Saved != nil {
		if err := s.store.SetSaved(ctx, user, o.IDs, at(*o.Saved), now); err != nil {
			return nil, fmt.Errorf("notifications: mark saved: %w", err)
		}
	}
	if o.Seen != nil {
		if err := s.store.SetSeen(ctx, user, o.IDs, at(*o.Seen), now); err != nil {
			return nil, fmt.Errorf("notifications: mark seen: %w", err)
		}
	}
	if o.Archived != nil {
		if err := s.store.SetArchived(ctx, user, o.IDs, at(*o.Archived), now); err != nil {
			return nil, fmt.Errorf("notifications: archive: %w", err)
		}
	}
	if o.SnoozedUntil != nil {
		var until *time.Time
		if u := o.SnoozedUntil.UTC().Truncate(time.Millisecond); u.After(now) {
			until = &u
		}
		if err := s.store.SetSnoozed(ctx, user, o.IDs, until, now); err != nil {
			return nil, fmt.Errorf("notifications: snooze: %w", err)
		}
		if until != nil {
			s.wakeSnoozer()
		}
	}
	if len(o.IDs) == 0 {
		return []Notification{}, nil
	}
	// ChangedSince with Archived nil keeps the hidden ones: what was just
	// archived or snoozed is returned too.
	ns, err := s.store.List(ctx, Query{User: user, Filter: Filter{IDs: o.IDs, ChangedSince: &time.Time{}}})
	if err != nil {
		return nil, fmt.Errorf("notifications: list updated: %w", err)
	}
	return ns, nil
}

// MarkAllRead marks every unread notification and broadcast of user that
// f selects as read (set f.CreatedBefore to stop at a point in time), in
// one statement per table, publishes notification_read with their ids, and
// returns the ids. f is checked as List checks it.
func (s *Service) MarkAllRead(ctx context.Context, user string, f Filter) ([]string, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f); err != nil {
		return nil, err
	}
	ids, err := s.store.MarkAllRead(ctx, user, f, s.now())
	if err != nil {
		return nil, fmt.Errorf("notifications: mark all read: %w", err)
	}
	if len(ids) > 0 {
		s.publishToUser(ctx, user, ReadStateMessage{Action: ActionNotificationRead, NotificationIDs: ids})
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// MarkAllSeen marks every unseen notification and broadcast of user that
// f selects as seen (the badge's "mark all as seen"), in one statement per
// table, and returns their ids; like MarkAllRead it leaves out archived
// and snoozed ones unless f.Archived asks for the archived. f is checked
// as List checks it.
func (s *Service) MarkAllSeen(ctx context.Context, user string, f Filter) ([]string, error) {
	user, err := canonicalUser(user)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f); err != nil {
		return nil, err
	}
	ids, err := s.store.MarkAllSeen(ctx, user, f, s.now())
	if err != nil {
		return nil, fmt.Errorf("notifications: mark all seen: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// canonicalUser checks that ref is a user ref and returns its canonical
// form, so "user:jane" and "user:default/jane" read the same inbox.
func canonicalUser(ref string) (string, error) {
	r, err := entityref.Parse(ref)
	if err != nil || !r.IsUser() {
		return "", &ValidationError{Fields: []FieldError{{Field: "user", Message: fmt.Sprintf("%q is not a user entity ref", ref)}}}
	}
	return r.String(), nil
}
