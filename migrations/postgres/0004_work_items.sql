-- Backtest sweeps cut into work items that `vpp worker` processes take (src/sweep/queue.rs).
-- An item is claimed with SELECT … FOR NO KEY UPDATE SKIP LOCKED in a transaction that
-- stays open while it runs and marks it done on commit, so an item is done exactly once: a
-- worker that dies mid-item leaves its transaction to be rolled back and the row to the next.

-- One row per named sweep. `spec` is the sweep's JSON (`sweep::SweepSpec`: plant files'
-- text, forecast, chunks, policies, seed pairs …), `spec_sha256` the SHA-256 of that JSON
-- as planned, by which a second plan of the same name is told identical or refused.
CREATE TABLE sweeps (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    spec        JSONB       NOT NULL,
    spec_sha256 BYTEA       NOT NULL CHECK (octet_length(spec_sha256) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per item (`sweep::ItemSpec` in `spec`). `queued` until a worker's transaction
-- commits `done` with its result (`sweep::ItemResult`) or `failed` with the error (final:
-- the same inputs fail the same way anywhere).
CREATE TABLE work_items (
    sweep       BIGINT      NOT NULL REFERENCES sweeps (id),
    item        INTEGER     NOT NULL CHECK (item >= 0),
    spec        JSONB       NOT NULL,
    state       TEXT        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed')),
    result      JSONB,
    error       TEXT,
    worker      TEXT,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (sweep, item),
    CHECK ((state = 'queued') = (finished_at IS NULL)),
    CHECK ((state = 'done') = (result IS NOT NULL)),
    CHECK ((state = 'failed') = (error IS NOT NULL))
);

-- What workers look for: the queued items, in order.
CREATE INDEX work_items_queued ON work_items (sweep, item) WHERE state = 'queued';

-- Every start of an item by a worker, written in autocommit beside the claiming
-- transaction: append-only, so a worker killed mid-item still shows its start. An item
-- started twice was given back once (a worker died or lost its connection).
CREATE TABLE work_item_starts (
    sweep      BIGINT      NOT NULL,
    item       INTEGER     NOT NULL,
    worker     TEXT        NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (sweep, item) REFERENCES work_items (sweep, item)
);
CREATE INDEX work_item_starts_item ON work_item_starts (sweep, item);
