"""The one precedence rule: defaults < file < environment < explicit arguments.

Each source gives a partial mapping (a *layer*); layers are merged key by key, recursively,
the later winning. Lists are replaced, not concatenated. When a layer changes the ``type`` of
a storage section (task queue, result or event store), that section's ``config`` from the
earlier layers is dropped: backend options belong to the old backend. The model's defaults
fill whatever no layer sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from omniq.config.schema import ROLES, field_types, quoted
from omniq.exceptions import ConfigurationError
from omniq.models.config import OmniQConfig

__all__ = ["apply_overrides", "merge_layers"]

#: Keyword arguments named like OmniQ's constructor -> where they go in the config.
ALIASES = {
    "backend_type": ("task_queue", "type"),
    "queues": ("task_queue", "config", "queues"),
    "worker_type": ("worker", "type"),
    "worker_config": ("worker", "config"),
}


def merge_layers(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge partial configurations, each winning over the ones before it.

    Args:
        *layers: Partial configuration mappings, lowest precedence first.

    Returns:
        The merged mapping (the inputs are not modified).
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, layer, "")
    return merged


def _merge(base: Mapping[str, Any], over: Mapping[str, Any], path: str) -> dict[str, Any]:
    result = dict(base)
    if path in ROLES and "type" in over and base.get("type", over["type"]) != over["type"]:
        result.pop("config", None)
    for key, value in over.items():
        old = result.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            result[key] = _merge(old, value, f"{path}.{key}" if path else key)
        else:
            result[key] = value
    return result


def apply_overrides(
    base: Mapping[str, Any], overrides: Mapping[str, Any], what: str = "overrides"
) -> dict[str, Any]:
    """Merge keyword overrides (the explicit-arguments layer) over ``base``.

    Accepted: the config's top-level keys (``project_name``, ``task_queue``, ``worker``...;
    a section given as a mapping is merged into the lower layers', given as a config object
    it replaces the section) and OmniQ's constructor names ``backend_type``
    (the type of the task queue, and of the result and event stores where they are set),
    ``queues``, ``worker_type`` and ``worker_config``. ``None`` means "not given".

    Args:
        base: The merged lower layers.
        overrides: The keyword arguments.
        what: Name of the caller, for error messages.

    Returns:
        The merged mapping.

    Raises:
        ConfigurationError: An unknown keyword.
    """
    allowed = {*field_types(OmniQConfig), *ALIASES}
    merged = dict(base)
    # Constructor names first, so a section given in full wins over e.g. backend_type.
    for key in sorted(overrides, key=lambda name: name not in ALIASES):
        value = overrides[key]
        if key not in allowed:
            raise ConfigurationError(
                f"{what} got an unexpected keyword argument {key!r}; allowed: {quoted(allowed)}"
            )
        if value is None:
            continue
        if isinstance(value, msgspec.Struct):
            merged[key] = msgspec.to_builtins(value, enc_hook=str)
            continue
        layer: Any = value
        for part in reversed(ALIASES.get(key, (key,))):
            layer = {part: layer}
        merged = _merge(merged, layer, "")
        if key == "backend_type":
            for role in ("result_store", "event_store"):
                if isinstance(merged.get(role), Mapping):
                    merged = _merge(merged, {role: {"type": value}}, "")
    return merged
