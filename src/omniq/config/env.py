"""The environment layer: ``OMNIQ_*`` variables as a (partial) configuration mapping.

Names follow the config's key paths, upper-cased and joined by ``_`` after the prefix::

    OMNIQ_PROJECT_NAME=my_project
    OMNIQ_TASK_QUEUE_TYPE=sqlite
    OMNIQ_TASK_QUEUE_CONFIG_QUEUES=high,medium,low     -> task_queue.config.queues
    OMNIQ_TASK_QUEUE_CONFIG_DB_PATH=/data/q.db         -> task_queue.config.db_path
    OMNIQ_RESULT_STORE_TYPE=memory
    OMNIQ_WORKER_CONFIG_MAX_WORKERS=4
    OMNIQ_TASK_DEFAULTS_MAX_RETRIES=5
    OMNIQ_LOGGING_LEVEL=INFO

Values stay text (:class:`~omniq.config.text.EnvText`) until the layers are merged, then get
the model's types. A variable under a section's prefix that names no setting is an error;
other ``OMNIQ_*`` variables (e.g. ``OMNIQ_HOME``, read by the SQLite backend) are not
configuration keys and are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

from omniq.config.schema import SECTIONS, field_types
from omniq.config.text import EnvText
from omniq.exceptions import ConfigurationError
from omniq.models.config import LoggingConfig, OmniQConfig, TaskDefaultsConfig

__all__ = ["env_layer"]

_FLAT_SECTIONS: dict[str, type[msgspec.Struct]] = {
    "task_defaults": TaskDefaultsConfig,
    "logging": LoggingConfig,
}


def env_layer(prefix: str = "OMNIQ_", environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the configuration keys set in the environment.

    Args:
        prefix: Prefix of the variable names.
        environ: The variables (default: ``os.environ``).

    Returns:
        A partial configuration mapping whose values are :class:`EnvText`.

    Raises:
        ConfigurationError: A variable under a section's prefix names no setting.
    """
    if not isinstance(prefix, str):
        raise ConfigurationError(f"prefix {prefix!r} is not a string")
    environ = os.environ if environ is None else environ
    layer: dict[str, Any] = {}
    scalars = {
        name
        for name in field_types(OmniQConfig)
        if name not in SECTIONS and name not in _FLAT_SECTIONS
    }
    for variable in sorted(environ):
        if not variable.startswith(prefix):
            continue
        rest = variable[len(prefix) :]
        value = EnvText(environ[variable], f"${variable}")
        if rest.lower() in scalars:
            layer[rest.lower()] = value
            continue
        for section in (*SECTIONS, *_FLAT_SECTIONS):
            head = f"{section.upper()}_"
            if rest.startswith(head):
                _set(layer.setdefault(section, {}), section, rest[len(head) :], value, variable)
                break
    return layer


def _set(target: dict[str, Any], section: str, key: str, value: EnvText, variable: str) -> None:
    start = variable[: len(variable) - len(key)]
    if section in _FLAT_SECTIONS:
        allowed = list(field_types(_FLAT_SECTIONS[section]))
        if key.lower() in allowed:
            target[key.lower()] = value
            return
        names = ", ".join(f"{start}{name.upper()}" for name in allowed)
    else:
        if key == "TYPE":
            target["type"] = value
            return
        if key.startswith("CONFIG_") and len(key) > len("CONFIG_"):
            target.setdefault("config", {})[key[len("CONFIG_") :].lower()] = value
            return
        names = f"{start}TYPE, {start}CONFIG_<OPTION>"
    raise ConfigurationError(f"{variable}: names no setting of {section}; expected {names}")
