"""The environment of the processes tests start: the caller's, without its OmniQ settings.

A developer's shell may export ``OMNIQ_SECRET_KEY``, ``OMNIQ_PROJECT_NAME``... A child
``omniq`` process would take them (the environment layer of the configuration) while the test
process, which builds its instances from explicit arguments, does not: the two would disagree
about the store. Each test gives its children the ``OMNIQ_*`` variables it means them to have.
"""

from __future__ import annotations

import os

__all__ = ["child_environment"]


def child_environment(**extra: str) -> dict[str, str]:
    """``os.environ`` without any ``OMNIQ_*`` variable, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMNIQ_")}
    env.update(extra)
    return env
