-- The statements of the PostgreSQL backend, one per "-- name:" section. {schema} is the
-- project's schema (a quoted identifier); parameters are psycopg's %(name)s placeholders.
-- The hot paths (enqueue, completion) are one statement each: with autocommit that is one
-- round trip and one commit, whatever they write.

-- name: enqueue
-- Tasks, their dependency records and their events (in the given order), and a wake-up,
-- all in one statement. The tasks travel as one JSON array (bytes in base64): one parameter
-- to send, where 30 column arrays cost more to build than the insert takes.
WITH new_tasks AS (
    INSERT INTO {schema}.tasks (
        id, func_name, payload, queue_name, priority, status, created_at, run_at,
        expires_at, name, description, tags, max_retries, retry_count, attempts,
        retry_delay, retry_backoff, retry_max_delay, result_ttl, store_result, started_at,
        finished_at, worker_id, lease_expires_at, error, schedule_id, timeout, callback,
        depends_on, cancel_requested)
    SELECT t.id, t.func_name, decode(t.payload, 'base64'), t.queue_name, t.priority,
           t.status, t.created_at, t.run_at, t.expires_at, t.name, t.description, t.tags,
           t.max_retries, t.retry_count, t.attempts, t.retry_delay, t.retry_backoff,
           t.retry_max_delay, t.result_ttl, t.store_result, t.started_at, t.finished_at,
           t.worker_id, t.lease_expires_at, t.error, t.schedule_id, t.timeout,
           decode(t.callback, 'base64'), t.depends_on, t.cancel_requested
      FROM ROWS FROM (json_to_recordset(%(tasks)s::json) AS (
           id text, func_name text, payload text, queue_name text, priority int, status text,
           created_at float8, run_at float8, expires_at float8, name text, description text,
           tags text[], max_retries int, retry_count int, attempts int, retry_delay float8,
           retry_backoff float8, retry_max_delay float8, result_ttl float8, store_result bool,
           started_at float8, finished_at float8, worker_id text, lease_expires_at float8,
           error text, schedule_id text, timeout float8, callback text, depends_on text[],
           cancel_requested bool)
      ) WITH ORDINALITY AS t(
           id, func_name, payload, queue_name, priority, status, created_at, run_at,
           expires_at, name, description, tags, max_retries, retry_count, attempts,
           retry_delay, retry_backoff, retry_max_delay, result_ttl, store_result, started_at,
           finished_at, worker_id, lease_expires_at, error, schedule_id, timeout, callback,
           depends_on, cancel_requested, ord)
     ORDER BY t.ord
    RETURNING 1
), new_dependencies AS (
    INSERT INTO {schema}.task_dependencies (depends_on, task_id)
    SELECT d.depends_on, d.task_id
      FROM unnest(%(dep_on)s::text[], %(dep_task)s::text[]) AS d(depends_on, task_id)
    ON CONFLICT DO NOTHING
), new_events AS (
    INSERT INTO {schema}.events (task_id, type, timestamp, worker_id, error, detail)
    SELECT e.task_id, e.type, e.timestamp, e.worker_id, e.error, e.detail
      FROM ROWS FROM (json_to_recordset(%(events)s::json) AS (
               task_id text, type text, timestamp float8, worker_id text, error text,
               detail text)
           ) WITH ORDINALITY AS e(task_id, type, timestamp, worker_id, error, detail, ord)
     ORDER BY e.ord
)
SELECT (SELECT count(*) FROM new_tasks), pg_notify(%(channel)s, %(wakeup)s);

-- name: claim
SELECT * FROM {schema}.claim(%(queues)s, %(limit)s, %(worker)s, %(now)s, %(lease)s);

-- name: claimed_by
-- The tasks a claim with exactly these worker, time and lease already took: a retry after
-- a dropped connection finds the work of a first try whose commit went through.
SELECT seq, {task_columns} FROM {schema}.tasks
 WHERE status = 'executing' AND lease_expires_at = %(lease)s AND worker_id = %(worker)s
   AND started_at = %(now)s;

-- name: has_due
SELECT EXISTS (
    SELECT 1 FROM {schema}.tasks
     WHERE queue_name = ANY(%(queues)s) AND status IN ('enqueued', 'retrying')
       AND run_at <= %(now)s);

-- name: append_events
INSERT INTO {schema}.events (task_id, type, timestamp, worker_id, error, detail)
SELECT e.task_id, e.type, e.timestamp, e.worker_id, e.error, e.detail
  FROM ROWS FROM (json_to_recordset(%(events)s::json) AS (
           task_id text, type text, timestamp float8, worker_id text, error text, detail text)
       ) WITH ORDINALITY AS e(task_id, type, timestamp, worker_id, error, detail, ord)
 ORDER BY e.ord;

-- name: complete_many
-- Statuses, results and events of a batch, and the result wake-ups, in one statement. The
-- results and events of ids that were not completed (lease lost, cancel requested) are
-- dropped by the joins on "done".
WITH done AS (
    UPDATE {schema}.tasks
       SET status = 'completed', finished_at = %(now)s, lease_expires_at = NULL
     WHERE id = ANY(%(ids)s) AND status = 'executing' AND worker_id = %(worker)s
       AND NOT cancel_requested
    RETURNING id
), stored AS (
    INSERT INTO {schema}.results AS r (task_id, payload, created_at, expires_at, attempt)
    SELECT n.task_id, n.payload, n.created_at, n.expires_at, n.attempt
      FROM unnest(%(r_task)s::text[], %(r_payload)s::bytea[], %(r_created)s::float8[],
                  %(r_expires)s::float8[], %(r_attempt)s::int[])
           AS n(task_id, payload, created_at, expires_at, attempt)
      JOIN done ON done.id = n.task_id
    ON CONFLICT (task_id) DO UPDATE
       SET payload = excluded.payload, created_at = excluded.created_at,
           expires_at = excluded.expires_at, attempt = excluded.attempt
     WHERE excluded.attempt >= r.attempt
), logged AS (
    INSERT INTO {schema}.events (task_id, type, timestamp, worker_id, error, detail)
    SELECT e.task_id, e.type, e.timestamp, e.worker_id, e.error, e.detail
      FROM ROWS FROM (json_to_recordset(%(events)s::json) AS (
               task_id text, type text, timestamp float8, worker_id text, error text,
               detail text)
           ) WITH ORDINALITY AS e(task_id, type, timestamp, worker_id, error, detail, ord)
      JOIN done ON done.id = e.task_id
     ORDER BY e.ord
), woken AS (
    SELECT pg_notify(%(channel)s, 'r:' || string_agg(c.id, ','))
      FROM (SELECT id, (row_number() OVER () - 1) / 150 AS chunk FROM done) AS c
     GROUP BY c.chunk
)
SELECT id, (SELECT count(*) FROM woken),
       EXISTS (SELECT 1 FROM {schema}.task_dependencies AS d WHERE d.depends_on = done.id)
  FROM done;

-- name: extend_leases
UPDATE {schema}.tasks SET lease_expires_at = %(lease)s
 WHERE id = ANY(%(ids)s) AND worker_id = %(worker)s AND status = 'executing'
RETURNING id;

-- name: finish_by_worker
UPDATE {schema}.tasks
   SET status = %(status)s, finished_at = %(now)s, error = COALESCE(%(error)s, error),
       lease_expires_at = NULL
 WHERE id = %(id)s AND status = 'executing' AND worker_id = %(worker)s
   AND (%(status)s = 'cancelled' OR NOT cancel_requested)
RETURNING id;

-- name: finish_any
UPDATE {schema}.tasks
   SET status = %(status)s, finished_at = %(now)s, error = COALESCE(%(error)s, error),
       lease_expires_at = NULL
 WHERE id = %(id)s AND status NOT IN ('completed', 'failed', 'expired', 'cancelled')
RETURNING id;

-- name: retry_later
UPDATE {schema}.tasks
   SET status = 'retrying', retry_count = retry_count + 1, run_at = %(run_at)s,
       error = %(error)s, lease_expires_at = NULL
 WHERE id = %(id)s AND status = 'executing' AND worker_id = %(worker)s
   AND NOT cancel_requested
RETURNING id;

-- name: release
UPDATE {schema}.tasks
   SET status = 'enqueued', attempts = GREATEST(attempts - 1, 0), lease_expires_at = NULL,
       started_at = NULL
 WHERE id = ANY(%(ids)s) AND status = 'executing' AND worker_id = %(worker)s
RETURNING id;

-- name: recover_expired_leases
UPDATE {schema}.tasks SET status = 'enqueued', lease_expires_at = NULL
 WHERE status = 'executing' AND lease_expires_at < %(now)s
RETURNING id;

-- name: get_task
SELECT {task_columns} FROM {schema}.tasks WHERE id = %(id)s;

-- name: get_tasks
SELECT {task_columns} FROM {schema}.tasks WHERE id = ANY(%(ids)s);

-- name: list_tasks
SELECT {task_columns} FROM {schema}.tasks
 WHERE (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
   AND (%(queue)s::text IS NULL OR queue_name = %(queue)s::text)
 ORDER BY seq DESC LIMIT %(limit)s;

-- name: stuck_waiting
SELECT {waiting_columns} FROM {schema}.tasks AS w
 WHERE w.status = 'waiting' AND (
       NOT EXISTS (
            SELECT 1 FROM unnest(w.depends_on) AS dep(id)
             WHERE NOT EXISTS (
                  SELECT 1 FROM {schema}.tasks AS done
                   WHERE done.id = dep.id AND done.status = 'completed'))
    OR EXISTS (
            SELECT 1 FROM unnest(w.depends_on) AS dep(id)
              JOIN {schema}.tasks AS done ON done.id = dep.id
             WHERE done.status IN ('failed', 'expired', 'cancelled')))
 LIMIT %(limit)s;

-- name: release_dependents
-- A waiting dependent of the given tasks is released once every id in its depends_on
-- names a completed task. Rows are locked in id order, so two releases cannot deadlock.
WITH candidates AS (
    SELECT w.id FROM {schema}.tasks AS w
     WHERE w.id IN (SELECT task_id FROM {schema}.task_dependencies
                     WHERE depends_on = ANY(%(ids)s))
       AND w.status = 'waiting'
     ORDER BY w.id
       FOR UPDATE
)
UPDATE {schema}.tasks AS w SET status = 'enqueued'
  FROM candidates
 WHERE w.id = candidates.id
   AND NOT EXISTS (
        SELECT 1 FROM unnest(w.depends_on) AS dep(id)
         WHERE NOT EXISTS (
              SELECT 1 FROM {schema}.tasks AS done
               WHERE done.id = dep.id AND done.status = 'completed'))
RETURNING w.id;

-- name: below
-- Every task below %(id)s in the dependency graph, with its distance, nearest first.
WITH RECURSIVE below(id, depth) AS (
    SELECT task_id, 1 FROM {schema}.task_dependencies WHERE depends_on = %(id)s
    UNION
    SELECT d.task_id, below.depth + 1
      FROM {schema}.task_dependencies AS d JOIN below ON d.depends_on = below.id
     WHERE below.depth < 10000
)
SELECT id FROM below GROUP BY id ORDER BY min(depth), id;

-- name: cancel_waiting
UPDATE {schema}.tasks SET status = 'cancelled', finished_at = %(now)s, error = %(error)s
 WHERE status = 'waiting' AND id = ANY(%(ids)s)
RETURNING id;

-- name: lock_status
SELECT status FROM {schema}.tasks WHERE id = %(id)s FOR UPDATE;

-- name: cancel_now
UPDATE {schema}.tasks
   SET status = 'cancelled', finished_at = %(now)s, error = %(error)s, lease_expires_at = NULL
 WHERE id = %(id)s;

-- name: request_cancel
UPDATE {schema}.tasks SET cancel_requested = true WHERE id = %(id)s;

-- name: requested_cancellations
SELECT id FROM {schema}.tasks WHERE id = ANY(%(ids)s) AND cancel_requested;

-- name: notify
SELECT pg_notify(%(channel)s, %(payload)s);

-- name: add_schedule
INSERT INTO {schema}.schedules (id, func_name, payload, spec, status, next_run_at, run_count,
                                max_runs, created_at, last_run_at)
VALUES (%(id)s, %(func_name)s, %(payload)s, %(spec)s, %(status)s, %(next_run_at)s,
        %(run_count)s, %(max_runs)s, %(created_at)s, %(last_run_at)s);

-- name: get_schedule
SELECT {schedule_columns} FROM {schema}.schedules WHERE id = %(id)s;

-- name: list_schedules
SELECT {schedule_columns} FROM {schema}.schedules ORDER BY created_at, id;

-- name: due_schedules
SELECT {schedule_columns} FROM {schema}.schedules
 WHERE status = 'active' AND next_run_at <= %(now)s
 ORDER BY next_run_at LIMIT %(limit)s;

-- name: advance_schedule
UPDATE {schema}.schedules
   SET next_run_at = %(next_run_at)s, status = %(status)s, run_count = run_count + 1,
       last_run_at = %(fired_at)s
 WHERE id = %(id)s AND status = 'active' AND next_run_at = %(expected)s
RETURNING id;

-- name: set_schedule_status
UPDATE {schema}.schedules SET status = %(status)s, next_run_at = %(next_run_at)s
 WHERE id = %(id)s AND status = ANY(%(from_statuses)s)
RETURNING id;

-- name: schedule_runs
SELECT {task_columns} FROM {schema}.tasks WHERE schedule_id = %(id)s ORDER BY seq;

-- name: queue_counts
SELECT queue_name, status, count(*) FROM {schema}.tasks GROUP BY queue_name, status;

-- name: queue_due
SELECT queue_name, count(*) FILTER (WHERE run_at <= %(now)s),
       count(*) FILTER (WHERE run_at > %(now)s), min(run_at) FILTER (WHERE run_at <= %(now)s)
  FROM {schema}.tasks WHERE status IN ('enqueued', 'retrying') GROUP BY queue_name;

-- name: requeue
UPDATE {schema}.tasks
   SET status = 'enqueued', run_at = %(now)s, retry_count = 0, attempts = 0, error = NULL,
       started_at = NULL, finished_at = NULL, expires_at = NULL, worker_id = NULL,
       lease_expires_at = NULL, cancel_requested = false
 WHERE id = %(id)s AND status IN ('failed', 'expired');

-- name: purgeable
SELECT id FROM {schema}.tasks
 WHERE status = ANY(%(statuses)s) AND finished_at < %(before)s ORDER BY seq;

-- name: purge_tasks
WITH gone AS (
    DELETE FROM {schema}.tasks
     WHERE status = ANY(%(statuses)s) AND finished_at < %(before)s
    RETURNING id, seq
), dependencies AS (
    DELETE FROM {schema}.task_dependencies WHERE task_id IN (SELECT id FROM gone)
)
SELECT id FROM gone ORDER BY seq;

-- name: register_worker
INSERT INTO {schema}.workers (id, hostname, pid, queues, concurrency, lease_duration,
                              started_at, heartbeat_at)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, %(lease_duration)s,
        %(started_at)s, %(heartbeat_at)s)
ON CONFLICT (id) DO UPDATE
   SET hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
       concurrency = excluded.concurrency, lease_duration = excluded.lease_duration,
       started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at;

-- name: heartbeat_worker
UPDATE {schema}.workers SET heartbeat_at = %(now)s WHERE id = %(id)s RETURNING id;

-- name: unregister_worker
DELETE FROM {schema}.workers WHERE id = %(id)s RETURNING id;

-- name: list_workers
SELECT id, hostname, pid, queues, concurrency, lease_duration, started_at, heartbeat_at
  FROM {schema}.workers WHERE heartbeat_at >= %(since)s ORDER BY started_at, id;

-- name: put_results
INSERT INTO {schema}.results AS r (task_id, payload, created_at, expires_at, attempt)
SELECT n.task_id, n.payload, n.created_at, n.expires_at, n.attempt
  FROM unnest(%(r_task)s::text[], %(r_payload)s::bytea[], %(r_created)s::float8[],
              %(r_expires)s::float8[], %(r_attempt)s::int[])
       WITH ORDINALITY AS n(task_id, payload, created_at, expires_at, attempt, ord)
 ORDER BY n.ord
ON CONFLICT (task_id) DO UPDATE
   SET payload = excluded.payload, created_at = excluded.created_at,
       expires_at = excluded.expires_at, attempt = excluded.attempt
 WHERE excluded.attempt >= r.attempt;

-- name: get_result
SELECT payload, created_at, expires_at, attempt FROM {schema}.results
 WHERE task_id = %(id)s AND (expires_at IS NULL OR expires_at >= %(now)s);

-- name: delete_results
DELETE FROM {schema}.results WHERE task_id = ANY(%(ids)s);

-- name: purge_results
DELETE FROM {schema}.results WHERE expires_at IS NOT NULL AND expires_at < %(now)s;

-- name: count_expired_results
SELECT count(*) FROM {schema}.results WHERE expires_at IS NOT NULL AND expires_at < %(now)s;

-- name: events_for_task
SELECT type, timestamp, worker_id, error, detail FROM {schema}.events
 WHERE task_id = %(id)s ORDER BY seq;

-- name: events_latest
-- Only transactions that have all ended are read: an event of a transaction still open
-- would otherwise appear later before what a reader already passed.
SELECT * FROM (
    SELECT xid, seq, task_id, type, timestamp, worker_id, error, detail
      FROM {schema}.events
     WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY xid DESC, seq DESC LIMIT %(limit)s
) AS latest ORDER BY xid, seq;

-- name: events_after
SELECT xid, seq, task_id, type, timestamp, worker_id, error, detail
  FROM {schema}.events
 WHERE (xid, seq) > (%(xid)s::xid8, %(seq)s)
   AND xid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY xid, seq LIMIT %(limit)s;

-- name: delete_events
DELETE FROM {schema}.events WHERE task_id = ANY(%(ids)s);

-- name: server_time
SELECT extract(epoch FROM clock_timestamp())::float8;
