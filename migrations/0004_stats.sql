-- Lotse schema 4: what the statistics need beyond the other tables.

-- Access and erasure requests and when they were served (turnaround for leadership reports).
-- Erasure requests keep only the receipt's pseudonym; access requests go with an erasure.
CREATE TABLE rights_request (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL CHECK (kind IN ('access', 'erasure')),
    subject      TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    served_at    INTEGER
) STRICT;
CREATE INDEX rights_request_at ON rights_request (requested_at);
CREATE INDEX consent_log_at ON consent_log (recorded_at);
