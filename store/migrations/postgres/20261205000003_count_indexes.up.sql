-- The saved view: a user's saved notifications in the inbox's order, so
-- that its count is an index-only scan of this index (and its page stops
-- after a page) rather than a fetch of every row of the user's to test
-- saved. Partial: most rows are never saved.
CREATE INDEX notification_saved_idx ON notification ("user", created DESC, id) WHERE saved IS NOT NULL;
--bun:split
-- A user's read broadcasts, the term every unread count subtracts: an
-- index-only count, the visibility columns included so that the count of
-- the visible read ones (archived and snoozed_until NULL) needs no heap
-- fetch either. The key (user, broadcast_id) alone would fetch every
-- status row to test read.
CREATE INDEX broadcast_user_status_read_idx ON broadcast_user_status ("user") INCLUDE (broadcast_id, archived, snoozed_until) WHERE read IS NOT NULL;
