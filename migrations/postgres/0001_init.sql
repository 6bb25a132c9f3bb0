-- The PostgreSQL store's schema (src/store/postgres.rs). Embedded with `sqlx::migrate!` and
-- run when a replica starts (sqlx serializes concurrent starts with an advisory lock).
-- Timestamps are TIMESTAMPTZ (microseconds; the store truncates to them before writing, so
-- what it acknowledges is what it reads back), days are DATE, digests raw 32-byte SHA-256.
-- Text keys use the "C" collation: byte order, as SQLite sorts, whatever the server locale.

-- One row per (bot, bid id): the bid as last submitted or amended. The primary key is what
-- makes a bid exactly-once across replicas: a submission is INSERT … ON CONFLICT DO NOTHING
-- and a read of what is there, in one transaction.
CREATE TABLE bids (
    bot              TEXT COLLATE "C" NOT NULL,
    id               TEXT COLLATE "C" NOT NULL,
    node             TEXT             NOT NULL,
    interval_start   TIMESTAMPTZ      NOT NULL,
    side             TEXT             NOT NULL CHECK (side IN ('sell', 'buy', 'curtail')),
    quantity_mw      DOUBLE PRECISION NOT NULL,
    price            DOUBLE PRECISION NOT NULL,
    green            BOOLEAN          NOT NULL,
    park             TEXT,
    delivery_day     DATE             NOT NULL,
    revision         INTEGER          NOT NULL CHECK (revision >= 1),
    state            TEXT             NOT NULL CHECK (state IN ('active', 'cancelled')),
    acknowledged_at  TIMESTAMPTZ      NOT NULL,
    cancelled_at     TIMESTAMPTZ,
    -- SHA-256 of the payload as first submitted (node, interval_start, side, quantity_mw,
    -- price, green, park; floats bitwise): what a retried submission is compared with.
    submitted_sha256 BYTEA            NOT NULL CHECK (octet_length(submitted_sha256) = 32),
    PRIMARY KEY (bot, id)
);

CREATE INDEX bids_by_day ON bids (delivery_day, bot, id);

-- One row per published schedule version.
CREATE TABLE schedules (
    day              DATE             NOT NULL,
    version          INTEGER          NOT NULL CHECK (version >= 1),
    published_at     TIMESTAMPTZ      NOT NULL,
    objective        TEXT             NOT NULL,
    green_share      DOUBLE PRECISION NOT NULL,
    cost_yuan        DOUBLE PRECISION NOT NULL,
    replans_version  INTEGER          NOT NULL CHECK (replans_version >= 0),
    inputs_sha256    TEXT             NOT NULL,
    plant_toml       TEXT             NOT NULL,
    forecast_json    TEXT             NOT NULL,
    options_json     TEXT             NOT NULL,
    schedule_json    TEXT             NOT NULL,
    -- Publication order across the whole database. Every publishing transaction takes one
    -- transaction-scoped advisory lock before its INSERT, so seq values commit in increasing
    -- order: a replica that has seen seq n has seen every publication before it.
    seq              BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- Which store instance (replica) published it, so a replica does not announce its own
    -- publications twice.
    origin           TEXT             NOT NULL,
    PRIMARY KEY (day, version)
);

-- One day-ahead clearing per day, whatever the replicas do: later changes are re-plans.
CREATE UNIQUE INDEX schedules_one_day_ahead ON schedules (day) WHERE replans_version = 0;
