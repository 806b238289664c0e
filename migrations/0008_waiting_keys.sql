-- Lotse schema 8: encrypted events the bot could not decrypt yet, so that a restart does not
-- forget them, and an index for forgetting old metadata. No content is kept: after a restart
-- each event is fetched again from the homeserver. The bot keeps a bounded number of them.
CREATE TABLE waiting_key (
    event_id TEXT PRIMARY KEY,
    room_id  TEXT NOT NULL,
    since    INTEGER NOT NULL            -- unix ms, when the bot first failed to decrypt it
) STRICT;

-- Each sweep deletes the metadata of messages redacted longer ago than the evidence period:
-- find those without reading every row.
CREATE INDEX event_meta_redacted ON event_meta (redacted_at) WHERE redacted_at IS NOT NULL;
