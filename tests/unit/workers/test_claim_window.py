"""How many tasks a worker holds: about 20 ms of work per slot, within 1..prefetch_multiplier."""

from __future__ import annotations

import pytest

from omniq.workers import claim_window


@pytest.mark.parametrize(
    ("mean", "expected"),
    [
        pytest.param(None, 4, id="no body ran yet: one per slot"),
        pytest.param(0.00005, 4 * 32, id="no-op bodies: the full multiplier"),
        pytest.param(0.005, 4 * 4, id="5 ms bodies: 20 ms of work per slot"),
        pytest.param(0.019, 4, id="just under 20 ms: one per slot"),
        pytest.param(0.5, 4, id="long bodies: no prefetch"),
        pytest.param(0.0, 4 * 32, id="instant bodies: capped"),
    ],
)
def test_window_follows_the_mean_body_time(mean: float | None, expected: int) -> None:
    assert claim_window(4, 32, mean) == expected


def test_multiplier_one_disables_prefetching() -> None:
    assert claim_window(4, 1, 0.00001) == 4
