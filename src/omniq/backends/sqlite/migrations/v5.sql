-- OmniQ SQLite schema version 5: task counts by queue and status, kept by triggers in the
-- transaction of every write to `tasks`, so `omniq status`, the dashboard's overview, the
-- unserved-queue check and an all-queues worker read a few rows instead of scanning the table.
-- SQLite has one writer at a time, so the counts rows cost a little work per write and never
-- a wait. A row whose count fell to 0 stays (queue_counts skips it).

CREATE TABLE IF NOT EXISTS task_counts (
    queue_name TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (queue_name, status)
) WITHOUT ROWID;

INSERT INTO task_counts (queue_name, status, n)
    SELECT queue_name, status, COUNT(*) FROM tasks WHERE true GROUP BY queue_name, status
    ON CONFLICT (queue_name, status) DO UPDATE SET n = excluded.n;

CREATE TRIGGER IF NOT EXISTS tasks_count_insert AFTER INSERT ON tasks
BEGIN
    INSERT INTO task_counts (queue_name, status, n) VALUES (NEW.queue_name, NEW.status, 1)
        ON CONFLICT (queue_name, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER IF NOT EXISTS tasks_count_delete AFTER DELETE ON tasks
BEGIN
    UPDATE task_counts SET n = n - 1
     WHERE queue_name = OLD.queue_name AND status = OLD.status;
END;

CREATE TRIGGER IF NOT EXISTS tasks_count_update AFTER UPDATE OF queue_name, status ON tasks
WHEN OLD.status IS NOT NEW.status OR OLD.queue_name IS NOT NEW.queue_name
BEGIN
    UPDATE task_counts SET n = n - 1
     WHERE queue_name = OLD.queue_name AND status = OLD.status;
    INSERT INTO task_counts (queue_name, status, n) VALUES (NEW.queue_name, NEW.status, 1)
        ON CONFLICT (queue_name, status) DO UPDATE SET n = n + 1;
END;
