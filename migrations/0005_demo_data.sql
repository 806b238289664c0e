-- Lotse schema 5: rooms made up by the demo (`lotse demo` seeds twelve weeks of plausible
-- activity so that a first report is worth looking at). They exist only in this database,
-- feed the statistics, are never swept, and every report that counts them says so.
ALTER TABLE room ADD COLUMN synthetic INTEGER NOT NULL DEFAULT 0 CHECK (synthetic IN (0, 1));
