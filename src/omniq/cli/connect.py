"""Options shared by every command, and building an OmniQ instance from them.

Precedence is the library's: defaults < ``--config`` file < ``OMNIQ_*`` environment <
command-line flags.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from omniq.api import OmniQ
from omniq.backends.mixed import distinct_backends
from omniq.config.decode import config_from_dict
from omniq.config.env import env_layer
from omniq.config.layers import apply_overrides, merge_layers
from omniq.config.yaml_file import read_config_file
from omniq.exceptions import ConfigurationError
from omniq.models.config import OmniQConfig
from omniq.storage.interfaces import StoreProbe

__all__ = ["StoreOptions", "load_config", "open_omniq", "store_options", "unpickle_option"]

F = TypeVar("F", bound=Callable[..., Any])


class StoreOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Where the store is: the shared command-line options.

    Attributes:
        config: A YAML configuration file.
        backend: Backend type (``sqlite``, ``memory``).
        project: Project name.
        db_path: SQLite database file.
    """

    config: Path | None = None
    backend: str | None = None
    project: str | None = None
    db_path: Path | None = None


def store_options(command: F) -> F:
    """Add ``--config``, ``--backend``, ``--project``, ``--db-path`` and ``--debug``.

    The wrapped command receives them as one ``store`` argument (:class:`StoreOptions`).
    """

    @click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
    @click.option(
        "--db-path", type=click.Path(path_type=Path, dir_okay=False), help="SQLite database file."
    )
    @click.option("--project", "-p", help="Project name (default: OMNIQ_PROJECT_NAME).")
    @click.option("--backend", "-b", help="Backend type: sqlite (default) or memory.")
    @click.option(
        "--config",
        "-c",
        type=click.Path(path_type=Path, dir_okay=False),
        help="YAML configuration file (OMNIQ_* variables and flags win over it).",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        config: Path | None,
        backend: str | None,
        project: str | None,
        db_path: Path | None,
        debug: bool,
        **kwargs: Any,
    ) -> Any:
        store = StoreOptions(config=config, backend=backend, project=project, db_path=db_path)
        return command(*args, store=store, **kwargs)

    return wrapper  # type: ignore[return-value]


def load_config(store: StoreOptions, **overrides: Any) -> OmniQConfig:
    """The configuration from the file, the environment, the flags and ``overrides``.

    Args:
        store: The shared options.
        **overrides: More explicit settings (``queues``, ``worker_type``, ``worker_config``).

    Raises:
        ConfigurationError: A bad file, variable or flag, or no project name anywhere.
    """
    layers: list[Mapping[str, Any]] = []
    if store.config is not None:
        layers.append(read_config_file(store.config))
    layers.append(env_layer())
    explicit: dict[str, Any] = {
        "project_name": store.project,
        "backend_type": store.backend,
        **overrides,
    }
    if store.db_path is not None:
        explicit["task_queue"] = {"config": {"db_path": str(store.db_path)}}
    try:
        merged = apply_overrides(merge_layers(*layers), explicit, "omniq")
        if "project_name" not in merged and store.db_path is not None:
            merged["project_name"] = store.db_path.stem or "omniq"
        if "project_name" not in merged:
            raise ConfigurationError(
                "no project: pass --project NAME, set OMNIQ_PROJECT_NAME or give --config FILE"
            )
        return config_from_dict(merged)
    except ConfigurationError as exc:
        if store.config is None:
            raise
        raise type(exc)(f"{store.config}: {exc}") from exc


def open_omniq(store: StoreOptions, *, unpickle: bool = False) -> OmniQ:
    """An opened OmniQ on an existing store the options name (the caller closes it).

    Read and admin commands never create a store: a mistyped ``--db-path`` or
    ``--project`` is reported, not answered with an empty store. Only ``omniq worker`` (and
    the library) create one. They read the store to show it, never to run it: pickled
    arguments and results are shown as placeholders unless ``unpickle`` is set, and
    arguments that cannot be read are shown as unreadable (see
    :meth:`omniq.serialization.Serializer.for_display`).

    Args:
        store: The shared options.
        unpickle: Load pickled arguments and results (``--unpickle``): runs whatever code
            the store's pickles hold.

    Raises:
        ConfigurationError: The store does not exist, or lives only in this process (a
            memory store would always look empty).
    """
    oq = OmniQ.from_config(load_config(store))
    for backend in [] if oq.backend is None else distinct_backends(oq.backend):
        if not backend.capabilities.shared:
            raise ConfigurationError(
                f"{backend!r} lives only in the process that opened it: this command would "
                "show an empty store; give the store of your application (--db-path, "
                "--config or OMNIQ_*)"
            )
        if isinstance(backend, StoreProbe) and not backend.store_exists():
            raise ConfigurationError(
                f"no OmniQ store at {backend!r}: check --db-path, --project or the "
                "configuration (only omniq worker and the library create a store)"
            )
    oq.serializer = oq.serializer.for_display(unpickle=unpickle)
    return oq.open()


def unpickle_option(command: F) -> F:
    """Add ``--unpickle``: load pickled arguments and results to show them."""
    return click.option(
        "--unpickle",
        is_flag=True,
        help="Load pickled arguments and results to show them. Loading a pickle runs the "
        "code it holds: only for a store whose writers you trust.",
    )(command)
