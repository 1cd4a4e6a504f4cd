"""Stores on fsspec filesystems: ``memory://``, S3 (conditional writes) and any other.

* :class:`MemoryStore`: fsspec's memory filesystem is one dictionary per *process*, so one
  process-wide lock makes every verb atomic; several backends of one process on the same
  ``memory://`` path share it, other processes never see it.
* :class:`S3Store`: exclusive create is a ``PutObject`` with ``If-None-Match: *``,
  compare-and-swap one with ``If-Match: <ETag>`` (AWS S3 since 2024, MinIO, moto). When
  the endpoint ignores them (checked when the store opens), the store is marked not
  exclusive and the backend allows one worker only.
* :class:`FsspecStore`: any other fsspec filesystem (``gs://``, ``az://``...): writes are
  atomic per object, but create-if-absent and compare-and-swap are a read then a write, so
  the store is not exclusive (one worker only).
"""

from __future__ import annotations

import datetime
import socket
import threading
import time
import urllib.parse
import uuid
from typing import Any

from omniq.backends.file.store import Guarantees, ObjectStore, Versioned
from omniq.exceptions import BackendError

__all__ = ["FsspecStore", "MemoryStore", "S3Store"]

#: fsspec's memory filesystem is process-global: so is the lock that makes its verbs atomic.
_MEMORY_LOCK = threading.RLock()


class FsspecStore(ObjectStore):
    """An :class:`ObjectStore` on any fsspec filesystem, without cross-process exclusivity.

    Args:
        fs: The filesystem.
        root: The project's directory on it (no protocol, no trailing ``/``).
        location: Where it is, for messages (secrets masked).
    """

    def __init__(self, fs: Any, root: str, location: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.location = location
        scheme = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.guarantees = Guarantees(
            shared=True, exclusive=False, atomic_rename=False, durable=True, scheme=scheme
        )

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def _error(self, action: str, key: str, exc: Exception) -> BackendError:
        return BackendError(
            f"cannot {action} {key!r} in {self.location}: {type(exc).__name__}: {exc}"
        )

    def open(self) -> None:
        """Write and delete a probe file under the root."""
        probe = f".probe-{uuid.uuid4().hex}"
        try:
            self.fs.pipe_file(self._path(probe), b"")
            self.fs.rm_file(self._path(probe))
        except Exception as exc:
            raise self._error("write", probe, exc) from exc

    def read(self, key: str) -> Versioned | None:
        """The file's bytes (also its version token)."""
        try:
            data = bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._error("read", key, exc) from exc
        return Versioned(data, data)

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        try:
            return bool(self.fs.isfile(self._path(key)))
        except Exception as exc:
            raise self._error("look up", key, exc) from exc

    def age(self, key: str) -> float | None:
        """Seconds since the object was written (its ``LastModified``, ``created``...)."""
        try:
            info = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._error("look up", key, exc) from exc
        for field in ("LastModified", "last_modified", "created", "mtime"):
            value = info.get(field)
            if isinstance(value, datetime.datetime):
                return time.time() - value.timestamp()
            if isinstance(value, int | float):
                return time.time() - float(value)
        return None

    def list(self, prefix: str) -> list[str]:
        """Sorted names directly under ``prefix``."""
        path = self._path(prefix)
        try:
            found = self.fs.ls(path, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise self._error("list", prefix, exc) from exc
        start = len(path) + 1
        return sorted({name.rstrip("/")[start:] for name in found if len(name) > start})

    def create(self, key: str, data: bytes, dirty: set[str], *, sync: bool = True) -> bool:
        """Write if absent (a read, then a write: not exclusive across processes)."""
        if self.exists(key):
            return False
        self.put(key, data, dirty)
        return True

    def swap(self, key: str, data: bytes, token: object, dirty: set[str]) -> bool:
        """Write if unchanged (a read, then a write: not exclusive across processes)."""
        current = self.read(key)
        if current is None or current.token != token:
            return False
        self.put(key, data, dirty)
        return True

    def put(self, key: str, data: bytes, dirty: set[str]) -> None:
        """Write the whole object."""
        try:
            self.fs.pipe_file(self._path(key), data)
        except Exception as exc:
            raise self._error("write", key, exc) from exc

    def delete(self, key: str, dirty: set[str], token: object | None = None) -> bool:
        """Delete (after comparing the version, when given)."""
        if token is not None:
            current = self.read(key)
            if current is None or current.token != token:
                return False
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._error("delete", key, exc) from exc
        return True

    def touch(self, key: str, dirty: set[str]) -> None:
        """Write an empty object."""
        self.put(key, b"", dirty)

    def move(self, source: str, target: str, dirty: set[str]) -> bool:
        """Copy, then delete the source (not exclusive)."""
        current = self.read(source)
        if current is None:
            return False
        self.put(target, current.data, dirty)
        return self.delete(source, dirty)

    def prune(self, prefix: str) -> None:
        """Object stores have no directories to remove."""

    def flush(self, dirty: set[str]) -> None:
        """Each write is durable when it returns."""


class MemoryStore(FsspecStore):
    """fsspec's process-global memory filesystem, every verb under one process-wide lock."""

    def __init__(self, fs: Any, root: str, location: str) -> None:
        super().__init__(fs, root, location)
        self.guarantees = Guarantees(
            shared=False, exclusive=True, atomic_rename=True, durable=False, scheme="memory"
        )

    def open(self) -> None:
        """Nothing can fail in memory."""

    def read(self, key: str) -> Versioned | None:
        """The file's bytes (also its version token)."""
        with _MEMORY_LOCK:
            return super().read(key)

    def list(self, prefix: str) -> list[str]:
        """Sorted names directly under ``prefix``."""
        with _MEMORY_LOCK:
            return super().list(prefix)

    def create(self, key: str, data: bytes, dirty: set[str], *, sync: bool = True) -> bool:
        """Write if absent, atomically (under the process-wide lock)."""
        with _MEMORY_LOCK:
            return super().create(key, data, dirty, sync=sync)

    def swap(self, key: str, data: bytes, token: object, dirty: set[str]) -> bool:
        """Write if unchanged, atomically."""
        with _MEMORY_LOCK:
            return super().swap(key, data, token, dirty)

    def put(self, key: str, data: bytes, dirty: set[str]) -> None:
        """Write the whole file."""
        with _MEMORY_LOCK:
            super().put(key, data, dirty)

    def delete(self, key: str, dirty: set[str], token: object | None = None) -> bool:
        """Delete, atomically."""
        with _MEMORY_LOCK:
            return super().delete(key, dirty, token)

    def move(self, source: str, target: str, dirty: set[str]) -> bool:
        """Move, atomically: of several movers of one source, one succeeds."""
        with _MEMORY_LOCK:
            return super().move(source, target, dirty)


class S3Store(FsspecStore):
    """S3 through s3fs, with conditional writes for exclusive create and compare-and-swap.

    Args:
        fs: An ``s3fs.S3FileSystem``.
        root: ``bucket/prefix/project``.
        location: Where it is, for messages.
    """

    def __init__(self, fs: Any, root: str, location: str) -> None:
        super().__init__(fs, root, location)
        self.bucket, _, self.prefix = self.root.partition("/")
        self.guarantees = Guarantees(
            shared=True, exclusive=True, atomic_rename=False, durable=True, scheme="s3"
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.fs.call_s3(method, Bucket=self.bucket, **kwargs)

    def open(self) -> None:
        """Check the bucket is writable and that the endpoint honours ``If-None-Match``."""
        self._reachable()
        probe = f".probe-{uuid.uuid4().hex}"
        try:
            self._call("put_object", Key=self._key(probe), Body=b"", IfNoneMatch="*")
            try:
                self._call("put_object", Key=self._key(probe), Body=b"", IfNoneMatch="*")
                honoured = False
            except FileExistsError:
                honoured = True
            self._call("delete_object", Key=self._key(probe))
        except FileNotFoundError as exc:
            raise BackendError(
                f"cannot use {self.location}: bucket {self.bucket!r} does not exist ({exc})"
            ) from exc
        except PermissionError as exc:
            raise BackendError(
                f"cannot use {self.location}: access to bucket {self.bucket!r} was denied "
                f"(check the credentials in storage_options): {exc}"
            ) from exc
        except Exception as exc:
            raise self._error("write", probe, exc) from exc
        if not honoured:
            self.guarantees = Guarantees(
                shared=True, exclusive=False, atomic_rename=False, durable=True, scheme="s3"
            )

    def _reachable(self) -> None:
        """Fail fast (not after the client's retries) when the endpoint refuses connections."""
        endpoint = getattr(self.fs, "endpoint_url", None) or (
            getattr(self.fs, "client_kwargs", None) or {}
        ).get("endpoint_url")
        if not endpoint:
            return
        parts = urllib.parse.urlsplit(str(endpoint))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "localhost", port), timeout=5.0):
                pass
        except OSError as exc:
            raise BackendError(
                f"cannot use {self.location}: cannot connect to the endpoint ({exc})"
            ) from exc

    def read(self, key: str) -> Versioned | None:
        """The object's bytes and ETag, in one request."""
        from fsspec.asyn import sync

        async def get() -> tuple[bytes, str]:
            response = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            try:
                data: bytes = await body.read()
            finally:
                body.close()
            return data, str(response["ETag"])

        try:
            data, etag = sync(self.fs.loop, get)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._error("read", key, exc) from exc
        return Versioned(data, etag)

    def exists(self, key: str) -> bool:
        """A ``HeadObject``."""
        try:
            self._call("head_object", Key=self._key(key))
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._error("look up", key, exc) from exc
        return True

    def create(self, key: str, data: bytes, dirty: set[str], *, sync: bool = True) -> bool:
        """``PutObject`` with ``If-None-Match: *``."""
        try:
            self._call("put_object", Key=self._key(key), Body=data, IfNoneMatch="*")
        except FileExistsError:
            return False
        except OSError as exc:
            if _conflict(exc):  # a concurrent conditional write of the same key
                return False
            raise self._error("write", key, exc) from exc
        except Exception as exc:
            raise self._error("write", key, exc) from exc
        return True

    def swap(self, key: str, data: bytes, token: object, dirty: set[str]) -> bool:
        """``PutObject`` with ``If-Match: <ETag read>``."""
        try:
            self._call("put_object", Key=self._key(key), Body=data, IfMatch=str(token))
        except FileNotFoundError:
            return False
        except OSError as exc:
            if _conflict(exc) or _precondition(exc):
                return False
            raise self._error("write", key, exc) from exc
        except Exception as exc:
            raise self._error("write", key, exc) from exc
        return True

    def put(self, key: str, data: bytes, dirty: set[str]) -> None:
        """``PutObject``."""
        try:
            self._call("put_object", Key=self._key(key), Body=data)
        except Exception as exc:
            raise self._error("write", key, exc) from exc

    def delete(self, key: str, dirty: set[str], token: object | None = None) -> bool:
        """``DeleteObject`` (with ``If-Match`` when a version is given)."""
        extra = {} if token is None else {"IfMatch": str(token)}
        try:
            if token is None and not self.exists(key):
                return False
            self._call("delete_object", Key=self._key(key), **extra)
        except FileNotFoundError:
            return False
        except OSError as exc:
            if _conflict(exc) or _precondition(exc):
                return False
            raise self._error("delete", key, exc) from exc
        except Exception as exc:
            raise self._error("delete", key, exc) from exc
        return True

    def move(self, source: str, target: str, dirty: set[str]) -> bool:
        """Copy, then delete the source with ``If-Match`` (only one mover deletes it)."""
        current = self.read(source)
        if current is None:
            return False
        self.put(target, current.data, dirty)
        return self.delete(source, dirty, current.token)


def _precondition(exc: OSError) -> bool:
    cause = exc.__cause__
    response = getattr(cause, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"PreconditionFailed", "412"}


def _conflict(exc: OSError) -> bool:
    cause = exc.__cause__
    response = getattr(cause, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"ConditionalRequestConflict", "409"}
