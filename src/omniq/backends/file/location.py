"""Turning ``path`` and ``storage_options`` into a store, with secrets kept out of messages.

``path`` is a local directory (``str``, ``Path`` or ``file://``) or an fsspec URL
(``memory://...``, ``s3://bucket/prefix``, ``gs://...``, ``az://...``). The project's
files go in ``<path>/<project_name>/``. Local directories need no extra package; URLs need
fsspec (``pip install 'omniq[file]'``) and, for cloud stores, its implementation
(``pip install 'omniq[cloud]'``: s3fs, gcsfs, adlfs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omniq.backends.file.fsspec_store import FsspecStore, MemoryStore, S3Store
from omniq.backends.file.local_store import LocalStore
from omniq.backends.file.store import ObjectStore
from omniq.exceptions import BackendError, ConfigurationError, MissingDependencyError

__all__ = ["Location", "default_path", "mask"]

_USERINFO = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*):[^/@\s]*@")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*(://|::)")
_SECRET_WORDS = ("secret", "password", "token", "key", "credential", "sas", "signature")
_CLOUD = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}


def default_path() -> Path:
    """``$OMNIQ_HOME/files``, else ``$XDG_DATA_HOME/omniq/files``, else ``~/.local/share/...``."""
    if home := os.environ.get("OMNIQ_HOME"):
        return Path(home).expanduser() / "files"
    if xdg := os.environ.get("XDG_DATA_HOME"):
        return Path(xdg).expanduser() / "omniq" / "files"
    return Path.home() / ".local" / "share" / "omniq" / "files"


def mask(text: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``."""
    return _USERINFO.sub(r"\g<head>:***@", text)


def _secrets(options: Mapping[str, Any]) -> list[str]:
    """The values of options that look like credentials (to scrub from messages)."""
    found: list[str] = []
    for name, value in options.items():
        if isinstance(value, Mapping):
            found.extend(_secrets(value))
        elif isinstance(value, str) and value and any(w in name.lower() for w in _SECRET_WORDS):
            found.append(value)
    return found


class Location:
    """Where a project's files are.

    Args:
        path: A local directory or an fsspec URL.
        project_name: The project (its own directory under ``path``).
        storage_options: Passed to fsspec unchanged.

    Raises:
        ConfigurationError: ``path`` or ``storage_options`` has the wrong type.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None, project_name: str,
        storage_options: Mapping[str, Any] | None,
    ) -> None:  # fmt: skip
        if path is not None and not isinstance(path, str | os.PathLike):
            raise ConfigurationError(f"path {path!r} is not a str or pathlib.Path")
        if storage_options is not None and not isinstance(storage_options, Mapping):
            raise ConfigurationError(
                f"storage_options {type(storage_options).__name__} is not a mapping"
            )
        self.project_name = project_name
        self.storage_options = dict(storage_options or {})
        self._secrets = _secrets(self.storage_options)
        raw = os.fspath(path) if path is not None else str(default_path())
        if isinstance(raw, bytes):  # pragma: no cover - os.PathLike[bytes]
            raise ConfigurationError(f"path {raw!r} is not a text path")
        if raw.startswith("file://"):
            raw = raw[len("file://") :]
        self.url = raw if _URL.match(raw) else None
        self.scheme = re.split("://|::", raw, maxsplit=1)[0].lower() if self.url else "file"
        if self.url is None:
            self.local_root: Path | None = Path(raw).expanduser().absolute() / project_name
            self.display = str(self.local_root)
        else:
            self.local_root = None
            self.display = self.scrub(f"{self.url.rstrip('/')}/{project_name}")
            endpoint = self.storage_options.get("endpoint_url") or (
                self.storage_options.get("client_kwargs") or {}
            ).get("endpoint_url")
            if endpoint:
                self.display += f" (endpoint {self.scrub(str(endpoint))})"

    @property
    def shared(self) -> bool:
        """Whether other processes can see the store (everything but ``memory://``)."""
        return self.scheme != "memory"

    def scrub(self, text: str) -> str:
        """``text`` with passwords in URLs and credential values masked."""
        text = mask(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def exists(self) -> bool:
        """Whether the project's directory (or prefix) exists; creates nothing.

        Raises:
            BackendError: The location cannot be asked (missing bucket, bad credentials).
        """
        if self.local_root is not None:
            return self.local_root.is_dir()
        import fsspec.core

        try:
            fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
            return bool(fs.exists(f"{str(root).rstrip('/')}/{self.project_name}"))
        except Exception as exc:
            raise BackendError(f"cannot look at {self.display!r}: {self.scrub(str(exc))}") from None

    def store(self, *, durable: bool, sync_directories: bool, io_threads: int) -> ObjectStore:
        """Build the store (not opened yet).

        Raises:
            MissingDependencyError: fsspec, or the filesystem's package, is not installed.
        """
        if self.local_root is not None:
            return LocalStore(self.local_root, durable=durable,
                              sync_directories=sync_directories, io_threads=io_threads)  # fmt: skip
        try:
            import fsspec.core
        except ImportError as exc:
            raise MissingDependencyError(
                f"path {self.display!r} needs fsspec: pip install 'omniq[file]'"
            ) from exc
        options = dict(self.storage_options)
        if self.scheme in {"s3", "s3a"}:
            options.setdefault("use_listings_cache", False)
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **options)
        except ImportError as exc:
            extra = "cloud" if self.scheme in _CLOUD else "file"
            raise MissingDependencyError(
                f"path {self.display!r} needs a package for {self.scheme}:// "
                f"({exc.name or exc}): pip install 'omniq[{extra}]'"
            ) from exc
        except Exception as exc:
            raise ConfigurationError(
                f"path {self.display!r} is not usable: {self.scrub(str(exc))}"
            ) from None
        project_root = f"{str(root).rstrip('/')}/{self.project_name}"
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        if "memory" in protocols:
            return MemoryStore(fs, project_root, self.display)
        if protocols & {"s3", "s3a"}:
            return S3Store(fs, project_root, self.display)
        if protocols & {"file", "local"}:
            return LocalStore(Path(project_root), durable=durable,
                              sync_directories=sync_directories, io_threads=io_threads)  # fmt: skip
        return FsspecStore(fs, project_root, self.display)
