-- Lotse schema 7: an erasure finishes everything it promised, later if it must.
-- A room's part of an erasure can wait for three reasons: a legal hold (until it ends), a
-- policy's min_age (documentation duty: until the youngest message is old enough), or
-- redactions the homeserver refused (retried). not_before: not to be tried before (unix ms).
ALTER TABLE erasure_pending ADD COLUMN reason TEXT NOT NULL DEFAULT 'hold'
    CHECK (reason IN ('hold', 'min_age', 'retry'));
ALTER TABLE erasure_pending ADD COLUMN not_before INTEGER;
ALTER TABLE erasure_pending ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
