"""StoreProbe: a backend tells whether its store exists, and asking creates nothing."""

from __future__ import annotations

from omniq.backends.mixed import distinct_backends
from omniq.storage.interfaces import StoreProbe

from . import tasks
from .conftest import MakeOmniQ


def test_a_backend_says_whether_its_store_exists_and_asking_creates_nothing(
    make_oq: MakeOmniQ,
) -> None:
    oq = make_oq()
    assert oq.backend is not None
    backends = distinct_backends(oq.backend)
    probes = [b for b in backends if isinstance(b, StoreProbe)]
    if not probes:  # memory stores: the read commands refuse them (nobody else sees them)
        assert not any(b.capabilities.shared for b in backends)
        return
    assert [p.store_exists() for p in probes] == [False] * len(probes)
    assert [p.store_exists() for p in probes] == [False] * len(probes)  # still not created
    oq.open()
    oq.enqueue(tasks.add_numbers, {"x": 1, "y": 2})
    assert [p.store_exists() for p in probes] == [True] * len(probes)
