-- The SQLite store's schema (src/store/sqlite.rs). Embedded with `sqlx::migrate!` and run
-- when the store opens. Timestamps are RFC 3339 UTC text (exact to the nanosecond), days
-- are `YYYY-MM-DD` text, digests are raw 32-byte SHA-256.

-- One row per (bot, bid id): the bid as last submitted or amended.
CREATE TABLE bids (
    bot              TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    node             TEXT    NOT NULL,
    interval_start   TEXT    NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('sell', 'buy', 'curtail')),
    quantity_mw      REAL    NOT NULL,
    price            REAL    NOT NULL,
    green            INTEGER NOT NULL CHECK (green IN (0, 1)),
    park             TEXT,
    delivery_day     TEXT    NOT NULL,
    revision         INTEGER NOT NULL CHECK (revision >= 1),
    state            TEXT    NOT NULL CHECK (state IN ('active', 'cancelled')),
    acknowledged_at  TEXT    NOT NULL,
    cancelled_at     TEXT,
    -- SHA-256 of the payload as first submitted (node, interval_start, side, quantity_mw,
    -- price, green, park; floats bitwise): what a retried submission is compared with.
    submitted_sha256 BLOB    NOT NULL CHECK (length(submitted_sha256) = 32),
    PRIMARY KEY (bot, id)
) WITHOUT ROWID;

CREATE INDEX bids_by_day ON bids (delivery_day, bot, id);

-- One row per published schedule version.
CREATE TABLE schedules (
    day              TEXT    NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    published_at     TEXT    NOT NULL,
    objective        TEXT    NOT NULL,
    -- NULL stands for NaN (SQLite stores NaN as NULL).
    green_share      REAL,
    cost_yuan        REAL,
    replans_version  INTEGER NOT NULL CHECK (replans_version >= 0),
    inputs_sha256    TEXT    NOT NULL,
    plant_toml       TEXT    NOT NULL,
    forecast_json    TEXT    NOT NULL,
    options_json     TEXT    NOT NULL,
    schedule_json    TEXT    NOT NULL,
    PRIMARY KEY (day, version)
);
