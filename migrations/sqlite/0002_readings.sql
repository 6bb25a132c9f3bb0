-- Meter readings (issue 14): one row per revision of (meter, quantity, interval start).
-- Revision 1 is the first reading; a correction adds the next revision with its reason;
-- nothing is overwritten. Times are integers: interval_start in Unix seconds, received_at
-- in Unix microseconds.
CREATE TABLE readings (
    meter            TEXT    NOT NULL,
    quantity         TEXT    NOT NULL CHECK (quantity IN ('output', 'charge', 'discharge', 'soc', 'consumption', 'import', 'export')),
    interval_start   INTEGER NOT NULL,
    revision         INTEGER NOT NULL CHECK (revision >= 1),
    interval_minutes INTEGER NOT NULL CHECK (interval_minutes > 0),
    value_wh         INTEGER NOT NULL CHECK (value_wh >= 0),
    reason           TEXT,
    source           TEXT    NOT NULL,
    received_at      INTEGER NOT NULL,
    PRIMARY KEY (meter, quantity, interval_start, revision)
) WITHOUT ROWID;

CREATE INDEX readings_by_start ON readings (interval_start, meter, quantity);
