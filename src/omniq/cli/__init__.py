"""The ``omniq`` command: run workers, see and steer what a store holds.

Every command is a thin layer over a public :class:`omniq.OmniQ` method. Bad input ends
with one ``omniq: error: ...`` line on stderr and a non-zero exit (1 for OmniQ errors, 2 for
bad usage), never a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

from omniq.cli.app import cli, main

__all__ = ["cli", "main"]
