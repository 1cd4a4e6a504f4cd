"""The store on a local directory: ``os`` calls, fsync on every durable write.

* A durable write goes to a temporary file in ``tmp/``, is fsynced, then renamed (or
  hard-linked, for an exclusive create) into place; the directories it changed are fsynced
  once per verb (:meth:`LocalStore.flush`). A crash never leaves a half-written file under
  a real name.
* Exclusive create is ``link(2)``, which fails if the name exists.
* Compare-and-swap holds one of 64 lock stripes (``flock(2)`` on ``locks/NN``, which the
  kernel releases when a process dies) while it compares the current bytes with the ones
  read and renames the new file in; the new file is written and fsynced before the lock is
  taken, so the lock is held for microseconds.
* ``rename(2)`` of a queue entry is how a claim takes a task: of several processes renaming
  one entry, exactly one succeeds.

The directory may be shared by every process of one machine (or an NFS mount whose
``link``/``rename``/``flock`` are atomic, which recent NFS versions give).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import fcntl
import os
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from omniq.backends.file.store import Guarantees, ObjectStore, Versioned
from omniq.exceptions import BackendError
from omniq.storage.private import PRIVATE_FILE, make_private_dirs

__all__ = ["LocalStore", "os_error"]

T = TypeVar("T")

_STRIPES = 64
#: Top-level directories that are never removed (their descriptors are kept open).
_KEPT = ("tasks", "results", "events", "running", "waiting", "schedules", "workers")
_RETRIES = 20


def os_error(action: str, path: str | os.PathLike[str], exc: OSError) -> BackendError:
    """A :class:`BackendError` naming the path and the reason (a full disk says so)."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device (nothing of this write was stored)"
    elif exc.errno == errno.EDQUOT:
        reason = "disk quota exceeded (nothing of this write was stored)"
    return BackendError(f"cannot {action} {str(path)!r}: {reason}")


class LocalStore(ObjectStore):
    """An :class:`ObjectStore` on a local directory.

    Args:
        root: The project's directory (created by :meth:`open`).
        durable: fsync every file before it takes its real name (``False`` only for
            tests and benchmarks that measure the cost of durability).
        sync_directories: Also fsync the directories a verb changed, so the new names
            themselves survive a power loss (POSIX asks for it; on ext4 and XFS the next
            journal commit, within seconds, does it anyway).
        io_threads: Threads that write files of one verb in parallel (their fsyncs share
            the file system's journal commits).
    """

    def __init__(
        self, root: Path, *, durable: bool = True, sync_directories: bool = True,
        io_threads: int = 8,
    ) -> None:  # fmt: skip
        self.root = root
        self.location = str(root)
        self.guarantees = Guarantees(
            shared=True, exclusive=True, atomic_rename=True, durable=durable, scheme="file"
        )
        self._durable = durable
        self._sync_directories = durable and sync_directories
        self._tmp = root / "tmp"
        self._locks: list[tuple[threading.Lock, int]] = []
        self._io_threads = io_threads
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}-"
        self._counter = 0
        self._counter_lock = threading.Lock()
        # Directories never removed: their descriptors stay open for the directory fsyncs.
        self._kept_dirs = {str(root / name) for name in _KEPT}
        self._kept_fds: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory, its ``tmp/`` and ``locks/``, and check they are writable."""
        try:
            make_private_dirs(self._tmp)
            locks = self.root / "locks"
            make_private_dirs(locks)
            probe = self._tmp / f"probe-{self._prefix}"
            probe.write_bytes(b"")
            probe.unlink()
            fds = []
            for stripe in range(_STRIPES):
                fds.append(os.open(locks / f"{stripe:02d}", os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
        except OSError as exc:
            target = exc.filename if exc.filename else self.root
            raise os_error("use the directory", target, exc) from exc
        self._locks = [(threading.Lock(), fd) for fd in fds]
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self._io_threads, thread_name_prefix="omniq-file-io"
        )

    def close(self) -> None:
        """Close the lock files, the kept directory descriptors and the I/O threads."""
        with self._counter_lock:
            kept, self._kept_fds = self._kept_fds, {}
        for fd in kept.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        locks, self._locks = self._locks, []
        for _, fd in locks:
            with contextlib.suppress(OSError):
                os.close(fd)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def parallel(self, func: Callable[[T], object], items: Sequence[T]) -> None:
        """Run ``func`` on the items in the I/O threads (their fsyncs overlap)."""
        pool = self._pool
        if pool is None or len(items) < 2:
            for item in items:
                func(item)
            return
        for future in [pool.submit(func, item) for item in items]:
            future.result()

    # -- helpers ---------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / key

    def _temp_name(self) -> Path:
        with self._counter_lock:
            self._counter += 1
            number = self._counter
        return self._tmp / f"{self._prefix}{number}.tmp"

    def _write_temp(self, data: bytes, sync: bool = True) -> Path:
        """Write ``data`` to a new temporary file and fsync it (unless ``sync`` is off)."""
        temp = self._temp_name()
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        except OSError as exc:
            raise os_error("write", temp, exc) from exc
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self._durable and sync:
                os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                temp.unlink()
            raise os_error("write", temp, exc) from exc
        os.close(fd)
        return temp

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        if not self._locks:
            raise BackendError(f"the file store at {self.location!r} is closed")
        lock, fd = self._locks[zlib.crc32(key.encode()) % _STRIPES]
        with lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _in_place(
        self, action: Callable[[Path], T], key: str, dirty: set[str], source: Path | None = None
    ) -> T:
        """Run ``action(path)``, creating the parent directories when they are missing.

        A parent may also vanish meanwhile (a claimer pruning a bucket it emptied): then
        the directories are made again and the action retried.

        Raises:
            FileNotFoundError: ``source`` (the file the action reads) does not exist.
        """
        path = self._path(key)
        for attempt in range(_RETRIES):
            try:
                result = action(path)
            except FileNotFoundError:
                if source is not None and not os.path.lexists(source):
                    raise
                if attempt == _RETRIES - 1:
                    raise
                self._makedirs(path.parent, dirty)
                continue
            dirty.add(str(path.parent))
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _makedirs(self, directory: Path, dirty: set[str]) -> None:
        for attempt in range(_RETRIES):
            try:
                make_private_dirs(directory)
                break
            except FileNotFoundError as exc:  # a parent pruned meanwhile: again
                if attempt == _RETRIES - 1:
                    raise os_error("create the directory", directory, exc) from exc
            except OSError as exc:
                raise os_error("create the directory", directory, exc) from exc
        for parent in (directory, *directory.parents):
            if parent == self.root:
                break
            dirty.add(str(parent.parent))

    # -- reads -----------------------------------------------------------------------------

    def read(self, key: str) -> Versioned | None:
        """The file's bytes (which are also its version token), or ``None``."""
        path = self._path(key)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise os_error("read", path, exc) from exc
        return Versioned(data, data)

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return os.path.lexists(self._path(key))

    def age(self, key: str) -> float | None:
        """Seconds since the inode last changed (a rename counts)."""
        try:
            return time.time() - os.lstat(self._path(key)).st_ctime
        except OSError:
            return None

    def list(self, prefix: str) -> list[str]:
        """Sorted names in the directory ``prefix``."""
        path = self._path(prefix)
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise os_error("list", path, exc) from exc

    # -- writes ----------------------------------------------------------------------------

    def create(self, key: str, data: bytes, dirty: set[str], *, sync: bool = True) -> bool:
        """Hard-link a fsynced temporary file to ``key``; ``False`` if ``key`` exists.

        With ``sync`` off the file is not fsynced (a derived file: the event log).
        """
        temp = self._write_temp(data, sync)
        try:
            self._in_place(lambda path: os.link(temp, path), key, dirty if sync else set(), temp)
        except FileExistsError:
            return False
        except OSError as exc:
            raise os_error("write", self._path(key), exc) from exc
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        return True

    def put(self, key: str, data: bytes, dirty: set[str]) -> None:
        """Rename a fsynced temporary file over ``key``."""
        temp = self._write_temp(data)
        try:
            self._in_place(lambda path: os.replace(temp, path), key, dirty, temp)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise os_error("write", self._path(key), exc) from exc

    def swap(self, key: str, data: bytes, token: object, dirty: set[str]) -> bool:
        """Rename a fsynced temporary file over ``key`` if it still holds ``token``."""
        temp = self._write_temp(data)
        path = self._path(key)
        try:
            with self._locked(key):
                current = self.read(key)
                if current is None or current.data != token:
                    return False
                os.replace(temp, path)
        except OSError as exc:
            raise os_error("write", path, exc) from exc
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        dirty.add(str(path.parent))
        return True

    def delete(self, key: str, dirty: set[str], token: object | None = None) -> bool:
        """Unlink ``key`` (if it still holds ``token``, when given)."""
        path = self._path(key)
        try:
            if token is None:
                os.unlink(path)
            else:
                with self._locked(key):
                    current = self.read(key)
                    if current is None or current.data != token:
                        return False
                    os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise os_error("delete", path, exc) from exc
        # Not added to ``dirty``: a deletion lost to a power cut leaves an extra file that
        # readers recognise (an entry that disagrees with its task, a purged task purged
        # again), never a lost one, so it does not cost a directory fsync.
        return True

    def touch(self, key: str, dirty: set[str]) -> None:
        """Create an empty file (its directory entry is made durable by :meth:`flush`)."""

        def make(path: Path) -> None:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))

        try:
            self._in_place(make, key, dirty)
        except OSError as exc:
            raise os_error("write", self._path(key), exc) from exc

    def move(self, source: str, target: str, dirty: set[str]) -> bool:
        """``rename(2)``: of several processes moving one source, one succeeds."""
        src = self._path(source)
        try:
            self._in_place(lambda path: os.rename(src, path), target, dirty, src)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise os_error("rename", src, exc) from exc
        # Only the target's directory is flushed: a lost removal from the source is an
        # extra entry (see :meth:`delete`).
        return True

    def prune(self, prefix: str) -> None:
        """``rmdir`` the directory if it is empty."""
        with contextlib.suppress(OSError):
            os.rmdir(self._path(prefix))

    def flush(self, dirty: set[str]) -> None:
        """Fsync each changed directory.

        One after the other: on a journaling file system the first fsync commits the
        journal transaction that holds every one of these changes, so the others return
        at once (in parallel they would only add thread hand-offs).
        """
        if not self._sync_directories:
            return
        for directory in sorted(dirty):
            self._fsync_dir(directory)

    def _fsync_dir(self, directory: str) -> None:
        kept = self._kept_fds.get(directory)
        if kept is None and directory in self._kept_dirs:
            with contextlib.suppress(OSError), self._counter_lock:
                kept = self._kept_fds.get(directory)
                if kept is None:
                    kept = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
                    self._kept_fds[directory] = kept
        if kept is not None:
            try:
                os.fsync(kept)
            except OSError as exc:
                raise os_error("sync the directory", directory, exc) from exc
            return
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return  # removed since (an emptied bucket directory)
        except OSError as exc:
            raise os_error("sync the directory", directory, exc) from exc
        try:
            os.fsync(fd)
        except OSError as exc:
            raise os_error("sync the directory", directory, exc) from exc
        finally:
            os.close(fd)
