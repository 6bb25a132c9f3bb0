-- Meter readings (issue 14): one row per revision of (meter, quantity, interval start).
-- Revision 1 is the first reading; a correction adds the next revision with its reason;
-- nothing is overwritten. The primary key makes a reading exactly-once across replicas.
-- Integers are BIGINT and times integers, as in the SQLite schema: interval_start in Unix seconds,
-- received_at in Unix microseconds.
CREATE TABLE readings (
    meter            TEXT COLLATE "C" NOT NULL,
    quantity         TEXT COLLATE "C" NOT NULL CHECK (quantity IN ('output', 'charge', 'discharge', 'soc', 'consumption', 'import', 'export')),
    interval_start   BIGINT  NOT NULL,
    revision         BIGINT  NOT NULL CHECK (revision >= 1),
    interval_minutes BIGINT  NOT NULL CHECK (interval_minutes > 0),
    value_wh         BIGINT  NOT NULL CHECK (value_wh >= 0),
    reason           TEXT,
    source           TEXT    NOT NULL,
    received_at      BIGINT  NOT NULL,
    PRIMARY KEY (meter, quantity, interval_start, revision)
);

CREATE INDEX readings_by_start ON readings (interval_start, meter, quantity);
