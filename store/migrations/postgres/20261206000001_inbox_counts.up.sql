-- Maintained inbox counts: the common views' counts (all, unread, read,
-- saved, unsaved, unseen, with the broadcasts; Status) read one row per
-- user and one global row, where counting the inbox off its indexes took
-- 30 to 320 ms at 1,000,000 rows (BenchmarkCountSize). Triggers keep
-- them, in the transaction of the write itself, so that every write path
-- (sends, scoped re-sends, state changes, the snooze waker, retention and
-- its ON DELETE CASCADE) keeps them exact with no Go code that could
-- forget one. Visible means archived IS NULL AND snoozed_until IS NULL,
-- the visibility rule of store/query.go.
--
-- inbox_count, per user: from the user's own notifications, the visible
-- ones (visible), the visible unread (unread), the visible saved (saved)
-- and the visible unseen, neither seen nor read (unseen: reading implies
-- seeing); from the user's broadcast_user_status rows (a broadcast with
-- no status row is visible, unread, unsaved and unseen, so it counts
-- through broadcast_count alone): the hidden (b_hidden), the read or
-- hidden (b_not_unread), the visible read (b_read), the visible saved
-- (b_saved) and the seen, read or hidden (b_not_unseen). A user with no
-- row has every count 0. Fillfactor 50 here and below: every write
-- updates a row, and free room on its page lets the new version stay on
-- the page (a HOT update) without an index entry of its own.
CREATE TABLE inbox_count (
    "user"       text   NOT NULL PRIMARY KEY,
    visible      bigint NOT NULL DEFAULT 0,
    unread       bigint NOT NULL DEFAULT 0,
    saved        bigint NOT NULL DEFAULT 0,
    unseen       bigint NOT NULL DEFAULT 0,
    b_hidden     bigint NOT NULL DEFAULT 0,
    b_not_unread bigint NOT NULL DEFAULT 0,
    b_read       bigint NOT NULL DEFAULT 0,
    b_saved      bigint NOT NULL DEFAULT 0,
    b_not_unseen bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 50);
--bun:split
-- The number of broadcast rows: the sum of n over 16 rows (id 0 to 15).
-- Every broadcast send and retention of broadcasts updates one of them,
-- chosen by the writer's backend (pg_backend_pid), and holds its lock
-- until commit: with a single row, concurrent broadcast sends waited for
-- each other's commit one at a time (BenchmarkConcurrentWrites: a third
-- of the sends/s); with 16, writers on different connections rarely
-- share one. A row's n may go negative (a broadcast counted in one row
-- deleted through another); the sum is exact.
CREATE TABLE broadcast_count (
    id integer NOT NULL PRIMARY KEY CHECK (id BETWEEN 0 AND 15),
    n  bigint  NOT NULL
) WITH (fillfactor = 50);
--bun:split
-- Statement triggers with transition tables: one aggregated upsert per
-- statement, however many rows it wrote, so a fan-out of 10,000 rows is
-- one more statement, not 10,000. Users whose deltas are all zero are
-- skipped (WHERE, HAVING); the rows are upserted in "user" order, so
-- that two statements lock the counters they share in the same order
-- (no deadlock between two fan-outs to overlapping users; a deadlock
-- across several statements of two transactions is rolled back by the
-- server and the transaction retried, see postgresDialect.failure). An
-- UPDATE's delta is its new rows counted less its old ones, grouped by
-- user. INSERT ... ON CONFLICT DO UPDATE fires both the INSERT trigger
-- (the rows it inserted) and the UPDATE trigger (the rows it updated).
-- A deleted broadcast's status rows go by its ON DELETE CASCADE, a
-- DELETE statement of its own on broadcast_user_status, which fires
-- broadcast_user_status_count_delete.
CREATE FUNCTION herald_notification_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO inbox_count AS c ("user", visible, unread, saved, unseen)
        SELECT "user", count(*), count(*) FILTER (WHERE read IS NULL), count(*) FILTER (WHERE saved IS NOT NULL),
            count(*) FILTER (WHERE seen IS NULL AND read IS NULL)
        FROM herald_new WHERE archived IS NULL AND snoozed_until IS NULL
        GROUP BY "user" ORDER BY "user"
        ON CONFLICT ("user") DO UPDATE SET visible = c.visible + excluded.visible, unread = c.unread + excluded.unread,
            saved = c.saved + excluded.saved, unseen = c.unseen + excluded.unseen;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO inbox_count AS c ("user", visible, unread, saved, unseen)
        SELECT "user", sum(visible), sum(unread), sum(saved), sum(unseen)
        FROM (
            SELECT "user", 1 AS visible, (read IS NULL)::int AS unread, (saved IS NOT NULL)::int AS saved,
                (seen IS NULL AND read IS NULL)::int AS unseen
            FROM herald_new WHERE archived IS NULL AND snoozed_until IS NULL
            UNION ALL
            SELECT "user", -1, -(read IS NULL)::int, -(saved IS NOT NULL)::int, -(seen IS NULL AND read IS NULL)::int
            FROM herald_old WHERE archived IS NULL AND snoozed_until IS NULL
        ) d
        GROUP BY "user" HAVING sum(visible) <> 0 OR sum(unread) <> 0 OR sum(saved) <> 0 OR sum(unseen) <> 0 ORDER BY "user"
        ON CONFLICT ("user") DO UPDATE SET visible = c.visible + excluded.visible, unread = c.unread + excluded.unread,
            saved = c.saved + excluded.saved, unseen = c.unseen + excluded.unseen;
    ELSE
        INSERT INTO inbox_count AS c ("user", visible, unread, saved, unseen)
        SELECT "user", -count(*), -count(*) FILTER (WHERE read IS NULL), -count(*) FILTER (WHERE saved IS NOT NULL),
            -count(*) FILTER (WHERE seen IS NULL AND read IS NULL)
        FROM herald_old WHERE archived IS NULL AND snoozed_until IS NULL
        GROUP BY "user" ORDER BY "user"
        ON CONFLICT ("user") DO UPDATE SET visible = c.visible + excluded.visible, unread = c.unread + excluded.unread,
            saved = c.saved + excluded.saved, unseen = c.unseen + excluded.unseen;
    END IF;
    RETURN NULL;
END
$$;
--bun:split
-- A status row's terms; a row that is all NULLs (a mark undone) has all
-- of them 0, as a missing row does.
CREATE FUNCTION herald_broadcast_user_status_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO inbox_count AS c ("user", b_hidden, b_not_unread, b_read, b_saved, b_not_unseen)
        SELECT "user",
            count(*) FILTER (WHERE archived IS NOT NULL OR snoozed_until IS NOT NULL),
            count(*) FILTER (WHERE read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL),
            count(*) FILTER (WHERE archived IS NULL AND snoozed_until IS NULL AND read IS NOT NULL),
            count(*) FILTER (WHERE archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL),
            count(*) FILTER (WHERE seen IS NOT NULL OR read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)
        FROM herald_new
        WHERE read IS NOT NULL OR saved IS NOT NULL OR seen IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL
        GROUP BY "user" ORDER BY "user"
        ON CONFLICT ("user") DO UPDATE SET b_hidden = c.b_hidden + excluded.b_hidden,
            b_not_unread = c.b_not_unread + excluded.b_not_unread, b_read = c.b_read + excluded.b_read,
            b_saved = c.b_saved + excluded.b_saved, b_not_unseen = c.b_not_unseen + excluded.b_not_unseen;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO inbox_count AS c ("user", b_hidden, b_not_unread, b_read, b_saved, b_not_unseen)
        SELECT "user", sum(h), sum(nu), sum(r), sum(s), sum(ns)
        FROM (
            SELECT "user",
                (archived IS NOT NULL OR snoozed_until IS NOT NULL)::int AS h,
                (read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)::int AS nu,
                (archived IS NULL AND snoozed_until IS NULL AND read IS NOT NULL)::int AS r,
                (archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL)::int AS s,
                (seen IS NOT NULL OR read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)::int AS ns
            FROM herald_new
            UNION ALL
            SELECT "user",
                -(archived IS NOT NULL OR snoozed_until IS NOT NULL)::int,
                -(read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)::int,
                -(archived IS NULL AND snoozed_until IS NULL AND read IS NOT NULL)::int,
                -(archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL)::int,
                -(seen IS NOT NULL OR read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)::int
            FROM herald_old
        ) d
        GROUP BY "user" HAVING sum(h) <> 0 OR sum(nu) <> 0 OR sum(r) <> 0 OR sum(s) <> 0 OR sum(ns) <> 0 ORDER BY "user"
        ON CONFLICT ("user") DO UPDATE SET b_hidden = c.b_hidden + excluded.b_hidden,
            b_not_unread = c.b_not_unread + excluded.b_not_unread, b_read = c.b_read + excluded.b_read,
            b_saved = c.b_saved + excluded.b_saved, b_not_unseen = c.b_not_unseen + excluded.b_not_unseen;
    ELSE
        INSERT INTO inbox_count AS c ("user", b_hidden, b_not_unread, b_read, b_saved, b_not_unseen)
        SELECT "user",
            -count(*) FILTER (WHERE archived IS NOT NULL OR snoozed_until IS NOT NULL),
            -count(*) FILTER (WHERE read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL),
            -count(*) FILTER (WHERE archived IS NULL AND snoozed_until IS NULL AND read IS NOT NULL),
            -count(*) FILTER (WHERE archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL),
            -count(*) FILTER (WHERE seen IS NOT NULL OR read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)
        FROM herald_old
        WHERE read IS NOT NULL OR saved IS NOT NULL OR seen IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL
        GROUP BY "user" ORDER BY "user"
        ON CONFLICT ("user") DO UPDATE SET b_hidden = c.b_hidden + excluded.b_hidden,
            b_not_unread = c.b_not_unread + excluded.b_not_unread, b_read = c.b_read + excluded.b_read,
            b_saved = c.b_saved + excluded.b_saved, b_not_unseen = c.b_not_unseen + excluded.b_not_unseen;
    END IF;
    RETURN NULL;
END
$$;
--bun:split
CREATE FUNCTION herald_broadcast_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE broadcast_count SET n = n + (SELECT count(*) FROM herald_new) WHERE id = pg_backend_pid() % 16 AND EXISTS (SELECT 1 FROM herald_new);
    ELSE
        UPDATE broadcast_count SET n = n - (SELECT count(*) FROM herald_old) WHERE id = pg_backend_pid() % 16 AND EXISTS (SELECT 1 FROM herald_old);
    END IF;
    RETURN NULL;
END
$$;
--bun:split
-- The triggers first, then the counts of what is stored: CREATE TRIGGER
-- locks its table against writes (SHARE ROW EXCLUSIVE) until the
-- migration commits, so a write of another instance either committed
-- before the counts below read the table, or waits and then fires the
-- triggers.
CREATE TRIGGER notification_count_insert AFTER INSERT ON notification
REFERENCING NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_notification_count();
--bun:split
CREATE TRIGGER notification_count_update AFTER UPDATE ON notification
REFERENCING OLD TABLE AS herald_old NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_notification_count();
--bun:split
CREATE TRIGGER notification_count_delete AFTER DELETE ON notification
REFERENCING OLD TABLE AS herald_old FOR EACH STATEMENT EXECUTE FUNCTION herald_notification_count();
--bun:split
CREATE TRIGGER broadcast_user_status_count_insert AFTER INSERT ON broadcast_user_status
REFERENCING NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_broadcast_user_status_count();
--bun:split
CREATE TRIGGER broadcast_user_status_count_update AFTER UPDATE ON broadcast_user_status
REFERENCING OLD TABLE AS herald_old NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_broadcast_user_status_count();
--bun:split
CREATE TRIGGER broadcast_user_status_count_delete AFTER DELETE ON broadcast_user_status
REFERENCING OLD TABLE AS herald_old FOR EACH STATEMENT EXECUTE FUNCTION herald_broadcast_user_status_count();
--bun:split
CREATE TRIGGER broadcast_count_insert AFTER INSERT ON broadcast
REFERENCING NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_broadcast_count();
--bun:split
CREATE TRIGGER broadcast_count_delete AFTER DELETE ON broadcast
REFERENCING OLD TABLE AS herald_old FOR EACH STATEMENT EXECUTE FUNCTION herald_broadcast_count();
--bun:split
-- TRUNCATE fires no DELETE trigger; it empties whole tables, so it
-- zeroes the counts that came from them.
CREATE FUNCTION herald_truncate_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'notification' THEN
        UPDATE inbox_count SET visible = 0, unread = 0, saved = 0, unseen = 0;
    ELSIF TG_TABLE_NAME = 'broadcast_user_status' THEN
        UPDATE inbox_count SET b_hidden = 0, b_not_unread = 0, b_read = 0, b_saved = 0, b_not_unseen = 0;
    ELSE
        UPDATE broadcast_count SET n = 0;
    END IF;
    RETURN NULL;
END
$$;
--bun:split
CREATE TRIGGER notification_count_truncate AFTER TRUNCATE ON notification
FOR EACH STATEMENT EXECUTE FUNCTION herald_truncate_count();
--bun:split
CREATE TRIGGER broadcast_user_status_count_truncate AFTER TRUNCATE ON broadcast_user_status
FOR EACH STATEMENT EXECUTE FUNCTION herald_truncate_count();
--bun:split
CREATE TRIGGER broadcast_count_truncate AFTER TRUNCATE ON broadcast
FOR EACH STATEMENT EXECUTE FUNCTION herald_truncate_count();
--bun:split
INSERT INTO broadcast_count (id, n) SELECT i, CASE WHEN i = 0 THEN (SELECT count(*) FROM broadcast) ELSE 0 END FROM generate_series(0, 15) i;
--bun:split
INSERT INTO inbox_count ("user", visible, unread, saved, unseen, b_hidden, b_not_unread, b_read, b_saved, b_not_unseen)
SELECT "user", sum(visible), sum(unread), sum(saved), sum(unseen), sum(b_hidden), sum(b_not_unread), sum(b_read), sum(b_saved), sum(b_not_unseen)
FROM (
    SELECT "user",
        (archived IS NULL AND snoozed_until IS NULL)::int AS visible,
        (archived IS NULL AND snoozed_until IS NULL AND read IS NULL)::int AS unread,
        (archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL)::int AS saved,
        (archived IS NULL AND snoozed_until IS NULL AND seen IS NULL AND read IS NULL)::int AS unseen,
        0 AS b_hidden, 0 AS b_not_unread, 0 AS b_read, 0 AS b_saved, 0 AS b_not_unseen
    FROM notification
    UNION ALL
    SELECT "user", 0, 0, 0, 0,
        (archived IS NOT NULL OR snoozed_until IS NOT NULL)::int,
        (read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)::int,
        (archived IS NULL AND snoozed_until IS NULL AND read IS NOT NULL)::int,
        (archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL)::int,
        (seen IS NOT NULL OR read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL)::int
    FROM broadcast_user_status
) d
GROUP BY "user";
