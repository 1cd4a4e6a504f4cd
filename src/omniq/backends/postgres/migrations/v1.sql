-- OmniQ PostgreSQL schema version 1, created in the project's own schema ({schema}).
-- Applied by omniq.backends.postgres.schema under an advisory lock, in one transaction.
-- Times are float8 seconds since the epoch: they round-trip exactly, as the core needs.

CREATE TABLE {schema}.tasks (
    seq              bigserial        NOT NULL,          -- enqueue order (FIFO tie-break)
    id               text             PRIMARY KEY,
    func_name        text             NOT NULL,
    payload          bytea            NOT NULL,
    queue_name       text             NOT NULL,
    priority         integer          NOT NULL,
    status           text             NOT NULL,
    created_at       double precision NOT NULL,
    run_at           double precision NOT NULL,
    expires_at       double precision,
    name             text,
    description      text,
    tags             text[]           NOT NULL,
    max_retries      integer          NOT NULL,
    retry_count      integer          NOT NULL,
    attempts         integer          NOT NULL,
    retry_delay      double precision NOT NULL,
    retry_backoff    double precision NOT NULL,
    retry_max_delay  double precision,
    result_ttl       double precision,
    store_result     boolean          NOT NULL,
    started_at       double precision,
    finished_at      double precision,
    worker_id        text,
    lease_expires_at double precision,
    error            text,                               -- JSON object, or NULL
    schedule_id      text,
    timeout          double precision,
    callback         bytea,
    depends_on       text[]           NOT NULL,
    cancel_requested boolean          NOT NULL
);

-- Claim: equality on the queue, then the service order; only claimable rows are indexed.
CREATE INDEX tasks_claimable ON {schema}.tasks (queue_name, priority DESC, run_at, seq)
    WHERE status IN ('enqueued', 'retrying');

-- Lease recovery: only executing rows.
CREATE INDEX tasks_leases ON {schema}.tasks (lease_expires_at) WHERE status = 'executing';

-- The runs of a schedule, oldest first.
CREATE INDEX tasks_schedule ON {schema}.tasks (schedule_id, seq) WHERE schedule_id IS NOT NULL;

-- Waiting tasks (dependencies), for the maintenance pass.
CREATE INDEX tasks_waiting ON {schema}.tasks (seq) WHERE status = 'waiting';

-- Purging final tasks by age, counting by status, listing newest first.
CREATE INDEX tasks_finished ON {schema}.tasks (status, finished_at);
CREATE INDEX tasks_seq ON {schema}.tasks (seq);

-- Which tasks wait for which: a completing task finds its dependents by this key.
CREATE TABLE {schema}.task_dependencies (
    depends_on text NOT NULL,
    task_id    text NOT NULL,
    PRIMARY KEY (depends_on, task_id)
);
CREATE INDEX task_dependencies_task ON {schema}.task_dependencies (task_id);

CREATE TABLE {schema}.results (
    task_id    text             PRIMARY KEY,
    payload    bytea            NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision,
    attempt    integer          NOT NULL
);
CREATE INDEX results_expiry ON {schema}.results (expires_at) WHERE expires_at IS NOT NULL;

-- The event log. seq is not in commit order (a bigserial never is); the writing
-- transaction's id is stored with it, and readers only go past transactions that have all
-- ended (see omniq.backends.postgres.event_log).
CREATE TABLE {schema}.events (
    seq       bigserial        PRIMARY KEY,
    xid       xid8             NOT NULL DEFAULT pg_current_xact_id(),
    task_id   text             NOT NULL,
    type      text             NOT NULL,
    timestamp double precision NOT NULL,
    worker_id text,
    error     text,
    detail    text
);
CREATE INDEX events_task ON {schema}.events (task_id, seq);
CREATE INDEX events_cursor ON {schema}.events (xid, seq);

CREATE TABLE {schema}.schedules (
    id          text             PRIMARY KEY,
    func_name   text             NOT NULL,
    payload     bytea            NOT NULL,
    spec        bytea            NOT NULL,   -- the definition, encoded by the core
    status      text             NOT NULL,
    next_run_at double precision,
    run_count   integer          NOT NULL,
    max_runs    integer,
    created_at  double precision NOT NULL,
    last_run_at double precision
);
CREATE INDEX schedules_due ON {schema}.schedules (next_run_at) WHERE status = 'active';

CREATE TABLE {schema}.workers (
    id             text             PRIMARY KEY,
    hostname       text             NOT NULL,
    pid            integer          NOT NULL,
    queues         text[]           NOT NULL,   -- in service order
    concurrency    integer          NOT NULL,
    lease_duration double precision NOT NULL,
    started_at     double precision NOT NULL,
    heartbeat_at   double precision NOT NULL
);

-- Claim up to p_limit due tasks, serving p_queues strictly in order, in one round trip.
-- Rows locked by another claim are skipped (FOR UPDATE SKIP LOCKED), never waited for.
CREATE FUNCTION {schema}.claim(
    p_queues text[], p_limit integer, p_worker text, p_now double precision,
    p_lease double precision
) RETURNS SETOF {schema}.tasks LANGUAGE plpgsql AS $$
DECLARE
    v_queue     text;
    v_remaining integer := p_limit;
    v_claimed   integer;
BEGIN
    FOREACH v_queue IN ARRAY p_queues LOOP
        EXIT WHEN v_remaining <= 0;
        RETURN QUERY
            WITH picked AS (
                SELECT t.id FROM {schema}.tasks AS t
                 WHERE t.queue_name = v_queue AND t.status IN ('enqueued', 'retrying')
                   AND t.run_at <= p_now
                 ORDER BY t.priority DESC, t.run_at, t.seq
                 LIMIT v_remaining
                   FOR UPDATE SKIP LOCKED
            )
            UPDATE {schema}.tasks AS t
               SET status = 'executing', attempts = t.attempts + 1, started_at = p_now,
                   worker_id = p_worker, lease_expires_at = p_lease
              FROM picked
             WHERE t.id = picked.id
            RETURNING t.*;
        GET DIAGNOSTICS v_claimed = ROW_COUNT;
        v_remaining := v_remaining - v_claimed;
    END LOOP;
END
$$;
