"""The PostgreSQL backend (``backend_type="postgres"``, ``pip install 'omniq[postgres]'``)."""

from omniq.backends.postgres.backend import PostgresBackend

__all__ = ["PostgresBackend"]
