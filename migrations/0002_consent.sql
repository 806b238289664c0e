-- Lotse schema 2: consent, intake, event metadata, legal holds, erasure receipts.

-- A person's Matrix ID, sealed (AES-GCM, key in the data directory), kept only because the
-- bot must contact or invite the person again. Looked up by pseudonym; removed on erasure.
CREATE TABLE person (
    subject    TEXT PRIMARY KEY,
    sealed_id  BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- The proof of consent (Art. 7(1) GDPR) and of workers' acknowledgements. Append-only:
-- the current state is derived from the newest row per subject and scope. Rows are only
-- ever deleted by an erasure (Art. 17), which leaves an erasure_receipt instead.
CREATE TABLE consent_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    subject        TEXT NOT NULL,
    scope          TEXT NOT NULL CHECK (scope IN ('client', 'guardian', 'worker_rules')),
    purpose        TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    language       TEXT NOT NULL,
    decision       TEXT NOT NULL CHECK (decision IN
                       ('given', 'declined', 'withdrawn', 'acknowledged', 'confirmed')),
    method         TEXT NOT NULL CHECK (method IN ('text', 'number', 'reaction', 'command')),
    actor          TEXT,            -- pseudonym of who recorded it, if not the subject
    event_id       TEXT,
    recorded_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX consent_log_subject ON consent_log (subject, scope, seq);
CREATE TRIGGER consent_log_append_only BEFORE UPDATE ON consent_log
BEGIN
    SELECT RAISE(ABORT, 'consent_log is append-only');
END;

-- One intake per client 1:1 room. "state" is the flow's position, not the proof.
CREATE TABLE intake (
    intake_id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- the number workers type (#12)
    room_id            TEXT NOT NULL UNIQUE,
    subject            TEXT NOT NULL,
    worker             TEXT,             -- responsible worker's pseudonym, NULL until claimed
    state              TEXT NOT NULL CHECK (state IN ('waiting', 'language', 'age', 'consent',
                           'guardian', 'active', 'declined', 'withdrawn', 'erase_confirm')),
    minor              INTEGER,          -- NULL: not asked (yet)
    prior_state        TEXT,             -- where to return if an erasure is not confirmed
    notify_room        TEXT,             -- where the responsible worker hears about it
    question_event     TEXT,             -- the consent question, for reaction answers
    consultation_room  TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX intake_subject ON intake (subject);
CREATE INDEX intake_consultation ON intake (consultation_room);

-- Metadata of events in rooms Lotse is in. Never a body: sender pseudonym, time, type and
-- the mxc:// URIs of referenced media (needed to delete media with the message).
CREATE TABLE event_meta (
    event_id    TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    type        TEXT NOT NULL,
    media       TEXT,                    -- JSON list of mxc:// URIs, NULL if none
    redacted_at INTEGER
) STRICT;
CREATE INDEX event_meta_sender ON event_meta (sender, room_id);
CREATE INDEX event_meta_room_ts ON event_meta (room_id, ts);

-- Documentation duty: nothing in the room is erased before "until" (unix ms).
CREATE TABLE legal_hold (
    room_id    TEXT PRIMARY KEY,
    until_ms   INTEGER NOT NULL,
    set_by     TEXT NOT NULL,
    set_at     INTEGER NOT NULL
) STRICT;

-- What an erasure did, without content: the receipt for the data-protection officer.
CREATE TABLE erasure_receipt (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    subject         TEXT NOT NULL,
    requested_at    INTEGER NOT NULL,
    completed_at    INTEGER,
    redacted        INTEGER NOT NULL DEFAULT 0,
    media_deleted   INTEGER NOT NULL DEFAULT 0,
    held_rooms      INTEGER NOT NULL DEFAULT 0,
    held_until      INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Rooms whose part of an erasure waits for a legal hold to end. The periodic job finishes
-- them; the metadata needed for it (event IDs, media) is kept only until then.
CREATE TABLE erasure_pending (
    subject TEXT NOT NULL,
    room_id TEXT NOT NULL,
    receipt INTEGER NOT NULL REFERENCES erasure_receipt (seq),
    PRIMARY KEY (subject, room_id)
) STRICT;
