-- Herald's schema on SQLite. Times are INTEGER milliseconds since the Unix
-- epoch (UTC): exact, compact, and compared and ordered as plain integers.
-- Empty optional strings are stored as NULL.
CREATE TABLE notification (
    id          TEXT    NOT NULL PRIMARY KEY,
    "user"      TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    description TEXT,
    severity    TEXT    NOT NULL,
    link        TEXT,
    origin      TEXT    NOT NULL,
    scope       TEXT,
    topic       TEXT,
    created     INTEGER NOT NULL,
    updated     INTEGER,
    read        INTEGER,
    saved       INTEGER,
    icon        TEXT,
    metadata    TEXT
);
--bun:split
-- The inbox: one user's unread (read IS NULL) or read page in created order.
CREATE INDEX notification_inbox_idx ON notification ("user", read, created DESC, id);
--bun:split
-- Scope de-duplication: the target of INSERT ... ON CONFLICT.
CREATE UNIQUE INDEX notification_scope_idx ON notification ("user", origin, scope) WHERE scope IS NOT NULL;
--bun:split
-- Retention: last change, as DeleteOlderThan compares it.
CREATE INDEX notification_changed_idx ON notification (COALESCE(updated, created));
--bun:split
CREATE TABLE broadcast (
    id          TEXT    NOT NULL PRIMARY KEY,
    title       TEXT    NOT NULL,
    description TEXT,
    severity    TEXT    NOT NULL,
    link        TEXT,
    origin      TEXT    NOT NULL,
    scope       TEXT,
    topic       TEXT,
    created     INTEGER NOT NULL,
    updated     INTEGER,
    icon        TEXT,
    metadata    TEXT
);
--bun:split
CREATE INDEX broadcast_created_idx ON broadcast (created DESC, id);
--bun:split
CREATE UNIQUE INDEX broadcast_scope_idx ON broadcast (origin, scope) WHERE scope IS NOT NULL;
--bun:split
CREATE INDEX broadcast_changed_idx ON broadcast (COALESCE(updated, created));
--bun:split
-- One user's read and saved state of one broadcast. The key leads with the
-- user, so a user's statuses are one range; the second index serves the
-- ON DELETE CASCADE.
CREATE TABLE broadcast_user_status (
    "user"       TEXT NOT NULL,
    broadcast_id TEXT NOT NULL REFERENCES broadcast (id) ON DELETE CASCADE,
    read         INTEGER,
    saved        INTEGER,
    PRIMARY KEY ("user", broadcast_id)
) WITHOUT ROWID;
--bun:split
CREATE INDEX broadcast_user_status_broadcast_idx ON broadcast_user_status (broadcast_id);
--bun:split
-- Settings rows; id (the rowid) keeps the order they were saved in.
CREATE TABLE user_settings (
    id      INTEGER PRIMARY KEY,
    "user"  TEXT    NOT NULL,
    channel TEXT    NOT NULL,
    origin  TEXT    NOT NULL,
    topic   TEXT,
    enabled INTEGER NOT NULL DEFAULT 1
);
--bun:split
CREATE UNIQUE INDEX user_settings_key_idx ON user_settings ("user", channel, origin, COALESCE(topic, ''));
--bun:split
-- The Slack processor's message timestamps, for threading scoped re-sends.
CREATE TABLE slack_message_timestamps (
    origin     TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    ts         TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (origin, scope, channel)
) WITHOUT ROWID;
--bun:split
CREATE INDEX slack_message_timestamps_created_at_idx ON slack_message_timestamps (created_at);
