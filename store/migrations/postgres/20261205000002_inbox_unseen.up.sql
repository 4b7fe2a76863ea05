-- Reading implies seeing, also for rows stored read (an import) and for
-- reads from before seen existed: a row is unseen iff seen IS NULL AND
-- read IS NULL. The unseen badge's index says so, term for term as the
-- queries write it (store/query.go).
DROP INDEX notification_unseen_idx;
--bun:split
CREATE INDEX notification_unseen_idx ON notification ("user")
WHERE seen IS NULL AND read IS NULL AND archived IS NULL AND snoozed_until IS NULL;
