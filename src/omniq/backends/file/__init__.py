"""The file backend: a queue, results and JSON events in a directory, in memory or a bucket."""

from omniq.backends.file.backend import FileBackend

__all__ = ["FileBackend"]
