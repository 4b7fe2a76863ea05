-- Durable delivery. One herald_send row per send that has deliveries: the
-- canonical options the post-processors get, even after a restart.
CREATE TABLE herald_send (
    id              uuid        NOT NULL PRIMARY KEY,
    origin          text        NOT NULL,
    options         jsonb       NOT NULL,
    trace_parent    text,
    idempotency_key text,
    request_hash    text,
    created         timestamptz NOT NULL DEFAULT now()
);
--bun:split
-- One key per origin; sends without a key are not in the index.
CREATE UNIQUE INDEX herald_send_idempotency_idx ON herald_send (origin, idempotency_key) WHERE idempotency_key IS NOT NULL;
--bun:split
-- Retention of sends no delivery refers to any more.
CREATE INDEX herald_send_created_idx ON herald_send (created);
--bun:split
-- One row per (notification, post-processor). notification_id has no
-- foreign key: it may name a broadcast, or a notification never stored
-- (its user turned the in-app channel off; snapshot holds it then).
-- send_id has none either, on purpose: a delivery is only ever written
-- in its send's transaction, and a send is deleted only once no delivery
-- refers to it (and none can come to: a re-send moves a delivery to the
-- new send), so the constraint could never fire, yet it would cost a check
-- per delivery row, a trigger per row on PostgreSQL: a fifth of a
-- 10,000-recipient fan-out. A lease is a lease_token with next_attempt in
-- the future, so "due" is one range of delivery_due_idx.
CREATE TABLE delivery (
    id              uuid        NOT NULL PRIMARY KEY,
    send_id         uuid        NOT NULL,
    notification_id uuid        NOT NULL,
    broadcast       boolean     NOT NULL DEFAULT false,
    "user"          text        NOT NULL DEFAULT '',
    processor       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt    timestamptz,
    lease_token     text,
    lease_owner     text,
    generation      integer     NOT NULL DEFAULT 0,
    snapshot        jsonb,
    created         timestamptz NOT NULL,
    updated         timestamptz NOT NULL
);
--bun:split
-- At most one active delivery per (notification, processor): the target
-- of a scoped re-send's upsert, so attempts for one pair never overlap.
CREATE UNIQUE INDEX delivery_active_idx ON delivery (notification_id, processor) WHERE status IN ('pending', 'retrying');
--bun:split
-- The claim query: due deliveries, oldest next_attempt first.
CREATE INDEX delivery_due_idx ON delivery (next_attempt) WHERE status IN ('pending', 'retrying');
--bun:split
-- A notification's finished deliveries, for listing them and deleting
-- them with it; its active ones are found through delivery_active_idx.
-- Partial, so a send's new (pending) deliveries cost it nothing.
CREATE INDEX delivery_notification_idx ON delivery (notification_id) WHERE status IN ('sent', 'failed', 'cancelled');
--bun:split
-- Retention of finished deliveries.
CREATE INDEX delivery_finished_idx ON delivery (updated) WHERE status IN ('sent', 'failed', 'cancelled');
--bun:split
-- The newest-first listing, read backwards: ascending, a send's new
-- deliveries (inserted in id order) go at the index's end.
CREATE INDEX delivery_created_idx ON delivery (created, id);
--bun:split
-- Finding the sends no delivery refers to any more.
CREATE INDEX delivery_send_idx ON delivery (send_id);
