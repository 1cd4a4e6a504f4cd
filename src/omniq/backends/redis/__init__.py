"""The Redis backend (``backend_type="redis"``, ``pip install 'omniq[redis]'``)."""

from omniq.backends.redis.backend import RedisBackend

__all__ = ["RedisBackend"]
