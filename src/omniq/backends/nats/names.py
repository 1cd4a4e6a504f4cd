"""Where a project lives on the server: bucket, stream and subject names, and key tokens.

A project owns three streams, all named after it (``<p>`` is the project name with ``_``
written ``__`` and ``.`` written ``_o``, so two projects never share a name):

* ``KV_omniq_<p>``: the key-value bucket ``omniq_<p>`` of task state (keys ``t.<task>``),
  schedules (``s.<schedule>``), the runs of each schedule (``r.<schedule>.<task>``), the
  worker registry (``w.<worker>``) and the clock probe (``clock``);
* ``KV_omniq_<p>_results``: the bucket ``omniq_<p>_results``, one key per task's result;
* ``omniq_<p>_events``: the event log, subjects ``omniq.<p>.events.<task>``.

Wake-ups travel on the plain subject ``omniq.<p>.wake`` (no stream).

Ids become one key or subject token: ids of letters, digits, ``-`` and ``_`` are used as
they are; any other id is written ``=`` followed by its UTF-8 bytes in unpadded base64url.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from omniq.exceptions import ConfigurationError

__all__ = ["ProjectNames", "decode_token", "encode_token", "escape_project"]

_PLAIN = re.compile(r"[A-Za-z0-9_-]+")

#: Longest escaped project name: stream names become directory names on the server.
_MAX_ESCAPED = 200


def escape_project(project_name: str) -> str:
    """The project name as used in stream and bucket names (one-to-one, prefix-preserving)."""
    return project_name.replace("_", "__").replace(".", "_o")


def encode_token(identifier: str) -> str:
    """An id as one key or subject token (see the module docstring)."""
    if _PLAIN.fullmatch(identifier):
        return identifier
    encoded = base64.urlsafe_b64encode(identifier.encode("utf-8")).decode("ascii")
    return "=" + encoded.rstrip("=")


def decode_token(token: str) -> str:
    """The id a token of :func:`encode_token` stands for."""
    if not token.startswith("="):
        return token
    body = token[1:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")


@dataclass(frozen=True, slots=True)
class ProjectNames:
    """Every name one project uses on the server.

    Attributes:
        token: The escaped project name.
        bucket: The state bucket (tasks, schedules, runs, workers).
        state_stream: Its stream.
        results_bucket: The results bucket.
        results_stream: Its stream.
        events_stream: The event log's stream.
        wake_subject: Where wake-ups are published.
    """

    token: str
    bucket: str
    state_stream: str
    results_bucket: str
    results_stream: str
    events_stream: str
    wake_subject: str

    @classmethod
    def of(cls, project_name: str) -> ProjectNames:
        """The names of ``project_name`` (already validated as a project name).

        Raises:
            ConfigurationError: The name is too long to name streams on a server.
        """
        token = escape_project(project_name)
        if len(token) > _MAX_ESCAPED:
            raise ConfigurationError(
                f"project_name {project_name!r} is too long for the NATS backend: its stream "
                f"names would exceed {_MAX_ESCAPED} characters"
            )
        bucket = f"omniq_{token}"
        results = f"{bucket}_results"
        return cls(
            token=token,
            bucket=bucket,
            state_stream=f"KV_{bucket}",
            results_bucket=results,
            results_stream=f"KV_{results}",
            events_stream=f"{bucket}_events",
            wake_subject=f"omniq.{token}.wake",
        )

    @property
    def streams(self) -> tuple[str, str, str]:
        """The project's three streams."""
        return (self.state_stream, self.results_stream, self.events_stream)

    # -- subjects -----------------------------------------------------------------------

    def task_subject(self, task_id: str) -> str:
        """The subject (key) of a task's state."""
        return f"$KV.{self.bucket}.t.{encode_token(task_id)}"

    def schedule_subject(self, schedule_id: str) -> str:
        """The subject (key) of a schedule."""
        return f"$KV.{self.bucket}.s.{encode_token(schedule_id)}"

    def run_subject(self, schedule_id: str, task_id: str) -> str:
        """The subject (key) recording that ``task_id`` is a run of ``schedule_id``."""
        return f"$KV.{self.bucket}.r.{encode_token(schedule_id)}.{encode_token(task_id)}"

    def runs_filter(self, schedule_id: str) -> str:
        """The subjects of every run of one schedule."""
        return f"$KV.{self.bucket}.r.{encode_token(schedule_id)}.*"

    def worker_subject(self, worker_id: str) -> str:
        """The subject (key) of a registered worker."""
        return f"$KV.{self.bucket}.w.{encode_token(worker_id)}"

    @property
    def clock_subject(self) -> str:
        """The subject (key) written to read the server's clock."""
        return f"$KV.{self.bucket}.clock"

    def state_filter(self, kind: str = ">") -> str:
        """Subjects of one kind of state key (``t``, ``s``, ``w``...), or all of them."""
        return f"$KV.{self.bucket}.>" if kind == ">" else f"$KV.{self.bucket}.{kind}.>"

    def result_subject(self, task_id: str) -> str:
        """The subject (key) of a task's result."""
        return f"$KV.{self.results_bucket}.{encode_token(task_id)}"

    @property
    def results_filter(self) -> str:
        """Every result's subject."""
        return f"$KV.{self.results_bucket}.>"

    def event_subject(self, task_id: str) -> str:
        """The subject of a task's events."""
        return f"omniq.{self.token}.events.{encode_token(task_id)}"

    @property
    def events_filter(self) -> str:
        """Every event subject of the project."""
        return f"omniq.{self.token}.events.>"

    def state_key(self, subject: str) -> tuple[str, str] | None:
        """``(kind, id)`` of a state subject (``("t", task_id)``...), ``None`` for others."""
        prefix = f"$KV.{self.bucket}."
        if not subject.startswith(prefix):
            return None
        kind, _, rest = subject[len(prefix) :].partition(".")
        return (kind, decode_token(rest)) if rest and "." not in rest else None

    def run_task(self, subject: str) -> str:
        """The task id of a run marker's subject."""
        return decode_token(subject.rpartition(".")[2])

    def result_key(self, subject: str) -> str:
        """The task id of a result subject."""
        return decode_token(subject.rpartition(".")[2])

    def event_task(self, subject: str) -> str:
        """The task id of an event subject."""
        return decode_token(subject.rpartition(".")[2])
