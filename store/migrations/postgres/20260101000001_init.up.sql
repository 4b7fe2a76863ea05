-- Herald's schema on PostgreSQL. Text columns are text rather than
-- Backstage's varchar(255), so that a long topic or scope fails (or not)
-- the same way on every database; the service enforces the title limit.
-- Empty optional strings are stored as NULL.
CREATE TABLE notification (
    id          uuid        NOT NULL PRIMARY KEY,
    "user"      text        NOT NULL,
    title       text        NOT NULL,
    description text,
    severity    text        NOT NULL,
    link        text,
    origin      text        NOT NULL,
    scope       text,
    topic       text,
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz,
    read        timestamptz,
    saved       timestamptz,
    icon        text,
    metadata    jsonb
);
--bun:split
-- The inbox: one user's unread (read IS NULL) or read page in created order.
CREATE INDEX notification_inbox_idx ON notification ("user", read, created DESC, id);
--bun:split
-- Scope de-duplication: the target of INSERT ... ON CONFLICT.
CREATE UNIQUE INDEX notification_scope_idx ON notification ("user", origin, scope) WHERE scope IS NOT NULL;
--bun:split
-- Retention: last change, as DeleteOlderThan compares it.
CREATE INDEX notification_changed_idx ON notification ((COALESCE(updated, created)));
--bun:split
CREATE TABLE broadcast (
    id          uuid        NOT NULL PRIMARY KEY,
    title       text        NOT NULL,
    description text,
    severity    text        NOT NULL,
    link        text,
    origin      text        NOT NULL,
    scope       text,
    topic       text,
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz,
    icon        text,
    metadata    jsonb
);
--bun:split
CREATE INDEX broadcast_created_idx ON broadcast (created DESC, id);
--bun:split
CREATE UNIQUE INDEX broadcast_scope_idx ON broadcast (origin, scope) WHERE scope IS NOT NULL;
--bun:split
CREATE INDEX broadcast_changed_idx ON broadcast ((COALESCE(updated, created)));
--bun:split
-- One user's read and saved state of one broadcast. The key leads with the
-- user, so a user's statuses are one range; the second index serves the
-- ON DELETE CASCADE.
CREATE TABLE broadcast_user_status (
    "user"       text NOT NULL,
    broadcast_id uuid NOT NULL REFERENCES broadcast (id) ON DELETE CASCADE,
    read         timestamptz,
    saved        timestamptz,
    PRIMARY KEY ("user", broadcast_id)
);
--bun:split
CREATE INDEX broadcast_user_status_broadcast_idx ON broadcast_user_status (broadcast_id);
--bun:split
-- Settings rows; id keeps the order they were saved in.
CREATE TABLE user_settings (
    id      bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "user"  text    NOT NULL,
    channel text    NOT NULL,
    origin  text    NOT NULL,
    topic   text,
    enabled boolean NOT NULL DEFAULT true
);
--bun:split
CREATE UNIQUE INDEX user_settings_key_idx ON user_settings ("user", channel, origin, (COALESCE(topic, '')));
--bun:split
-- The Slack processor's message timestamps, for threading scoped re-sends.
CREATE TABLE slack_message_timestamps (
    origin     text        NOT NULL,
    scope      text        NOT NULL,
    channel    text        NOT NULL,
    ts         text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (origin, scope, channel)
);
--bun:split
CREATE INDEX slack_message_timestamps_created_at_idx ON slack_message_timestamps (created_at);
