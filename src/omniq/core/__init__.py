"""The core: the ``OmniQ`` facade and the policy it applies on top of the storage verbs."""

from omniq.core.omniq import DEFAULT_QUEUE, OmniQ

__all__ = ["DEFAULT_QUEUE", "OmniQ"]
