"""``omniq worker``: run a worker in the foreground until SIGTERM or SIGINT.

The first signal stops claiming and lets running tasks finish within ``--grace`` seconds;
what is still running then is released for another worker, and the process exits 0. A
second signal exits at once (exit code 130): the leases of running tasks lapse and another
worker runs them again.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click

from omniq.cli.connect import StoreOptions, load_config, store_options
from omniq.cli.task_log import EventLogger
from omniq.config.build import build_backend, queues_of
from omniq.core.omniq import OmniQ
from omniq.exceptions import ConfigurationError

__all__ = ["worker"]

_log = logging.getLogger("omniq.cli")


def _import_modules(modules: tuple[str, ...]) -> None:
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(f"--import {name!r}: {exc}") from exc


@click.command()
@store_options
@click.option(
    "--queues",
    "-q",
    help="Queues in service order, e.g. high,low (default: all "
    "configured; 'default' is always served).",
)
@click.option("--type", "worker_type", help="thread_pool (default), async or process_pool.")
@click.option("--concurrency", "-n", type=int, help="Tasks run at once (default 4).")
@click.option(
    "--grace",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds running tasks may take to finish after SIGTERM/SIGINT.",
)
@click.option("--lease", type=float, help="Lease duration in seconds (default 30).")
@click.option("--poll", type=float, help="Seconds between store checks while idle.")
@click.option(
    "--import",
    "-i",
    "imports",
    multiple=True,
    help="Module to import first (so task functions resolve); repeatable.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def worker(
    store: StoreOptions,
    queues: str | None,
    worker_type: str | None,
    concurrency: int | None,
    grace: float,
    lease: float | None,
    poll: float | None,
    imports: tuple[str, ...],
    log_level: str,
) -> None:
    """Run a worker in the foreground (logs one line per task step to stderr)."""
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    _import_modules(imports)
    worker_config: dict[str, Any] = {"grace_period": grace}
    for key, value in (
        ("max_workers", concurrency),
        ("lease_duration", lease),
        ("poll_interval", poll),
    ):
        if value is not None:
            worker_config[key] = value
    names = None if queues is None else [q.strip() for q in queues.split(",") if q.strip()]
    config = load_config(store, queues=names, worker_type=worker_type, worker_config=worker_config)
    backend = build_backend(config)
    oq = OmniQ(
        config.project_name,
        backend=backend,
        queues=queues_of(config),
        worker_type=config.worker.type,
        worker_config=config.worker.config,
        strict_serialization=config.strict_serialization,
        secret_key=config.secret_key,
    )
    try:
        _run(oq, grace)
    finally:
        backend.close()
    # Bodies released after the grace period may still run: in daemon threads, which end
    # with the process.


def _run(oq: OmniQ, grace: float) -> None:
    signals = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            _log.warning(
                "second %s: stopping at once; running tasks are left to lease expiry",
                signal.Signals(signum).name,
            )
            logging.shutdown()
            os._exit(130)
        signals.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        oq.open()
        oq.start_worker()
        running = oq.worker
        assert running is not None
        lifecycle = EventLogger(
            oq,
            running.worker_id,
            on_error=lambda exc: _log.warning("reading the event log failed: %s", exc),
        )
        lifecycle.start()
        _log.info(
            "worker %s ready: queues %s, store %s",
            running.worker_id,
            ",".join(oq.queues),
            oq.config.task_queue.config.get("db_path", oq.backend),
        )
        while not signals.wait(0.5):  # timed: keeps the main thread responsive to signals
            pass
        _log.info(
            "%s: stopping; waiting up to %ss for %d running task(s) (signal again to stop at once)",
            signal.Signals(received[0]).name,
            grace,
            running.in_flight,
        )
        stopper = threading.Thread(target=oq.stop_worker, kwargs={"grace_period": grace})
        stopper.start()
        while stopper.is_alive():
            stopper.join(0.2)
        lifecycle.stop()  # logs the last events of the stopped worker
        oq.close()
        _log.info("worker %s stopped", running.worker_id)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
