-- Inbox states beyond Backstage, for a user's notifications and each
-- user's state of a broadcast: seen (the client showed it; reading
-- implies it), archived, snoozed_until (hidden until then; the waker
-- clears it, and read and seen with it) and changed, the time of the
-- last state change (read, unread, saved, unsaved, seen, archived,
-- snoozed, un-snoozed), which ChangedSince compares besides created and
-- updated. All nullable timestamptz, like the other times.
--
-- A row is hidden iff archived IS NOT NULL OR snoozed_until IS NOT NULL;
-- the partial indexes below spell that predicate (and its negation) the
-- way the queries write it (store/query.go), as on SQLite, which uses a
-- partial index only for a query that repeats its WHERE terms.
ALTER TABLE notification ADD COLUMN seen timestamptz;
--bun:split
ALTER TABLE notification ADD COLUMN archived timestamptz;
--bun:split
ALTER TABLE notification ADD COLUMN snoozed_until timestamptz;
--bun:split
ALTER TABLE notification ADD COLUMN changed timestamptz;
--bun:split
ALTER TABLE broadcast_user_status ADD COLUMN seen timestamptz;
--bun:split
ALTER TABLE broadcast_user_status ADD COLUMN archived timestamptz;
--bun:split
ALTER TABLE broadcast_user_status ADD COLUMN snoozed_until timestamptz;
--bun:split
ALTER TABLE broadcast_user_status ADD COLUMN changed timestamptz;
--bun:split
-- What was read before seen existed was seen; the last read or save is
-- the last state change.
UPDATE notification SET seen = read, changed = GREATEST(read, saved)
WHERE read IS NOT NULL OR saved IS NOT NULL;
--bun:split
UPDATE broadcast_user_status SET seen = read, changed = GREATEST(read, saved)
WHERE read IS NOT NULL OR saved IS NOT NULL;
--bun:split
-- The unseen badge: a count off this index alone.
CREATE INDEX notification_unseen_idx ON notification ("user")
WHERE seen IS NULL AND archived IS NULL AND snoozed_until IS NULL;
--bun:split
-- The hidden rows, usually few: what counts subtract and what an
-- archived view reads.
CREATE INDEX notification_hidden_idx ON notification ("user", read, created DESC, id)
WHERE archived IS NOT NULL OR snoozed_until IS NOT NULL;
--bun:split
-- The snooze waker: what is due.
CREATE INDEX notification_snoozed_idx ON notification (snoozed_until) WHERE snoozed_until IS NOT NULL;
--bun:split
CREATE INDEX broadcast_user_status_snoozed_idx ON broadcast_user_status (snoozed_until) WHERE snoozed_until IS NOT NULL;
