-- OmniQ SQLite schema version 1: tasks, results, events. Applied by omniq.backends.sqlite.schema.

CREATE TABLE IF NOT EXISTS omniq_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS tasks (
    seq              INTEGER PRIMARY KEY,          -- enqueue order (FIFO tie-break)
    id               TEXT    NOT NULL UNIQUE,
    func_name        TEXT    NOT NULL,
    payload          BLOB    NOT NULL,
    queue_name       TEXT    NOT NULL,
    priority         INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    created_at       REAL    NOT NULL,
    run_at           REAL    NOT NULL,
    expires_at       REAL,
    name             TEXT,
    description      TEXT,
    tags             TEXT    NOT NULL,             -- JSON array
    max_retries      INTEGER NOT NULL,
    retry_count      INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    retry_delay      REAL    NOT NULL,
    retry_backoff    REAL    NOT NULL,
    retry_max_delay  REAL,
    result_ttl       REAL,
    store_result     INTEGER NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    worker_id        TEXT,
    lease_expires_at REAL,
    error            TEXT                          -- JSON object or NULL
);

-- Claim: equality on queue, then the service order; only claimable rows are indexed.
CREATE INDEX IF NOT EXISTS tasks_claimable
    ON tasks (queue_name, priority DESC, run_at, seq)
    WHERE status IN ('enqueued', 'retrying');

-- Lease recovery: only executing rows are indexed.
CREATE INDEX IF NOT EXISTS tasks_leases
    ON tasks (lease_expires_at)
    WHERE status = 'executing';

CREATE TABLE IF NOT EXISTS results (
    task_id    TEXT PRIMARY KEY,
    payload    BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS results_expiry
    ON results (expires_at)
    WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS events (
    seq       INTEGER PRIMARY KEY,
    task_id   TEXT NOT NULL,
    type      TEXT NOT NULL,
    timestamp REAL NOT NULL,
    worker_id TEXT,
    error     TEXT,
    detail    TEXT
);

CREATE INDEX IF NOT EXISTS events_task ON events (task_id, seq);
