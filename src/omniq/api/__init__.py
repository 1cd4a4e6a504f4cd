"""The public API: the ``OmniQ`` facade and its method groups, on top of workers and policy."""

from omniq.api.omniq import DEFAULT_QUEUE, OmniQ
from omniq.core.task_builder import EnqueueOptions

__all__ = ["DEFAULT_QUEUE", "EnqueueOptions", "OmniQ"]
