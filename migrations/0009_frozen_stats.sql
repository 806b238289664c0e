-- Lotse schema 9: frozen statistics.
-- A period's figures are computed once, after the period ended, and stored; every later report
-- serves them unchanged. Counts are not personal data, so an erasure does not rewrite history,
-- and asking again cannot average noise away or reveal what an erasure removed.

CREATE TABLE stats_period (
    period    TEXT PRIMARY KEY,      -- 2026-W47 or 2026-11
    frozen_at INTEGER NOT NULL,
    k         INTEGER NOT NULL,
    epsilon   REAL,
    demo_data INTEGER NOT NULL
) STRICT;

CREATE TABLE stats_cell (
    period     TEXT NOT NULL REFERENCES stats_period (period),
    scope      TEXT NOT NULL,        -- '' = the organisation, else a team row's label
    position   INTEGER NOT NULL,     -- the order of the rows in a report
    figure     TEXT NOT NULL,
    raw        REAL,                 -- the true value: months add up from their weeks
    persons    INTEGER NOT NULL,     -- how many people it was computed from
    shown      REAL,                 -- what reports show (after noise); NULL: hidden or no data
    suppressed INTEGER NOT NULL,
    unit       TEXT NOT NULL,
    PRIMARY KEY (period, scope, figure)
) STRICT;
