"""The NATS JetStream backend (``pip install 'omniq[nats]'``)."""

from omniq.backends.nats.backend import NATSBackend

__all__ = ["NATSBackend"]
