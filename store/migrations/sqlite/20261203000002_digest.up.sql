-- Digests. A digest is itself a delivery row of its processor for its
-- user (digest_id its own id, digest_state 'open' while notifications may
-- join it, 'frozen' from its first claim on, digest_max the most it
-- delivers at once); it is due when its window ends. Each notification
-- held for it is an ordinary delivery row pointing at it (digest_id),
-- pending with no next_attempt, so the claim never takes it on its own.
ALTER TABLE delivery ADD COLUMN digest_id TEXT;
--bun:split
ALTER TABLE delivery ADD COLUMN digest_state TEXT;
--bun:split
ALTER TABLE delivery ADD COLUMN digest_max INTEGER;
--bun:split
-- At most one open digest per (user, processor): the target of the
-- upsert by which a send joins it or opens it, race-free.
CREATE UNIQUE INDEX delivery_digest_open_idx ON delivery ("user", processor) WHERE digest_state = 'open';
--bun:split
-- A digest's members, oldest first, read when it is claimed.
CREATE INDEX delivery_digest_idx ON delivery (digest_id, created, id) WHERE digest_id IS NOT NULL;
