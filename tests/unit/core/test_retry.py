"""The computed retry delay: backoff grows it, ``retry_max_delay`` and 100 years cap it."""

from __future__ import annotations

import pytest

from omniq.core.retry import retry_delay
from omniq.core.validation import MAX_SECONDS
from omniq.storage.records import TaskRecord


def record(**fields: float | int | None) -> TaskRecord:
    return TaskRecord(id="t", func_name="m:f", payload=b"", created_at=0.0, run_at=0.0, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"retry_delay": 2.0}, 2.0),
        ({"retry_delay": 2.0, "retry_backoff": 2.0, "retry_count": 3}, 16.0),
        ({"retry_delay": 2.0, "retry_backoff": 2.0, "retry_count": 3, "retry_max_delay": 5.0}, 5.0),
        ({"retry_delay": 0.0, "retry_backoff": 1e200, "retry_count": 9}, 0.0),
        # Records written before the bounds were checked must not overflow.
        ({"retry_delay": 1.0, "retry_backoff": 1e200, "retry_count": 2}, MAX_SECONDS),
        ({"retry_delay": 1.0, "retry_backoff": 2.0, "retry_count": 10**6}, MAX_SECONDS),
        ({"retry_delay": 1e300, "retry_backoff": 1e300, "retry_count": 5}, MAX_SECONDS),
        ({"retry_delay": 1.0, "retry_backoff": 1e200, "retry_count": 2, "retry_max_delay": 60.0},
         60.0),
    ],
)  # fmt: skip
def test_retry_delay(fields: dict[str, float | int | None], expected: float) -> None:
    assert retry_delay(record(**fields)) == pytest.approx(expected)
