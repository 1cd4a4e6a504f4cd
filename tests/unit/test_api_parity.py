"""Every public ``x_async`` method of OmniQ has a sync twin ``x`` with the same parameters."""

from __future__ import annotations

import inspect

import pytest

from omniq import OmniQ
from omniq.core.task_builder import ENQUEUE_OPTIONS, EnqueueExtras

#: Public sync methods that have no async twin on purpose: they do no I/O.
SYNC_ONLY: set[str] = {"task"}  # registers a function in the instance's allow-list


def _public_methods() -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(OmniQ, inspect.isfunction)
        if not name.startswith("_")
    }


ASYNC_NAMES = sorted(name for name in _public_methods() if name.endswith("_async"))
SYNC_NAMES = sorted(
    name for name in _public_methods() if not name.endswith("_async") and name not in SYNC_ONLY
)


def test_there_are_async_methods() -> None:
    expected = {
        "open_async", "close_async", "enqueue_async", "enqueue_many_async",
        "get_result_async", "get_task_async", "get_events_async",
        "start_worker_async", "stop_worker_async", "schedule_async", "get_schedule_async",
        "list_schedules_async", "pause_schedule_async", "resume_schedule_async",
        "cancel_schedule_async",
    }  # fmt: skip
    assert expected <= set(ASYNC_NAMES)


@pytest.mark.parametrize("async_name", ASYNC_NAMES)
def test_async_method_has_a_sync_twin(async_name: str) -> None:
    sync_name = async_name.removesuffix("_async")
    async_method = getattr(OmniQ, async_name)
    sync_method = getattr(OmniQ, sync_name, None)
    assert sync_method is not None, f"OmniQ.{async_name} has no sync twin OmniQ.{sync_name}"
    assert inspect.iscoroutinefunction(async_method)
    assert not inspect.iscoroutinefunction(sync_method)
    async_sig = inspect.signature(async_method)
    sync_sig = inspect.signature(sync_method)
    assert [(p.name, p.kind, p.default, p.annotation) for p in sync_sig.parameters.values()] == [
        (p.name, p.kind, p.default, p.annotation) for p in async_sig.parameters.values()
    ]
    assert sync_sig.return_annotation == async_sig.return_annotation


def test_sync_only_methods_are_plain_functions() -> None:
    for name in SYNC_ONLY:
        assert not inspect.iscoroutinefunction(getattr(OmniQ, name))
        assert not hasattr(OmniQ, f"{name}_async")


@pytest.mark.parametrize("sync_name", SYNC_NAMES)
def test_sync_method_has_an_async_twin(sync_name: str) -> None:
    assert hasattr(OmniQ, f"{sync_name}_async"), f"OmniQ.{sync_name} has no async twin"


def test_context_managers_come_in_pairs() -> None:
    for sync_name, async_name in (("__enter__", "__aenter__"), ("__exit__", "__aexit__")):
        assert callable(getattr(OmniQ, sync_name))
        assert inspect.iscoroutinefunction(getattr(OmniQ, async_name))
    exit_params = list(inspect.signature(OmniQ.__exit__).parameters)
    assert exit_params == list(inspect.signature(OmniQ.__aexit__).parameters)


def test_docstrings_name_their_twin() -> None:
    for async_name in ASYNC_NAMES:
        sync_doc = inspect.getdoc(getattr(OmniQ, async_name.removesuffix("_async"))) or ""
        assert async_name in sync_doc, f"{async_name.removesuffix('_async')} doc"


_NO = inspect.Parameter.empty

#: The public signatures of spec section 5.7 (name, default), in order, without ``self``.
SPEC_SIGNATURES: dict[str, list[tuple[str, object]]] = {
    "__init__": [
        ("project_name", _NO), ("backend_type", None), ("backend", None), ("task_queue", None),
        ("result_store", None), ("event_store", None), ("queues", None),
        ("worker_type", None), ("worker_config", None),
    ],
    "enqueue": [
        ("func", _NO), ("func_args", None), ("func_kwargs", None), ("queue_name", "default"),
        ("name", None), ("description", None), ("tags", None), ("priority", 0),
        ("run_at", None), ("run_in", None), ("ttl", None), ("result_ttl", None),
        ("depends_on", None), ("callback", None), ("callback_args", None),
        ("max_retries", 3), ("retry_delay", None), ("store_result", True),
    ],
    # The spec also calls get_result(schedule_id=..., kind=...), so task_id must be optional.
    "get_result": [("task_id", None), ("timeout", None), ("poll_interval", 0.1)],
    # The spec's default schedule_type="interval" contradicts its own cron example
    # (cron_expression= alone): None infers the type from the timing argument given.
    "schedule": [
        ("func", _NO), ("func_args", None), ("func_kwargs", None), ("queue_name", "default"),
        ("name", None), ("description", None), ("tags", None), ("priority", 0),
        ("schedule_type", None), ("cron_expression", None), ("interval", None),
        ("run_at", None), ("max_runs", None), ("ttl", None), ("result_ttl", None),
        ("depends_on", None), ("callback", None), ("callback_args", None),
        ("max_retries", 3), ("retry_delay", None), ("store_result", True),
    ],
    "get_schedule": [("schedule_id", _NO)],
    "get_task": [("task_id", _NO)],
    "start_worker": [("worker_type", None), ("worker_config", None)],
    "stop_worker": [],
}  # fmt: skip


@pytest.mark.parametrize("method", sorted(SPEC_SIGNATURES))
def test_signatures_match_the_spec(method: str) -> None:
    params = list(inspect.signature(getattr(OmniQ, method)).parameters.values())[1:]
    spec = SPEC_SIGNATURES[method]
    assert [(p.name, p.default) for p in params[: len(spec)]] == spec
    # anything beyond the spec is optional, so calls written against the spec keep working
    for extra in params[len(spec) :]:
        assert extra.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL) or (
            extra.default is not _NO
        ), extra
    if method in ("__init__", "enqueue", "schedule"):
        assert params[-1].kind is inspect.Parameter.VAR_KEYWORD


def test_the_enqueue_options_are_the_parameters_of_enqueue() -> None:
    """EnqueueOptions (the one options definition) and enqueue's spec signature agree."""
    params = list(inspect.signature(OmniQ.enqueue_async).parameters.values())
    named = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert named[:4] == ["self", "func", "func_args", "func_kwargs"]
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
    extras = [name for name in EnqueueExtras.__annotations__ if name != "connection"]
    assert [*named[4:], *extras] == list(ENQUEUE_OPTIONS)
