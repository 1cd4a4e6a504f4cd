"""The embedded default backend: everything in one SQLite file, shared safely by processes."""

from omniq.backends.sqlite.backend import SQLiteBackend
from omniq.backends.sqlite.paths import data_dir, default_db_path

__all__ = ["SQLiteBackend", "data_dir", "default_db_path"]
