-- The saved view: a user's saved notifications in the inbox's order, so
-- that its count reads this index alone (and its page stops after a
-- page) rather than every row of the user's to test saved. Partial: most
-- rows are never saved. SQLite uses it for a query whose WHERE repeats
-- saved IS NOT NULL, as the saved view's does.
CREATE INDEX notification_saved_idx ON notification ("user", created DESC, id) WHERE saved IS NOT NULL;
