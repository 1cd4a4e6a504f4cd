"""The file layer: a YAML configuration file, with optional ``${VAR}`` substitution."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from omniq.config.text import EnvText
from omniq.exceptions import ConfigurationError

__all__ = ["read_config_file", "substitute"]

_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def read_config_file(path: str | Path, env_vars: bool = False) -> dict[str, Any]:
    """Read a YAML configuration file into a mapping.

    Args:
        path: The file.
        env_vars: Replace ``${VAR}`` and ``${VAR:-default}`` in string values by the
            environment variable (or the default when it is unset).

    Returns:
        The parsed mapping (empty for an empty file).

    Raises:
        ConfigurationError: The file is missing or unreadable, the YAML is malformed (the
            message gives the line and column), the document is not a mapping, or a
            referenced variable is unset and has no default.
    """
    if not isinstance(path, str | Path):
        raise ConfigurationError(f"config_path {path!r} is not a str or pathlib.Path")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{file}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{file}: cannot read the configuration file: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise ConfigurationError(f"{file}{_describe(exc)}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{file}: malformed YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"{file}: the document is a {type(data).__name__}: expected a mapping of settings"
        )
    if env_vars:
        try:
            data = substitute(data, "", os.environ)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{file}: {exc}") from None
    return dict(data)


def _describe(exc: yaml.MarkedYAMLError) -> str:
    """``, line L, column C: malformed YAML: <context> (line, column): <problem>``."""

    def where(mark: Any) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}"

    mark = exc.problem_mark or exc.context_mark
    text = "" if mark is None else f", {where(mark)}"
    context = exc.context or ""
    if context and exc.context_mark is not None and exc.context_mark is not mark:
        context += f" ({where(exc.context_mark)})"
    problem = ": ".join(part for part in (context, exc.problem) if part)
    return f"{text}: malformed YAML: {problem}"


def substitute(value: Any, path: str, environ: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in the string values of ``value``.

    A string that contained a reference becomes :class:`EnvText`, so it is converted with the
    model's types like an environment variable (``max_workers: ${WORKERS}`` gives an int).

    Args:
        value: Parsed YAML.
        path: Key path of ``value``, for error messages.
        environ: The variables.

    Returns:
        A copy with the references replaced.

    Raises:
        ConfigurationError: A referenced variable is unset and has no default, or a ``${``
            does not start a valid reference.
    """
    if isinstance(value, Mapping):
        return {
            key: substitute(item, f"{path}.{key}" if path else str(key), environ)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [substitute(item, f"{path}[{index}]", environ) for index, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        names.append(name)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigurationError(
            f"{path}: environment variable {name!r} is not set and has no default "
            f"(write ${{{name}:-default}} to give one)"
        )

    result = _REFERENCE.sub(replace, value)
    if "${" in _REFERENCE.sub("", value):
        raise ConfigurationError(
            f"{path}: {value!r} has a malformed reference: expected ${{NAME}} or ${{NAME:-default}}"
        )
    return EnvText(result, ", ".join(f"${{{name}}}" for name in names))
