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
-- row has every count 0.
CREATE TABLE inbox_count (
    "user"       TEXT    NOT NULL PRIMARY KEY,
    visible      INTEGER NOT NULL DEFAULT 0,
    unread       INTEGER NOT NULL DEFAULT 0,
    saved        INTEGER NOT NULL DEFAULT 0,
    unseen       INTEGER NOT NULL DEFAULT 0,
    b_hidden     INTEGER NOT NULL DEFAULT 0,
    b_not_unread INTEGER NOT NULL DEFAULT 0,
    b_read       INTEGER NOT NULL DEFAULT 0,
    b_saved      INTEGER NOT NULL DEFAULT 0,
    b_not_unseen INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
--bun:split
-- The number of broadcast rows, in one row (id 1): SQLite runs one
-- writer at a time, so writers never wait on it (PostgreSQL spreads it
-- over 16 rows).
CREATE TABLE broadcast_count (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
--bun:split
-- The rows already stored. SQLite runs one writer at a time and the
-- migration holds the write lock (BEGIN IMMEDIATE) from its start, so no
-- write falls between these counts and the triggers.
INSERT INTO broadcast_count (id, n) SELECT 1, COUNT(*) FROM broadcast;
--bun:split
INSERT INTO inbox_count ("user", visible, unread, saved, unseen, b_hidden, b_not_unread, b_read, b_saved, b_not_unseen)
SELECT "user", SUM(visible), SUM(unread), SUM(saved), SUM(unseen), SUM(b_hidden), SUM(b_not_unread), SUM(b_read), SUM(b_saved), SUM(b_not_unseen)
FROM (
    SELECT "user",
        archived IS NULL AND snoozed_until IS NULL AS visible,
        archived IS NULL AND snoozed_until IS NULL AND read IS NULL AS unread,
        archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL AS saved,
        archived IS NULL AND snoozed_until IS NULL AND seen IS NULL AND read IS NULL AS unseen,
        0 AS b_hidden, 0 AS b_not_unread, 0 AS b_read, 0 AS b_saved, 0 AS b_not_unseen
    FROM notification
    UNION ALL
    SELECT "user", 0, 0, 0, 0,
        archived IS NOT NULL OR snoozed_until IS NOT NULL,
        read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL,
        archived IS NULL AND snoozed_until IS NULL AND read IS NOT NULL,
        archived IS NULL AND snoozed_until IS NULL AND saved IS NOT NULL,
        seen IS NOT NULL OR read IS NOT NULL OR archived IS NOT NULL OR snoozed_until IS NOT NULL
    FROM broadcast_user_status
)
GROUP BY "user";
--bun:split
-- Row triggers: the delta of one row is f(NEW) - f(OLD), each term a 0
-- or 1 (a comparison), and a change that moves no count (a second read,
-- a seen on a read row, a change time) is skipped by the WHEN. The
-- INSERT triggers upsert, since the user may have no row yet; an UPDATE
-- or DELETE of a row that counted finds the row its INSERT made. A
-- hidden row inserted (an import) counts nowhere and is skipped.
-- Rows never change user.
CREATE TRIGGER notification_count_insert AFTER INSERT ON notification
WHEN NEW.archived IS NULL AND NEW.snoozed_until IS NULL
BEGIN
    INSERT INTO inbox_count ("user", visible, unread, saved, unseen)
    VALUES (NEW."user", 1, NEW.read IS NULL, NEW.saved IS NOT NULL, NEW.seen IS NULL AND NEW.read IS NULL)
    ON CONFLICT ("user") DO UPDATE SET
        visible = visible + 1,
        unread = unread + excluded.unread,
        saved = saved + excluded.saved,
        unseen = unseen + excluded.unseen;
END;
--bun:split
CREATE TRIGGER notification_count_update AFTER UPDATE OF read, saved, seen, archived, snoozed_until ON notification
WHEN (OLD.archived IS NULL AND OLD.snoozed_until IS NULL) != (NEW.archived IS NULL AND NEW.snoozed_until IS NULL)
    OR (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.read IS NULL) != (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.read IS NULL)
    OR (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.saved IS NOT NULL) != (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.saved IS NOT NULL)
    OR (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.seen IS NULL AND OLD.read IS NULL) != (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.seen IS NULL AND NEW.read IS NULL)
BEGIN
    INSERT INTO inbox_count ("user", visible, unread, saved, unseen)
    VALUES (NEW."user",
        (NEW.archived IS NULL AND NEW.snoozed_until IS NULL) - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL),
        (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.read IS NULL) - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.read IS NULL),
        (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.saved IS NOT NULL) - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.saved IS NOT NULL),
        (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.seen IS NULL AND NEW.read IS NULL) - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.seen IS NULL AND OLD.read IS NULL))
    ON CONFLICT ("user") DO UPDATE SET
        visible = visible + excluded.visible,
        unread = unread + excluded.unread,
        saved = saved + excluded.saved,
        unseen = unseen + excluded.unseen;
END;
--bun:split
CREATE TRIGGER notification_count_delete AFTER DELETE ON notification
WHEN OLD.archived IS NULL AND OLD.snoozed_until IS NULL
BEGIN
    UPDATE inbox_count SET
        visible = visible - 1,
        unread = unread - (OLD.read IS NULL),
        saved = saved - (OLD.saved IS NOT NULL),
        unseen = unseen - (OLD.seen IS NULL AND OLD.read IS NULL)
    WHERE "user" = OLD."user";
END;
--bun:split
-- A status row that is all NULLs (a mark undone) counts as no row.
CREATE TRIGGER broadcast_user_status_count_insert AFTER INSERT ON broadcast_user_status
WHEN NEW.read IS NOT NULL OR NEW.saved IS NOT NULL OR NEW.seen IS NOT NULL OR NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL
BEGIN
    INSERT INTO inbox_count ("user", b_hidden, b_not_unread, b_read, b_saved, b_not_unseen)
    VALUES (NEW."user",
        NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL,
        NEW.read IS NOT NULL OR NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL,
        NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.read IS NOT NULL,
        NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.saved IS NOT NULL,
        NEW.seen IS NOT NULL OR NEW.read IS NOT NULL OR NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL)
    ON CONFLICT ("user") DO UPDATE SET
        b_hidden = b_hidden + excluded.b_hidden,
        b_not_unread = b_not_unread + excluded.b_not_unread,
        b_read = b_read + excluded.b_read,
        b_saved = b_saved + excluded.b_saved,
        b_not_unseen = b_not_unseen + excluded.b_not_unseen;
END;
--bun:split
CREATE TRIGGER broadcast_user_status_count_update AFTER UPDATE OF read, saved, seen, archived, snoozed_until ON broadcast_user_status
WHEN (OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL) != (NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL)
    OR (OLD.read IS NOT NULL OR OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL) != (NEW.read IS NOT NULL OR NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL)
    OR (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.read IS NOT NULL) != (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.read IS NOT NULL)
    OR (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.saved IS NOT NULL) != (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.saved IS NOT NULL)
    OR (OLD.seen IS NOT NULL OR OLD.read IS NOT NULL OR OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL) != (NEW.seen IS NOT NULL OR NEW.read IS NOT NULL OR NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL)
BEGIN
    INSERT INTO inbox_count ("user", b_hidden, b_not_unread, b_read, b_saved, b_not_unseen)
    VALUES (NEW."user",
        (NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL) - (OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL),
        (NEW.read IS NOT NULL OR NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL) - (OLD.read IS NOT NULL OR OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL),
        (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.read IS NOT NULL) - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.read IS NOT NULL),
        (NEW.archived IS NULL AND NEW.snoozed_until IS NULL AND NEW.saved IS NOT NULL) - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.saved IS NOT NULL),
        (NEW.seen IS NOT NULL OR NEW.read IS NOT NULL OR NEW.archived IS NOT NULL OR NEW.snoozed_until IS NOT NULL) - (OLD.seen IS NOT NULL OR OLD.read IS NOT NULL OR OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL))
    ON CONFLICT ("user") DO UPDATE SET
        b_hidden = b_hidden + excluded.b_hidden,
        b_not_unread = b_not_unread + excluded.b_not_unread,
        b_read = b_read + excluded.b_read,
        b_saved = b_saved + excluded.b_saved,
        b_not_unseen = b_not_unseen + excluded.b_not_unseen;
END;
--bun:split
-- Fired for the rows the ON DELETE CASCADE of a deleted broadcast
-- removes too (retention): SQLite runs foreign key actions as triggers,
-- which fire the child table's own.
CREATE TRIGGER broadcast_user_status_count_delete AFTER DELETE ON broadcast_user_status
WHEN OLD.read IS NOT NULL OR OLD.saved IS NOT NULL OR OLD.seen IS NOT NULL OR OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL
BEGIN
    UPDATE inbox_count SET
        b_hidden = b_hidden - (OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL),
        b_not_unread = b_not_unread - (OLD.read IS NOT NULL OR OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL),
        b_read = b_read - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.read IS NOT NULL),
        b_saved = b_saved - (OLD.archived IS NULL AND OLD.snoozed_until IS NULL AND OLD.saved IS NOT NULL),
        b_not_unseen = b_not_unseen - (OLD.seen IS NOT NULL OR OLD.read IS NOT NULL OR OLD.archived IS NOT NULL OR OLD.snoozed_until IS NOT NULL)
    WHERE "user" = OLD."user";
END;
--bun:split
CREATE TRIGGER broadcast_count_insert AFTER INSERT ON broadcast
BEGIN
    UPDATE broadcast_count SET n = n + 1 WHERE id = 1;
END;
--bun:split
CREATE TRIGGER broadcast_count_delete AFTER DELETE ON broadcast
BEGIN
    UPDATE broadcast_count SET n = n - 1 WHERE id = 1;
END;
