"""What a project name may be: it names files, schemas, key prefixes and streams."""

from __future__ import annotations

import re

from omniq.exceptions import ConfigurationError

__all__ = ["validate_project_name"]

_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def validate_project_name(project_name: object) -> str:
    """Return ``project_name`` if it is a usable name, else raise.

    Args:
        project_name: The value to check.

    Returns:
        The name, unchanged.

    Raises:
        ConfigurationError: It is not a string of letters, digits, ``_``, ``.`` or ``-``
            (starting with a letter or digit, at most 128 characters).
    """
    if not isinstance(project_name, str) or not _PROJECT_NAME.fullmatch(project_name):
        raise ConfigurationError(
            f"project_name {project_name!r} is not valid: expected 1-128 characters of "
            "letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return project_name
