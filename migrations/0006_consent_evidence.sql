-- Lotse schema 6: consent that is unambiguous and leaves evidence.

-- The short re-ask after an unclear answer: a ✅ on it counts like one on the question.
ALTER TABLE intake ADD COLUMN reask_event TEXT;
-- A client's action that waits for a one-word confirmation, NULL if none ('withdraw').
ALTER TABLE intake ADD COLUMN pending TEXT CHECK (pending IS NULL OR pending IN ('withdraw'));
-- How a guardian consented, as the responsible worker recorded it ("schriftlich, Akte 12").
ALTER TABLE consent_log ADD COLUMN note TEXT;
-- SHA-256 of the notice text the person was shown (in the language actually shown).
ALTER TABLE consent_log ADD COLUMN notice_hash TEXT;
