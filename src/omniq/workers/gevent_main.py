"""Run a gevent worker: ``python -m omniq.workers.gevent_main --project NAME [options]``.

The older entry point: ``omniq worker --type gevent`` does the same with the flags of every
other worker type (``--config``, ``--lease``, ``-n``...). gevent must monkey-patch the
standard library before anything else is imported, but ``python -m omniq.workers...`` has
already imported the ``omniq`` package (and asyncio, threading, sqlite3...) by the time this
module runs. So, unless the process is already patched (e.g. started with
``python -m gevent.monkey --module omniq.workers.gevent_main``), it replaces itself
(``os.execv``, same pid, so signals still reach it) with a fresh interpreter that calls
``gevent.monkey.patch_all()`` first and only then imports OmniQ and runs :func:`main`.

The worker serves until SIGINT or SIGTERM, then stops gracefully: it stops claiming, waits
up to ``--grace`` seconds for running tasks, releases the rest, closes the store and exits
with status 0.

Options:
    --project NAME        the project (names the SQLite file by default)
    --backend TYPE        backend type (default ``sqlite``)
    --db-path PATH        the SQLite file
    --queues a,b          queues served, in order (``default`` is always served)
    --concurrency N       greenlets running task bodies at once (default 100)
    --grace SECONDS       how long a stop waits for running tasks (default 30)
    --import MODULE       import a module first (repeatable), e.g. the one defining tasks
    --log-level LEVEL     logging level on stderr (default INFO)

Protection settings come from the environment, as for ``omniq worker``:
``OMNIQ_STRICT_SERIALIZATION``, ``OMNIQ_ALLOWED_MODULES`` and ``OMNIQ_SECRET_KEY`` (see
:mod:`omniq.serialization`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from omniq.api import OmniQ
from omniq.config import check_config
from omniq.config.decode import config_from_dict
from omniq.config.env import env_layer
from omniq.exceptions import MissingDependencyError
from omniq.models.config import OmniQConfig

__all__ = ["main", "patched", "reexec_patched"]

_log = logging.getLogger("omniq.gevent_main")

_BOOT = (
    "from gevent import monkey; monkey.patch_all(); "
    "import sys; from omniq.workers.gevent_main import main; sys.exit(main())"
)


def patched() -> bool:
    """Whether gevent has monkey-patched this process (threading and sockets)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(
        monkey.is_module_patched("threading") and monkey.is_module_patched("socket")
    )


def reexec_patched(boot: str, argv: list[str]) -> None:
    """Replace this process (``os.execv``: same pid) with ``python -c boot *argv``.

    ``boot`` must patch first (``monkey.patch_all()``) and only then import OmniQ.

    Raises:
        MissingDependencyError: gevent is not installed.
    """
    try:
        import gevent  # noqa: F401 - only checks that it is installed
    except ImportError:
        raise MissingDependencyError(
            "the gevent worker needs gevent: pip install 'omniq[gevent]'"
        ) from None
    sys.stdout.flush()
    sys.stderr.flush()
    warnings = [f"-W{option}" for option in sys.warnoptions]
    os.execv(sys.executable, [sys.executable, *warnings, "-c", boot, *argv])


def main(argv: list[str] | None = None) -> int:
    """Parse the options and serve until SIGINT/SIGTERM (in a patched process).

    Args:
        argv: The options (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 after a graceful stop.
    """
    parser = argparse.ArgumentParser(
        prog="python -m omniq.workers.gevent_main",
        description="Run an OmniQ worker whose task bodies are gevent greenlets.",
    )
    parser.add_argument("--project", required=True, help="the project name")
    parser.add_argument("--backend", default="sqlite", help="backend type (default: sqlite)")
    parser.add_argument("--db-path", help="the SQLite database file")
    parser.add_argument("--queues", help="comma-separated queues, in service order")
    parser.add_argument("--concurrency", type=int, default=100, help="greenlets at once")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds a stop waits")
    parser.add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE",
        help="import this module first (repeatable)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for module in args.imports:
        importlib.import_module(module)
    return _run_resilient(_serve(args))


def _run_resilient(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` like :func:`asyncio.run`, surviving a body's escaping ``SystemExit``.

    asyncio re-raises a ``SystemExit`` or ``KeyboardInterrupt`` that ends a task into the
    event loop itself; one coming from a task body must fail that task, not end the worker
    (as OmniQ's own loop thread does for sync-started workers).
    """
    loop = asyncio.new_event_loop()
    try:
        serving = loop.create_task(main)
        while True:
            try:
                return loop.run_until_complete(serving)
            except (SystemExit, KeyboardInterrupt) as exc:
                if serving.done():
                    raise
                _log.warning("ignored %r that escaped a task into the event loop", exc)
    finally:
        try:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _protection(project: str) -> OmniQConfig:
    """``strict_serialization``, ``allowed_modules`` and ``secret_key`` from ``OMNIQ_*``."""
    layer = env_layer()
    keys = ("strict_serialization", "allowed_modules", "secret_key")
    config = config_from_dict(
        {"project_name": project, **{k: layer[k] for k in keys if k in layer}}
    )
    check_config(config)
    return config


async def _serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    backend_options = {} if args.db_path is None else {"db_path": args.db_path}
    queues = [name for name in (args.queues or "").split(",") if name] or None
    protection = _protection(args.project)
    async with OmniQ(
        project_name=args.project, backend_type=args.backend, queues=queues,
        strict_serialization=protection.strict_serialization,
        secret_key=protection.secret_key, allowed_modules=protection.allowed_modules,
        **backend_options,
    ) as oq:  # fmt: skip
        await oq.start_worker_async(
            worker_type="gevent", max_workers=args.concurrency, grace_period=args.grace
        )
        _log.info("gevent worker ready: concurrency %d", args.concurrency)
        await stop.wait()
        _log.info("stopping: waiting up to %gs for running tasks", args.grace)
        await oq.stop_worker_async()
    _log.info("stopped")
    return 0


if __name__ == "__main__":
    if not patched():
        try:
            reexec_patched(_BOOT, sys.argv[1:])
        except MissingDependencyError as exc:
            sys.exit(str(exc))
    sys.exit(main())
