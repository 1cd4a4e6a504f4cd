"""``omniq worker``: run a worker in the foreground until SIGTERM or SIGINT.

The first signal stops claiming and lets running tasks finish within ``--grace`` seconds;
what is still running then is interrupted and released for another worker, and the process
exits 0. A body running in a thread cannot be interrupted: the process keeps its lease and
waits for it to end (and records its outcome) before it exits. A
second signal exits at once (exit code 130): the leases of running tasks lapse and another
worker runs them again.

``--type gevent`` needs the standard library monkey-patched before anything imports it,
which is too late once ``omniq`` runs: the command then replaces itself (``os.execv``, same
pid, same arguments) with an interpreter that patches first and runs the same command.
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

from omniq.api import OmniQ
from omniq.cli.connect import StoreOptions, load_config, store_options
from omniq.cli.task_log import EventLogger
from omniq.config.build import build_backend, queues_of
from omniq.exceptions import ConfigurationError
from omniq.workers.gevent_main import patched, reexec_patched

__all__ = ["worker"]

_log = logging.getLogger("omniq.cli")


#: What the re-executed interpreter runs: patch, then the same ``omniq`` command line.
_GEVENT_BOOT = (
    "from gevent import monkey; monkey.patch_all(); "
    "import sys; from omniq.cli import main; sys.exit(main())"
)
#: Greenlets running bodies at once when neither --concurrency nor the config says.
GEVENT_CONCURRENCY = 100


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
    help="Queues in service order, e.g. high,low (default: the configured queues; with "
    "none configured, every queue that holds tasks; 'default' is always served).",
)
@click.option(
    "--type",
    "worker_type",
    help="thread_pool (default), async, process_pool or gevent (re-executes itself "
    "monkey-patched; --concurrency defaults to 100 greenlets).",
)
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
    "--metrics-port",
    type=int,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port, logged); "
    "needs omniq[metrics].",
)
@click.option(
    "--metrics-host",
    help="Address the metrics server listens on (default 127.0.0.1; 0.0.0.0 for a "
    "Prometheus on another host).",
)
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
    metrics_port: int | None,
    metrics_host: str | None,
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
        ("metrics_port", metrics_port),
        ("metrics_host", metrics_host),
    ):
        if value is not None:
            worker_config[key] = value
    names = None if queues is None else [q.strip() for q in queues.split(",") if q.strip()]
    config = load_config(store, queues=names, worker_type=worker_type, worker_config=worker_config)
    settings = dict(config.worker.config)
    if queues_of(config) is None:
        # Nothing says which queues: serve every queue producers use, not only "default".
        settings.setdefault("all_queues", True)
    if config.worker.type == "gevent":
        if not patched():
            reexec_patched(_GEVENT_BOOT, sys.argv[1:])  # does not return
        settings.setdefault("max_workers", GEVENT_CONCURRENCY)
    backend = build_backend(config)
    oq = OmniQ(
        config.project_name,
        backend=backend,
        queues=queues_of(config),
        worker_type=config.worker.type,
        worker_config=settings,
        strict_serialization=config.strict_serialization,
        secret_key=config.secret_key,
        allowed_modules=config.allowed_modules,
    )
    try:
        _run(oq, grace)
    finally:
        backend.close()
    # Bodies left running after a second signal run in daemon threads, which end with the
    # process; their leases lapse and other workers run those tasks again.


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
        # The log's position is taken before the worker starts: its first tasks are logged.
        lifecycle = EventLogger(
            oq, None, on_error=lambda exc: _log.warning("reading the event log failed: %s", exc)
        )
        oq.start_worker()
        running = oq.worker
        assert running is not None
        lifecycle.start(running.worker_id)
        _log.info(
            "worker %s ready: queues %s, store %s",
            running.worker_id,
            ",".join(running.queues())
            + (" and every queue that holds tasks" if running.all_queues else ""),
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
        if running.keeping_leases:
            _log.info(
                "waiting for task bodies running in threads, which cannot be interrupted: "
                "their leases are kept until they end (signal again to stop at once)"
            )
            pause = threading.Event()  # never set: a timed wait that lets signals in
            while running.keeping_leases:
                pause.wait(0.2)
        lifecycle.stop()  # logs the last events of the stopped worker
        oq.close()
        _log.info("worker %s stopped", running.worker_id)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
