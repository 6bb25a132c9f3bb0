-- Warm starts across restarts (issue 16): the final simplex bases the solver keeps by LP
-- shape (`model::WarmStarts`), written every few seconds as they change and at shutdown,
-- read back when the service starts, so a restarted service starts warm. `key` names the
-- shape (`v1:cols:rows:objective:stage:fingerprint`); `cols` and `rows` hold one HiGHS
-- basis status (0-4) per byte; `share` is the green share its latest green-share run
-- found. Only the most recently kept rows are kept (`kept_at`, microseconds, descending).
CREATE TABLE warm_starts (
    key     TEXT    NOT NULL PRIMARY KEY,
    cols    BLOB    NOT NULL,
    rows    BLOB    NOT NULL,
    share   REAL,
    kept_at INTEGER NOT NULL
) WITHOUT ROWID;
