-- Reading implies seeing, also for rows stored read (an import) and for
-- reads from before seen existed: a row is unseen iff seen IS NULL AND
-- read IS NULL. The unseen badge's index says so, term for term as the
-- queries write it (store/query.go), its columns the terms' own, so that
-- SQLite prefers it to the inbox index for the unseen count.
DROP INDEX notification_unseen_idx;
--bun:split
CREATE INDEX notification_unseen_idx ON notification ("user", read, seen)
WHERE seen IS NULL AND read IS NULL AND archived IS NULL AND snoozed_until IS NULL;
