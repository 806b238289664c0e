-- Lotse schema 10: invitations for clients who have no account yet (the WhatsApp switch).
-- A worker's invitation carries a one-time secret: the join page's address. The registration
-- token and the pairing code are derived from it, and the bot's message is the only place all
-- three are written down. The database keeps hashes, so a copy of it opens no invitation.
CREATE TABLE invitation (
    invitation_id INTEGER PRIMARY KEY,
    worker        TEXT NOT NULL,             -- the inviting worker's pseudonym
    worker_room   TEXT NOT NULL,             -- the worker's 1:1 chat with the bot: told there
    language      TEXT NOT NULL,             -- the client's language: invitation, page, intake
    page_key      TEXT NOT NULL UNIQUE,      -- SHA-256 of the join page's secret
    token_hash    TEXT NOT NULL UNIQUE,      -- SHA-256 of the registration token
    pairing_hash  TEXT NOT NULL UNIQUE,      -- keyed hash of the pairing code
    created_at    INTEGER NOT NULL,          -- unix ms
    expires_at    INTEGER NOT NULL,          -- unix ms; the token expires at the same time
    state         TEXT NOT NULL DEFAULT 'open'
                  CHECK (state IN ('open', 'used', 'revoked', 'expired')),
    closed_at     INTEGER,                   -- when it was used, revoked or found expired
    client        TEXT                       -- the paired client's pseudonym (state 'used')
) STRICT;

CREATE INDEX invitation_worker ON invitation (worker, state);
