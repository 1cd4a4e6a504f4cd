"""The key layout of one project: every key starts with ``{omniq:<project>}``.

The braces are a Redis Cluster *hash tag*: only ``omniq:<project>`` is hashed, so all of a
project's keys live in one slot and every script can touch them together (a Lua script may
only use keys of one slot in a Cluster). The layout (``P`` is the prefix):

=========================  ======  =========================================================
key                        type    holds
=========================  ======  =========================================================
``P:t:<id>``               hash    one task (status, times, counters, encoded record)
``P:c:<prio>:<queue>``     zset    claimable tasks of one queue and priority, by ``run_at``
``P:cp:<queue>``           zset    the priorities that have claimable tasks in a queue
``P:n:<queue>``            hash    task counts of a queue by status
``P:queues``               set     queue names used
``P:seq``                  string  enqueue counter (ties in ``run_at`` keep enqueue order)
``P:all``                  zset    every task by enqueue order (listing, newest first)
``P:leases``               zset    executing tasks by lease expiry (lease recovery)
``P:fin``                  zset    final tasks by ``finished_at`` (purge)
``P:wait``                 zset    waiting tasks (dependency reconciliation)
``P:dn:<id>``              set     waiting tasks that depend on ``<id>``
``P:r:<id>``               hash    one result (expires with Redis's TTL)
``P:rexp``                 zset    results that expire, by ``expires_at``
``P:log``                  stream  the event log, in commit order
``P:e:<id>``               list    the stream ids of one task's events
``P:s:<id>``               hash    one schedule
``P:sall``                 zset    schedules by ``created_at``
``P:sdue``                 zset    active schedules by ``next_run_at``
``P:runs:<id>``            list    the tasks one schedule fired
``P:w:<id>``               hash    one registered worker
``P:workers``              zset    workers by ``started_at``
``P:wake``                 —       the pub/sub channel of wake-ups (not a key)
=========================  ======  =========================================================
"""

from __future__ import annotations

__all__ = ["Keys", "project_prefix"]


def project_prefix(project_name: str) -> str:
    """``{omniq:<project_name>}``: the hash-tagged prefix of every key of the project."""
    return "{omniq:" + project_name + "}"


class Keys:
    """The names the Python side reads directly (the scripts build the others).

    Args:
        project_name: A validated project name.
    """

    def __init__(self, project_name: str) -> None:
        self.prefix = project_prefix(project_name)
        self.log = f"{self.prefix}:log"
        self.leases = f"{self.prefix}:leases"
        self.channel = f"{self.prefix}:wake"
        self.pattern = f"{self.prefix}:*"

    def task(self, task_id: str) -> str:
        """The hash of one task."""
        return f"{self.prefix}:t:{task_id}"

    def result(self, task_id: str) -> str:
        """The hash of one result."""
        return f"{self.prefix}:r:{task_id}"

    def schedule(self, schedule_id: str) -> str:
        """The hash of one schedule."""
        return f"{self.prefix}:s:{schedule_id}"
