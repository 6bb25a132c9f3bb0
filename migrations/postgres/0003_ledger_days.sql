-- The measured ledger as built (issue 14): one row per local day, so that a statement is
-- read from these rows instead of being rebuilt from every reading. `basis` names what the
-- day was built under (the plant, the meters' interval and the ledger's rules); a row of
-- another basis counts as not built. `closing` is the storages' content at the day's end
-- (JSON, `ledger::StorageState`), the opening of the next day; `parks` is each park's
-- totals over the day (JSON, `[ledger::ParkDay]` in plant order).
CREATE TABLE ledger_days (
    day      DATE    NOT NULL PRIMARY KEY,
    basis    TEXT    NOT NULL,
    closing  TEXT    NOT NULL,
    parks    TEXT    NOT NULL,
    built_at BIGINT  NOT NULL
);

-- UTC hours (Unix seconds / 3600) whose readings changed since the ledger was last built
-- there (hours, so that a local day of any zone on whole hours is told apart exactly): written in the transaction that stores a new reading or a correction, so no change
-- can be missed. `generation` rises at every change, so a builder removes only the marks it
-- saw (a change made while it built stays marked).
CREATE TABLE ledger_dirty (
    utc_hour    BIGINT  NOT NULL PRIMARY KEY,
    generation BIGINT  NOT NULL
);
