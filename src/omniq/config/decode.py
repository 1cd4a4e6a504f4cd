"""Plain data (a dict, parsed YAML, merged layers) -> a validated :class:`OmniQConfig`."""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from omniq.config.schema import SECTIONS, field_types, option_types, quoted
from omniq.config.text import EnvText, from_text
from omniq.config.validate import validate_config
from omniq.exceptions import ConfigurationError
from omniq.models.config import OmniQConfig

__all__ = ["config_from_dict"]

_AT = re.compile(r"(?s)(?P<text>.*?) - at `\$\.?(?P<path>.*)`")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")


def config_from_dict(data: object) -> OmniQConfig:
    """Build and validate a configuration from plain data.

    Args:
        data: A mapping shaped like :class:`OmniQConfig` (values from the environment may be
            :class:`~omniq.config.text.EnvText`, converted here with the model's types).

    Returns:
        The validated configuration.

    Raises:
        ConfigurationError: Unknown key, bad type or bad value; the message starts with the
            key path (``task_queue.type: ...``).
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"the configuration is a {type(data).__name__}: expected a mapping of settings"
        )
    _check_keys(data, OmniQConfig, "")
    plain = _coerce(data, OmniQConfig, "")
    try:
        config = msgspec.convert(plain, OmniQConfig)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(_translate(str(exc))) from None
    validate_config(config)
    return config


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The struct type in ``annotation`` (``X`` or ``X | None``), if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _check_keys(data: Mapping[Any, Any], model: type[msgspec.Struct], path: str) -> None:
    fields = field_types(model)
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str):
            raise ConfigurationError(f"{where}: key {key!r} is not a string")
        if key not in fields:
            raise ConfigurationError(f"{where}: unknown key; allowed: {quoted(fields)}")
        nested = _struct_of(fields[key])
        if nested is not None and isinstance(value, Mapping):
            _check_keys(value, nested, where)


def _coerce(value: Any, annotation: Any, path: str) -> Any:
    """Copy ``value`` as plain data, converting :class:`EnvText` to the expected types."""
    struct = _struct_of(annotation)
    if struct is not None and isinstance(value, Mapping):
        types = field_types(struct)
        result: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key == "config" and path in SECTIONS and isinstance(item, Mapping):
                kind = value.get("type", getattr(struct(), "type", None))
                options = option_types(path, str(kind))
                result[key] = {
                    name: _coerce(option, options.get(name, Any), f"{where}.{name}")
                    for name, option in item.items()
                }
            else:
                result[key] = _coerce(item, types.get(key, Any), where)
        return result
    if isinstance(value, EnvText):
        return from_text(value, annotation, path)
    if isinstance(value, Mapping):
        return {key: _coerce(item, Any, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_coerce(item, Any, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def _translate(message: str) -> str:
    """A msgspec validation message, rewritten as ``path: problem``."""
    path = ""
    found = _AT.fullmatch(message)
    if found is not None:
        message, path = found["text"], found["path"]
    missing = _MISSING.fullmatch(message)
    if missing is not None:
        name = f"{path}.{missing['name']}" if path else missing["name"]
        return f"{name}: required key is missing"
    problem = message[:1].lower() + message[1:]
    return f"{path}: {problem}" if path else problem
