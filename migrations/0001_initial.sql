-- Lotse schema 1: the foundation.
-- Persons appear only as keyed pseudonyms (HMAC-SHA256 of the Matrix user ID with the
-- deployment's secret key, see bot/pseudonym.py). No message bodies are stored anywhere.

-- Small durable values: the sync token, the uploaded filter's ID, the login.
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Events that have been handled (answered, joined, rejected). A restart that sees an event
-- again (sync token saved before a crash) skips it, so nothing is answered twice.
CREATE TABLE handled_event (
    event_id   TEXT PRIMARY KEY,
    handled_at INTEGER NOT NULL   -- unix ms
) STRICT;
CREATE INDEX handled_event_at ON handled_event (handled_at);

-- A person's chosen language, keyed by pseudonym.
CREATE TABLE user_pref (
    subject    TEXT PRIMARY KEY,  -- pseudonym
    language   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Rooms Lotse is in and what kind of room each is.
CREATE TABLE room (
    room_id   TEXT PRIMARY KEY,
    kind      TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'admin', 'leadership', 'team',
                                            'intake', 'consultation')),
    joined_at INTEGER NOT NULL
) STRICT;
