-- OmniQ SQLite schema version 3: the worker registry, and indexes for operating the store.

CREATE TABLE IF NOT EXISTS workers (
    id             TEXT    PRIMARY KEY,
    hostname       TEXT    NOT NULL,
    pid            INTEGER NOT NULL,
    queues         TEXT    NOT NULL,           -- JSON array, in service order
    concurrency    INTEGER NOT NULL,
    lease_duration REAL    NOT NULL,
    started_at     REAL    NOT NULL,
    heartbeat_at   REAL    NOT NULL
) WITHOUT ROWID;

-- Purging final tasks by age, and counting by status.
CREATE INDEX IF NOT EXISTS tasks_finished
    ON tasks (status, finished_at);
