-- Lotse schema 8: encrypted events the bot could not decrypt yet, so that a restart does not
-- forget them. No content is kept: after a restart each event is fetched again from the
-- homeserver. The bot keeps at most a bounded number of them.
CREATE TABLE waiting_key (
    event_id TEXT PRIMARY KEY,
    room_id  TEXT NOT NULL,
    since    INTEGER NOT NULL            -- unix ms, when the bot first failed to decrypt it
) STRICT;
