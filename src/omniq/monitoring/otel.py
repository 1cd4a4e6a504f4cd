"""Whether OpenTelemetry's API is installed: checked once, without importing it.

Everything that traces asks :data:`AVAILABLE` first. When ``opentelemetry-api`` is not
installed (no ``omniq[otel]``), it is ``False`` and the tracing hooks are not even wrapped
around the enqueue methods: no import, no per-call cost. When it is installed, the API is
imported on first use; with no SDK configured its spans are no-ops.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Final

from omniq.exceptions import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["AVAILABLE", "SYSTEM", "set_tracer_provider", "tracer"]

#: ``messaging.system`` of every span OmniQ makes.
SYSTEM: Final = "omniq"


def _installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):  # no ``opentelemetry`` package at all
        return False


#: Whether ``opentelemetry-api`` can be imported (decided once, at import).
AVAILABLE: Final = _installed()


_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def tracer() -> Tracer:
    """OmniQ's tracer, from the provider given to :func:`set_tracer_provider`.

    Without one, from the global provider (a proxy that follows
    ``opentelemetry.trace.set_tracer_provider``).
    """
    global _tracer
    if _tracer is None:
        from opentelemetry import trace

        from omniq._version import __version__

        _tracer = trace.get_tracer("omniq", __version__, tracer_provider=_provider)
    return _tracer


def set_tracer_provider(provider: TracerProvider | None) -> None:
    """Make OmniQ's spans with ``provider`` instead of the global tracer provider.

    For applications that keep a provider of their own rather than setting the global one
    (``opentelemetry.trace.set_tracer_provider``), as instrumentations' ``tracer_provider=``
    options do. The trace context is still written and read by the global propagator.

    Args:
        provider: An OpenTelemetry ``TracerProvider``, or ``None`` for the global one.

    Raises:
        MissingDependencyError: ``opentelemetry-api`` is not installed.
        ConfigurationError: ``provider`` is not a ``TracerProvider``.
    """
    global _provider, _tracer
    if not AVAILABLE:
        from omniq.exceptions import MissingDependencyError

        raise MissingDependencyError(
            "tracing needs opentelemetry-api, which is not installed: pip install 'omniq[otel]'"
        )
    from opentelemetry.trace import TracerProvider

    if provider is not None and not isinstance(provider, TracerProvider):
        raise ConfigurationError(
            f"provider {provider!r} is not valid: expected an OpenTelemetry TracerProvider or None"
        )
    _provider, _tracer = provider, None
