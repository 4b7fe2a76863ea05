-- Idempotent sends: the result of a send with an idempotency key (the
-- notifications it returned, as JSON), so a replay returns the same ones
-- without reading the inbox, whatever happened to them since.
ALTER TABLE herald_send ADD COLUMN result jsonb;
--bun:split
-- Scheduled sends: the validated, canonical request, run through the whole
-- pipeline at "at". A waiting schedule is due when next_attempt (at, then a
-- retry's time, or a lease's end while one holds it) has passed, so "due"
-- is one range of herald_schedule_due_idx, as for deliveries.
CREATE TABLE herald_schedule (
    id              uuid        NOT NULL PRIMARY KEY,
    origin          text        NOT NULL,
    options         jsonb       NOT NULL,
    at              timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'waiting',
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt    timestamptz,
    lease_token     text,
    lease_owner     text,
    idempotency_key text,
    request_hash    text,
    send_id         uuid,
    created         timestamptz NOT NULL,
    updated         timestamptz NOT NULL
);
--bun:split
-- The claim query: waiting schedules, oldest next_attempt first. Partial:
-- schedules that ran or were cancelled cost it nothing.
CREATE INDEX herald_schedule_due_idx ON herald_schedule (next_attempt) WHERE status = 'waiting';
--bun:split
-- One key per origin, as for sends.
CREATE UNIQUE INDEX herald_schedule_idempotency_idx ON herald_schedule (origin, idempotency_key) WHERE idempotency_key IS NOT NULL;
--bun:split
-- Listing one origin's schedules by due time.
CREATE INDEX herald_schedule_origin_at_idx ON herald_schedule (origin, at, id);
--bun:split
-- Retention of schedules that ran, failed or were cancelled.
CREATE INDEX herald_schedule_finished_idx ON herald_schedule (updated) WHERE status IN ('sent', 'failed', 'cancelled');
