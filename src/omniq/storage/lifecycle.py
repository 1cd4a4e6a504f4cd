"""The context-manager protocol every backend shares, built on its open/close methods."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["BackendLifecycle"]


class BackendLifecycle:
    """``with`` / ``async with`` support for a class with ``initialize`` and ``close``.

    Entering initializes (sync or async) and returns the instance; leaving closes it.
    """

    def initialize(self) -> None:  # pragma: no cover - provided by the backend
        """Create or open the store."""
        raise NotImplementedError

    async def initialize_async(self) -> None:  # pragma: no cover - provided by the backend
        """Async twin of :meth:`initialize`."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - provided by the backend
        """Release the store."""
        raise NotImplementedError

    async def close_async(self) -> None:  # pragma: no cover - provided by the backend
        """Async twin of :meth:`close`."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.initialize()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await self.initialize_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close_async()
