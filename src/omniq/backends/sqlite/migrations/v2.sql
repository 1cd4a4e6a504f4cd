-- OmniQ SQLite schema version 2: schedules, dependencies, callbacks, timeouts, cancellation.

ALTER TABLE tasks ADD COLUMN schedule_id TEXT;
ALTER TABLE tasks ADD COLUMN timeout REAL;
ALTER TABLE tasks ADD COLUMN callback BLOB;
ALTER TABLE tasks ADD COLUMN depends_on TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- The runs of a schedule, oldest first.
CREATE INDEX IF NOT EXISTS tasks_schedule
    ON tasks (schedule_id, seq)
    WHERE schedule_id IS NOT NULL;

-- Which tasks wait for which: a completing task finds its dependents by this key.
CREATE TABLE IF NOT EXISTS task_dependencies (
    depends_on TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    PRIMARY KEY (depends_on, task_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS schedules (
    id          TEXT PRIMARY KEY,
    func_name   TEXT NOT NULL,
    payload     BLOB NOT NULL,
    spec        BLOB NOT NULL,                 -- the definition, encoded by the core
    status      TEXT NOT NULL,
    next_run_at REAL,
    run_count   INTEGER NOT NULL,
    max_runs    INTEGER,
    created_at  REAL NOT NULL,
    last_run_at REAL
) WITHOUT ROWID;

-- Firing: only active schedules, by due time.
CREATE INDEX IF NOT EXISTS schedules_due
    ON schedules (next_run_at)
    WHERE status = 'active';
