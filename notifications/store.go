package notifications

import (
	"context"
	"slices"
	"time"
)

// Store persists notifications, broadcasts with each user's state, and user
// settings. Package store implements it on bun (SQLite and PostgreSQL);
// package store/storetest is the conformance suite every implementation
// must pass. Only the Service calls a Store; hosts call the Service.
//
// Every read and write is scoped to one user: a user's notifications plus
// all broadcasts, with that user's read and saved state for each broadcast.
// An id that is not a well-formed UUID never matches (it is not an error).
// Reads return metadata decoded by internal/jsonvalue: numbers are
// json.Number with every digit the database kept.
// Implementations are safe for concurrent use.
type Store interface {
	// SaveNotifications stores the user notifications of one send in one
	// transaction: all or nothing. A notification with a Scope whose
	// (User, Origin, Scope) is already stored updates that row instead
	// (title, description, link, topic, severity and metadata replaced,
	// metadata cleared when the new one is nil, Updated set to the new
	// notification's Created, Read, Seen, Archived and SnoozedUntil
	// cleared; id, created, icon and saved kept), atomically even under concurrent sends. It returns the stored
	// state of each, in input order.
	//
	// When w is not nil, the send record and its deliveries are written in
	// the same transaction (see DeliveryWrite); a delivery of a scoped
	// notification takes the stored (updated) row's id.
	SaveNotifications(ctx context.Context, ns []Notification, w *DeliveryWrite) ([]Notification, error)
	// SaveBroadcast stores a broadcast (User is ""). A Scope whose
	// (Origin, Scope) is already stored updates that broadcast as above,
	// leaving every user's read and saved state alone. It returns the
	// stored state, with the stored id. w is written with it, as for
	// SaveNotifications (every NewDelivery.Index is 0).
	SaveBroadcast(ctx context.Context, n Notification, w *DeliveryWrite) (Notification, error)

	// List returns the user's notifications and the broadcasts that match
	// q, ordered as q says with a deterministic tie-break.
	List(ctx context.Context, q Query) ([]Notification, error)
	// Count returns how many notifications List would return for the same
	// user and filter without paging.
	Count(ctx context.Context, user string, f Filter) (int, error)
	// Counts returns, for each filter in order, what Count would return
	// for it, read in one round trip (one statement); an empty fs is an
	// empty result.
	Counts(ctx context.Context, user string, fs []Filter) ([]int, error)
	// Get returns one notification or broadcast as user sees it, archived
	// or snoozed ones too, or an error wrapping ErrNotFound.
	Get(ctx context.Context, user, id string) (Notification, error)
	// Status counts the user's unread, read and unseen notifications and
	// broadcasts, hidden ones (archived or snoozed) left out.
	Status(ctx context.Context, user string) (Status, error)
	// Topics returns the distinct non-empty topics among what List would
	// return for f, sorted ascending.
	Topics(ctx context.Context, user string, f Filter) ([]string, error)
	// OriginTopics returns the distinct (origin, topic) pairs of the
	// user's own notifications (broadcasts excluded); Topic is "" for
	// notifications without one.
	OriginTopics(ctx context.Context, user string) ([]OriginTopic, error)

	// SetRead sets (at non-nil) or clears (nil) the read time of the
	// listed notifications and broadcasts for user, and sets their change
	// time to now, touching nothing else, except that reading implies
	// seeing: an at also sets the seen time of those not yet seen. Ids
	// the user cannot see are ignored; hidden ones are the user's too.
	//
	// Every state change (SetRead, SetSaved, SetSeen, SetArchived,
	// SetSnoozed, MarkAllRead, MarkAllSeen, WakeSnoozed) sets the change
	// time, so that ChangedSince selects the row.
	SetRead(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error
	// SetSaved is SetRead for the saved time.
	SetSaved(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error
	// SetSeen is SetRead for the seen time; SetArchived for the archived
	// time.
	SetSeen(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error
	SetArchived(ctx context.Context, user string, ids []string, at *time.Time, now time.Time) error
	// SetSnoozed sets (until non-nil) or clears (nil) the snoozed-until
	// time of the listed notifications and broadcasts for user; now is
	// the time of the change. The Service passes nil for a time not after
	// now.
	SetSnoozed(ctx context.Context, user string, ids []string, until *time.Time, now time.Time) error
	// MarkAllSeen is MarkAllRead for the seen time: every unseen
	// notification and broadcast of user that matches f.
	MarkAllSeen(ctx context.Context, user string, f Filter, at time.Time) ([]string, error)
	// WakeSnoozed ends, in one conditional statement per table, every
	// snooze due at or before now (at most limit per table): snoozed
	// until, read and seen are cleared and the change time set to now.
	// It returns the rows its own statements took, so concurrent wakers
	// (other Services on the same database) never return one row twice;
	// a woken row still archived is not returned (it stays hidden).
	WakeSnoozed(ctx context.Context, now time.Time, limit int) ([]Woken, error)
	// NextSnoozeDue returns the earliest snoozed-until time among all
	// users' notifications and broadcast states; false when nothing is
	// snoozed.
	NextSnoozeDue(ctx context.Context) (time.Time, bool, error)
	// MarkAllRead sets the read time of every unread notification and
	// broadcast of user that matches f, in one statement per table, and
	// returns their ids; those not yet seen are seen at that time too.
	MarkAllRead(ctx context.Context, user string, f Filter, at time.Time) ([]string, error)

	// SettingRows returns the stored settings rows of each user, in the
	// order they were saved. Users without rows are absent from the map.
	SettingRows(ctx context.Context, users []string) (map[string][]SettingRow, error)
	// ReplaceSettings replaces all of user's rows with rows, in one
	// transaction.
	ReplaceSettings(ctx context.Context, user string, rows []SettingRow) error
	// QuietHours returns the stored quiet hours of each user, as they
	// were saved. Users without are absent from the map.
	QuietHours(ctx context.Context, users []string) (map[string]QuietHours, error)
	// UpdateSettings replaces all of user's rows with u.Rows and, when
	// u.QuietHours is not nil, the user's quiet hours with it (the zero
	// QuietHours removes them), in one transaction: all or nothing.
	UpdateSettings(ctx context.Context, user string, u SettingsUpdate) error
	// HoldDelivery puts a claimed delivery back as if it had not been
	// claimed, due at h.Until: fenced by the lease token (an error
	// wrapping ErrLeaseLost when it no longer holds), its lease released,
	// its status kept, and the claim's attempt uncounted (Attempts as it
	// was before the claim). If a scoped re-send replaced the delivery
	// since the claim, it is due at h.Now instead, attempts reset, as
	// FinishDelivery does. It returns the delivery as stored.
	HoldDelivery(ctx context.Context, h DeliveryHold) (Delivery, error)

	// DeleteOlderThan deletes notifications and broadcasts last changed
	// (Updated, or Created when never updated) at or before cutoff, in
	// batches of at most batchSize rows per statement so a large purge
	// never holds a long lock. It returns how many it deleted.
	DeleteOlderThan(ctx context.Context, cutoff time.Time, batchSize int) (int, error)

	// ClaimDeliveries leases up to o.Limit due deliveries (pending or
	// retrying, NextAttempt at or before o.Now), oldest NextAttempt first:
	// each gets one new lease token, its NextAttempt moves to o.Now+o.Lease
	// and its Attempts grows by one. A lease that runs out makes the
	// delivery due again, for any claimer; no delivery is leased to two
	// claimers at once while its lease holds, even across processes (on
	// PostgreSQL with FOR UPDATE SKIP LOCKED). Each claim carries the
	// send's options and the notification as stored now.
	ClaimDeliveries(ctx context.Context, o ClaimOptions) ([]DeliveryClaim, error)
	// RenewDeliveryLease extends a held lease to until. An error wrapping
	// ErrLeaseLost means the token no longer holds the delivery.
	RenewDeliveryLease(ctx context.Context, id, token string, until time.Time) error
	// FinishDelivery records an attempt's outcome, fenced by the lease
	// token (an error wrapping ErrLeaseLost when it no longer holds), and
	// returns the delivery as stored. If a scoped re-send replaced the
	// delivery while the attempt ran, the outcome is not applied: the
	// delivery becomes pending, due at o.Now, with its attempts reset, so
	// the new content runs next, never alongside the old.
	FinishDelivery(ctx context.Context, o DeliveryOutcome) (Delivery, error)
	// ListDeliveries returns the deliveries f selects, newest first (by
	// Created, then id), at most f.Limit.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// GetDelivery returns one delivery, or an error wrapping ErrNotFound.
	GetDelivery(ctx context.Context, id string) (Delivery, error)
	// RequeueDelivery makes a failed or cancelled delivery pending, due at
	// now, with its attempts reset, and returns it. Any other status, or
	// an unknown id, is an error wrapping ErrNotFound.
	RequeueDelivery(ctx context.Context, id string, now time.Time) (Delivery, error)
	// DeleteFinishedDeliveries deletes sent, failed and cancelled
	// deliveries last updated at or before cutoff, and the send records
	// no delivery refers to any more, in batches of at most batchSize
	// rows per statement. It returns how many deliveries it deleted.
	// DeleteOlderThan deletes a notification's deliveries with it.
	DeleteFinishedDeliveries(ctx context.Context, cutoff time.Time, batchSize int) (int, error)

	// Idempotent sends and scheduled sends.

	// KeyedSend returns the committed send record of origin that holds
	// key, expired or not, with the result SaveNotifications or
	// SaveBroadcast stored for it; an error wrapping ErrNotFound when
	// none does. It is one indexed lookup.
	KeyedSend(ctx context.Context, origin, key string) (KeyedSend, error)
	// DeleteExpiredIdempotencyKeys takes the key (and result) from the
	// send records created before cutoff, and from the schedules that
	// finished (sent, failed or cancelled) before cutoff, in batches of
	// at most batchSize rows per statement. It returns how many keys it
	// cleared.
	DeleteExpiredIdempotencyKeys(ctx context.Context, cutoff time.Time, batchSize int) (int, error)

	// SaveSchedule stores a waiting scheduled send, due at its At. When
	// o.Schedule.Options.IdempotencyKey is set and a schedule of the same
	// origin holds it (waiting, or finished at or after
	// o.KeyExpiredBefore), nothing is written and that schedule is
	// returned with Existing set; an expired holder loses the key to the
	// new schedule. Concurrent saves with one key store one schedule.
	SaveSchedule(ctx context.Context, o SaveScheduleOptions) (SaveScheduleResult, error)
	// GetSchedule returns one scheduled send, or an error wrapping
	// ErrNotFound.
	GetSchedule(ctx context.Context, id string) (ScheduledSend, error)
	// ListSchedules returns the scheduled sends f selects, by At then id,
	// at most f.Limit.
	ListSchedules(ctx context.Context, f ScheduleFilter) ([]ScheduledSend, error)
	// CancelSchedule cancels a waiting scheduled send, even one claimed by
	// a run in progress (whose commit then fails with ErrLeaseLost). Any
	// other status, or an unknown id, is an error wrapping ErrNotFound.
	CancelSchedule(ctx context.Context, id string, now time.Time) error
	// ClaimSchedules leases up to o.Limit due schedules (waiting, their
	// next attempt at or before o.Now), oldest first, as ClaimDeliveries
	// does deliveries: one new token each, the next attempt moved to the
	// lease's end, Attempts grown by one, and never two claimers at once
	// while a lease holds. A run marks its schedule sent through
	// SendRecord.Schedule, in the send's own transaction.
	ClaimSchedules(ctx context.Context, o ClaimOptions) ([]ScheduleClaim, error)
	// NextScheduleDue returns the earliest next attempt among waiting
	// schedules (a lease's end while one holds it); false when none is
	// waiting. The scheduler asks it before reading its clock.
	NextScheduleDue(ctx context.Context) (time.Time, bool, error)
	// FinishSchedule records a failed run, fenced by the lease token (an
	// error wrapping ErrLeaseLost when it no longer holds): waiting
	// again, due at o.NextAttempt, or failed.
	FinishSchedule(ctx context.Context, o ScheduleOutcome) error
	// DeleteFinishedSchedules deletes the sent, failed and cancelled
	// schedules last changed at or before cutoff that hold no key, in
	// batches of at most batchSize rows. It returns how many it deleted.
	DeleteFinishedSchedules(ctx context.Context, cutoff time.Time, batchSize int) (int, error)
}

// MaxSearchLength is the longest Filter.Search, in characters (runes):
// List, Topics and MarkAllRead refuse a longer one with a
// *ValidationError naming the field search. Every store must answer any
// search up to it, whatever characters it holds ('%' and '_' included).
const MaxSearchLength = 1000

// PageCounter is a Store that reads a page of List and its Count in one
// round trip: ListPage returns what List(q) returns and what
// Count(q.User, q.Filter) returns, as of one moment. The Service's List
// uses it when the Store has it; package store implements it.
type PageCounter interface {
	ListPage(ctx context.Context, q Query) ([]Notification, int, error)
}

// Filter selects notifications. The zero Filter selects everything.
type Filter struct {
	// IDs, when non-nil, keeps only these ids.
	IDs []string
	// Search keeps notifications whose title or description contains it
	// as a substring, literally ('%' and '_' are not wildcards), folding
	// case the same on every store, whatever the database's collation or
	// locale: Unicode simple case folding, strings.EqualFold's
	// equivalence. "ÄRGER" finds "ärger", "ẞ" finds "ß" and "Σ" finds "ς";
	// nothing expands ("SS" does not find "ß"), accents are not case
	// ("e" does not find "é"), and no language's rules apply (the Turkish
	// "ı" and "İ" are neither "i" nor "I"). At most MaxSearchLength
	// characters; folding turns each character into one, so the limit is
	// the same before and after it.
	Search string
	// Read keeps read (true) or unread (false) ones; nil keeps both.
	Read *bool
	// Saved keeps saved (true) or unsaved (false) ones; nil keeps both.
	Saved *bool
	// Seen keeps seen (true) or unseen (false) ones; nil keeps both.
	Seen *bool
	// Archived keeps only archived ones (true) or leaves them out (nil
	// or false). Snoozed ones are left out either way until they come
	// back. One exception: with ChangedSince set and Archived nil,
	// archived and snoozed ones are kept too, so that a catch-up sees
	// them leave the inbox.
	Archived *bool
	// CreatedAfter keeps notifications created at or after it, when
	// non-nil. Presence decides, not the value: the zero time is a bound
	// like any other.
	CreatedAfter *time.Time
	// CreatedBefore keeps notifications created at or before it, when
	// non-nil; the zero time (year 1) selects nothing stored.
	CreatedBefore *time.Time
	// ChangedSince keeps notifications created, updated (by a scoped
	// re-send) or changed in state (read, unread, saved, unsaved, seen,
	// archived or un-archived, snoozed, un-snoozed or woken) at or after
	// it, when set: what a client that lost its live connection at that
	// moment must refetch. Nil selects regardless of change time.
	ChangedSince *time.Time
	// MinimumSeverity keeps this severity and more severe ones, when set.
	MinimumSeverity Severity
	// Topic keeps one topic exactly, when set.
	Topic string
}

// OrderField is a field notifications can be sorted by.
type OrderField string

// The sortable fields.
const (
	OrderCreated  OrderField = "created"
	OrderUpdated  OrderField = "updated"
	OrderTitle    OrderField = "title"
	OrderTopic    OrderField = "topic"
	OrderOrigin   OrderField = "origin"
	OrderSeverity OrderField = "severity"
	OrderRead     OrderField = "read"
	OrderSaved    OrderField = "saved"
)

// orderFields is every sortable field; callers get copies.
var orderFields = [...]OrderField{OrderCreated, OrderUpdated, OrderTitle, OrderTopic, OrderOrigin, OrderSeverity, OrderRead, OrderSaved}

// OrderFields returns the sortable fields, in a new slice the caller may
// keep and change.
func OrderFields() []OrderField { return slices.Clone(orderFields[:]) }

// Valid reports whether f is one of OrderFields.
func (f OrderField) Valid() bool {
	for _, known := range orderFields {
		if f == known {
			return true
		}
	}
	return false
}

// Order is one sort key.
type Order struct {
	Field OrderField
	Desc  bool
}

// Query is what Store.List reads. Stores sort by Order, then by a fixed
// tie-break: user notifications before broadcasts, then id ascending.
// Severity sorts by rank (critical first when ascending); null values sort
// first when ascending.
type Query struct {
	User   string
	Filter Filter
	// Order is the sort; nil means created descending.
	Order []Order
	// Offset skips rows.
	Offset int
	// Limit caps the rows returned; 0 means no limit.
	Limit int
	// After, when set, returns only rows after this position in the sort
	// (keyset pagination). It is only valid with Order nil or a single
	// created key.
	After *Position
}

// Position is a row's place in a created-ordered list: what a cursor
// carries.
type Position struct {
	Created   time.Time
	Broadcast bool
	ID        string
}

// Status is a user's unread, read and unseen counts, broadcasts
// included, archived and snoozed ones left out.
type Status struct {
	Unread int `json:"unread"`
	Read   int `json:"read"`
	// Unseen is a Herald extension: what the user's client has not shown
	// yet, the badge's count.
	Unseen int `json:"unseen"`
}

// Woken is one notification (or, with Broadcast, one user's state of a
// broadcast) whose snooze WakeSnoozed ended.
type Woken struct {
	User      string
	ID        string
	Broadcast bool
}

// OriginTopic is an (origin, topic) pair seen in a user's notifications.
type OriginTopic struct {
	Origin string
	Topic  string // "" when the notification had no topic
}

// SettingsUpdate is what Store.UpdateSettings writes for one user.
type SettingsUpdate struct {
	// Rows replace all of the user's settings rows.
	Rows []SettingRow
	// QuietHours, when not nil, replaces the user's quiet hours; the
	// zero QuietHours removes them. Nil leaves them as they are.
	QuietHours *QuietHours
}

// SettingRow is one stored settings row: whether user gets notifications
// from Origin (Topic "") or from one topic of it on Channel.
type SettingRow struct {
	Channel string
	Origin  string
	Topic   string
	Enabled bool
}
