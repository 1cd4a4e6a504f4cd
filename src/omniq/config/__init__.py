"""Loading configuration: objects, dictionaries, YAML files and environment variables.

Every loader returns one validated :class:`~omniq.models.config.OmniQConfig`; the ``OmniQ``
class methods (``from_config``, ``from_config_dict``, ``from_config_file``, ``from_env``)
build an instance from it.

**Precedence** -- one rule: *defaults < file < environment < explicit arguments*.

* :func:`load_config_file` merges the file, then the ``OMNIQ_*`` environment variables, then
  its keyword overrides; the model's defaults fill the rest.
* :func:`load_config_env` reads only the environment (over the defaults).
* :func:`load_config_dict` and ``OmniQ.from_config`` take what they are given (explicit
  arguments): the environment is not consulted.

Sections are merged key by key (``OMNIQ_WORKER_CONFIG_MAX_WORKERS=8`` changes only
``max_workers`` of the file's ``worker.config``); a layer that changes a section's ``type``
drops the ``config`` the earlier layers gave that section.

Every error is a :class:`~omniq.exceptions.ConfigurationError` whose message starts with the
key path of the bad setting (and the file, for files), e.g.
``config.yaml: task_queue.type: 'sqlit' is not one of 'file', 'memory', 'nats', 'postgres',
'redis', 'sqlite'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omniq.config.decode import config_from_dict
from omniq.config.env import env_layer
from omniq.config.layers import apply_overrides, merge_layers
from omniq.config.yaml_file import read_config_file
from omniq.exceptions import ConfigurationError
from omniq.models.config import OmniQConfig

__all__ = [
    "check_config",
    "load_config_dict",
    "load_config_env",
    "load_config_file",
]


def load_config_dict(config: Mapping[str, Any]) -> OmniQConfig:
    """Validate a configuration dictionary (shaped like the YAML file).

    Args:
        config: The settings.

    Returns:
        The configuration.

    Raises:
        ConfigurationError: Unknown key, bad type or value; the message names its key path.
    """
    return config_from_dict(config)


def load_config_file(
    config_path: str | Path,
    env_vars: bool = False,
    *,
    env_prefix: str | None = "OMNIQ_",
    **overrides: Any,
) -> OmniQConfig:
    """Load a YAML file, then the environment, then ``overrides`` over it.

    Args:
        config_path: The YAML file.
        env_vars: Replace ``${VAR}`` / ``${VAR:-default}`` in the file's values.
        env_prefix: Prefix of the environment variables layered over the file (``None``:
            no environment layer).
        **overrides: Explicit settings, winning over file and environment: top-level keys
            (``project_name``, ``worker={...}``...) or OmniQ's constructor names
            (``backend_type``, ``queues``, ``worker_type``, ``worker_config``).

    Returns:
        The configuration.

    Raises:
        ConfigurationError: Missing file, malformed YAML (with its line), unset variable,
            unknown key, bad type or value; the message starts with the file name.
    """
    layers = [read_config_file(config_path, env_vars)]
    if env_prefix is not None:
        layers.append(env_layer(env_prefix))
    try:
        merged = apply_overrides(merge_layers(*layers), overrides, "from_config_file")
        return config_from_dict(merged)
    except ConfigurationError as exc:
        raise type(exc)(f"{config_path}: {exc}") from exc


def load_config_env(prefix: str = "OMNIQ_") -> OmniQConfig:
    """Load the configuration from environment variables (see :mod:`omniq.config.env`).

    Args:
        prefix: Prefix of the variable names.

    Returns:
        The configuration.

    Raises:
        ConfigurationError: A bad variable; the message names it. ``project_name`` is
            required (``OMNIQ_PROJECT_NAME``).
    """
    layer = env_layer(prefix)
    if "project_name" not in layer:
        raise ConfigurationError(f"project_name: required: set {prefix}PROJECT_NAME")
    return config_from_dict(layer)


def check_config(config: object) -> OmniQConfig:
    """Validate a configuration object (which the constructor of a model does not do).

    Args:
        config: An :class:`OmniQConfig`.

    Returns:
        A validated copy (values converted to plain data, e.g. paths to strings).

    Raises:
        ConfigurationError: ``config`` is not an OmniQConfig, or a setting is bad.
    """
    if not isinstance(config, OmniQConfig):
        raise ConfigurationError(
            f"config {config!r} is not an OmniQConfig (use from_config_dict for a dict)"
        )
    try:
        data = config.to_dict()
    except (NotImplementedError, TypeError) as exc:
        raise ConfigurationError(f"config: {exc}") from exc
    return config_from_dict(data)
