-- Lotse schema 3: retention policies enforced on real messages, with evidence.

-- When media of an event was deleted (media may expire before the message does).
ALTER TABLE event_meta ADD COLUMN media_deleted_at INTEGER;
-- Expired events not yet redacted, found fast on millions of rows.
CREATE INDEX event_meta_open ON event_meta (room_id, ts) WHERE redacted_at IS NULL;

-- What Lotse last did per room: the retention state it set, the notice it posted,
-- whether the room's history before the bot joined has been recorded.
ALTER TABLE room ADD COLUMN retention_state TEXT;
ALTER TABLE room ADD COLUMN policy_notice TEXT;
ALTER TABLE room ADD COLUMN backfilled_at INTEGER;

-- A room given a policy by an admin (overrides the policy files).
CREATE TABLE retention_assignment (
    room_id TEXT PRIMARY KEY,
    policy  TEXT NOT NULL,
    set_by  TEXT NOT NULL,       -- pseudonym
    set_at  INTEGER NOT NULL
) STRICT;

-- One row per sweep: the evidence an auditor asks for.
CREATE TABLE retention_run (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    trigger       TEXT NOT NULL CHECK (trigger IN ('schedule', 'command', 'start')),
    redacted      INTEGER NOT NULL DEFAULT 0,
    media_deleted INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,
    retries       INTEGER NOT NULL DEFAULT 0,
    purges        INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Per room kind and run, so the report can say where deletions happened.
CREATE TABLE retention_run_room (
    run           INTEGER NOT NULL REFERENCES retention_run (seq),
    room_kind     TEXT NOT NULL,
    policy        TEXT NOT NULL,
    redacted      INTEGER NOT NULL DEFAULT 0,
    media_deleted INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, room_kind, policy)
) STRICT;

-- Every change an admin makes: who (pseudonym), when, what, before and after.
CREATE TABLE audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT,
    before   TEXT,
    after    TEXT
) STRICT;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
