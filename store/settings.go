package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/uptrace/bun"

	"github.com/heraldhq/herald/notifications"
)

// settingsChunk is how many users one SettingRows query asks for.
const settingsChunk = 500

// SettingRows implements notifications.Store. A send to many users asks
// for all of them; when nobody has saved settings, one probe of an empty
// table answers.
//
// One user's rows, what every one-recipient send asks for, are read on
// SQLite with a statement prepared once per connection: parsing the query
// was a fifth of such a send. That statement runs on the database/sql pool
// beneath bun, so bun's query hooks do not see it.
func (s *Store) SettingRows(ctx context.Context, users []string) (map[string][]notifications.SettingRow, error) {
	out := map[string][]notifications.SettingRow{}
	if len(users) == 0 {
		return out, nil
	}
	if len(users) > 1 {
		var any int
		err := s.read(ctx, func() error {
			return s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM user_settings LIMIT 1) t").Scan(&any)
		})
		if err != nil {
			return nil, fmt.Errorf("store: setting rows: %w", err)
		}
		if any == 0 {
			return out, nil
		}
	}
	users = uniqueStrings(users) // after the probe, which usually answers alone
	// Text the stmt path refuses is refused there, the same on both
	// databases.
	if len(users) == 1 && s.d.prepareHot() && checkText(users[0]) == nil {
		if stmt := s.settingsStmt(ctx); stmt != nil {
			err := s.read(ctx, func() error {
				clear(out)
				rows, err := stmt.QueryContext(ctx, users[0])
				if err != nil {
					return err
				}
				return scanSettings(rows, out)
			})
			if err != nil {
				return nil, fmt.Errorf("store: setting rows: %w", err)
			}
			return out, nil
		}
	}
	for chunk := range slices.Chunk(users, settingsChunk) {
		b := newStmt(s.d, 128)
		b.raw(`SELECT "user", channel, origin, topic, enabled FROM user_settings WHERE "user" IN `).strList(chunk).raw(" ORDER BY id")
		if err := s.querySettings(ctx, b, chunk, out); err != nil {
			return nil, fmt.Errorf("store: setting rows: %w", err)
		}
	}
	return out, nil
}

// settingsOneSQL is SettingRows' query for one user, as a prepared
// statement (sqlite's placeholder: only SQLite prepares it).
const settingsOneSQL = `SELECT "user", channel, origin, topic, enabled FROM user_settings WHERE "user" = ? ORDER BY id`

// settingsStmt returns the prepared settingsOneSQL, preparing it on first
// use; nil when preparing failed, and the caller then sends the query as
// text (the next call tries again).
func (s *Store) settingsStmt(ctx context.Context) *sql.Stmt {
	if stmt := s.settingsOne.Load(); stmt != nil {
		return stmt
	}
	stmt, err := s.db.DB.PrepareContext(ctx, settingsOneSQL)
	if err != nil {
		return nil
	}
	if !s.settingsOne.CompareAndSwap(nil, stmt) {
		stmt.Close() // another call prepared it first
		return s.settingsOne.Load()
	}
	return stmt
}

// querySettings runs b, a query for some users' rows, into out. Another
// attempt after a lost connection starts over for those users only.
func (s *Store) querySettings(ctx context.Context, b statement, users []string, out map[string][]notifications.SettingRow) error {
	return s.read(ctx, func() error {
		for _, u := range users {
			delete(out, u)
		}
		rows, err := s.query(ctx, s.db, b)
		if err != nil {
			return err
		}
		return scanSettings(rows, out)
	})
}

// scanSettings reads rows of user, channel, origin, topic, enabled into
// out and closes rows.
func scanSettings(rows *sql.Rows, out map[string][]notifications.SettingRow) error {
	defer rows.Close()
	for rows.Next() {
		var (
			user  string
			r     notifications.SettingRow
			topic sql.NullString
		)
		if err := rows.Scan(&user, &r.Channel, &r.Origin, &topic, &r.Enabled); err != nil {
			return err
		}
		r.Topic = topic.String
		out[user] = append(out[user], r)
	}
	return rows.Err()
}

func uniqueStrings(ss []string) []string {
	seen := make(map[string]struct{}, len(ss))
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if _, ok := seen[s]; !ok {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}

// ReplaceSettings implements notifications.Store: UpdateSettings with
// rows only, the quiet hours left alone.
func (s *Store) ReplaceSettings(ctx context.Context, user string, rows []notifications.SettingRow) error {
	return s.UpdateSettings(ctx, user, notifications.SettingsUpdate{Rows: rows})
}

// UpdateSettings implements notifications.Store. Two rows with the same
// channel, origin and topic, or quiet hours with an empty field (other
// than the zero QuietHours, which removes them), are refused with
// notifications.ErrInvalid before anything is written. The quiet hours'
// format is the Service's to check: the store keeps the text as given.
func (s *Store) UpdateSettings(ctx context.Context, user string, u notifications.SettingsUpdate) error {
	rows := u.Rows
	type key struct{ channel, origin, topic string }
	seen := make(map[key]struct{}, len(rows))
	for _, r := range rows {
		k := key{r.Channel, r.Origin, r.Topic}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("store: update settings: %w: duplicate row for channel %q, origin %q, topic %q",
				notifications.ErrInvalid, r.Channel, r.Origin, r.Topic)
		}
		seen[k] = struct{}{}
	}
	var quiet *stmt
	if q := u.QuietHours; q != nil {
		quiet = newStmt(s.d, 192)
		switch {
		case q.IsZero():
			quiet.raw(`DELETE FROM user_quiet_hours WHERE "user" = `).str(user)
		case q.Start == "" || q.End == "" || q.TimeZone == "":
			return fmt.Errorf("store: update settings: %w: quiet hours need a start, an end and a time zone", notifications.ErrInvalid)
		default:
			quiet.raw(`INSERT INTO user_quiet_hours ("user", start, "end", time_zone) VALUES (`).str(user).raw(", ").str(q.Start).
				raw(", ").str(q.End).raw(", ").str(q.TimeZone).
				raw(`) ON CONFLICT ("user") DO UPDATE SET start = excluded.start, "end" = excluded."end", time_zone = excluded.time_zone`)
		}
	}
	lock := newStmt(s.d, 96)
	s.d.lockUserSettings(lock, user)
	del := newStmt(s.d, 64)
	del.raw(`DELETE FROM user_settings WHERE "user" = `).str(user)
	var inserts []*stmt
	for chunk := range slices.Chunk(rows, maxBatchRows) {
		b := newStmt(s.d, 96+len(chunk)*16)
		b.raw(`INSERT INTO user_settings ("user", channel, origin, topic, enabled) VALUES `)
		for i, r := range chunk {
			if i > 0 {
				b.raw(", ")
			}
			b.raw("(").str(user).raw(", ").str(r.Channel).raw(", ").str(r.Origin).raw(", ").optStr(r.Topic).
				raw(", ").bool(r.Enabled).raw(")")
		}
		inserts = append(inserts, b)
	}
	if quiet != nil {
		inserts = append(inserts, quiet)
	}
	err := s.inTx(ctx, func(tx bun.Tx) error {
		if len(lock.b) > 0 {
			if err := s.exec(ctx, tx, lock); err != nil {
				return err
			}
		}
		if err := s.exec(ctx, tx, del); err != nil {
			return err
		}
		for _, b := range inserts {
			if err := s.exec(ctx, tx, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: update settings: %w", err)
	}
	return nil
}

// QuietHours implements notifications.Store, one query per 500 users.
func (s *Store) QuietHours(ctx context.Context, users []string) (map[string]notifications.QuietHours, error) {
	out := map[string]notifications.QuietHours{}
	for chunk := range slices.Chunk(uniqueStrings(users), settingsChunk) {
		b := newStmt(s.d, 128)
		b.raw(`SELECT "user", start, "end", time_zone FROM user_quiet_hours WHERE "user" IN `).strList(chunk)
		err := s.read(ctx, func() error {
			for _, u := range chunk {
				delete(out, u)
			}
			rows, err := s.query(ctx, s.db, b)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					user string
					q    notifications.QuietHours
				)
				if err := rows.Scan(&user, &q.Start, &q.End, &q.TimeZone); err != nil {
					return err
				}
				out[user] = q
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("store: quiet hours: %w", err)
		}
	}
	return out, nil
}
