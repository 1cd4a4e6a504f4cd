"""HMAC-SHA256 signing of payload bytes.

A signed payload is the 32-byte ``HMAC-SHA256(key, data)`` digest followed by ``data``.
:func:`verify` recomputes the digest and compares it in constant time with
:func:`hmac.compare_digest`; only then are the bytes returned for decoding.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from omniq.exceptions import ConfigurationError, SignatureError

__all__ = ["DIGEST_SIZE", "key_bytes", "sign", "verify"]

#: Length in bytes of the HMAC-SHA256 digest that prefixes a signed payload.
DIGEST_SIZE: Final = hashlib.sha256().digest_size


def key_bytes(key: str | bytes) -> bytes:
    """Return the signing key as bytes (UTF-8 for a ``str``).

    Args:
        key: The secret key.

    Returns:
        The key bytes.

    Raises:
        ConfigurationError: The key is empty or neither ``str`` nor ``bytes``.
    """
    if isinstance(key, str):
        key = key.encode("utf-8")
    elif not isinstance(key, bytes):
        raise ConfigurationError(f"secret_key must be str or bytes, not {type(key).__qualname__}")
    if not key:
        raise ConfigurationError("secret_key must not be empty")
    return key


def sign(key: str | bytes, data: bytes) -> bytes:
    """Sign ``data`` with HMAC-SHA256.

    Args:
        key: The secret key.
        data: The payload to sign.

    Returns:
        The 32-byte digest followed by ``data``.

    Raises:
        ConfigurationError: The key is empty or of a wrong type.
    """
    return hmac.digest(key_bytes(key), data, "sha256") + data


def verify(key: str | bytes, signed: bytes) -> bytes:
    """Check a payload written by :func:`sign` and return the signed data.

    Args:
        key: The secret key the payload was signed with.
        signed: The digest followed by the data.

    Returns:
        The data, once its digest matched.

    Raises:
        SignatureError: ``signed`` is too short to carry a digest, or the digest does not
            match (tampered payload or another key).
        ConfigurationError: The key is empty or of a wrong type.
    """
    secret = key_bytes(key)
    if len(signed) < DIGEST_SIZE:
        raise SignatureError(
            "the payload failed signature verification and was refused: it is too short "
            f"to carry a {DIGEST_SIZE}-byte HMAC-SHA256 digest"
        )
    data = signed[DIGEST_SIZE:]
    expected = hmac.digest(secret, data, "sha256")
    if not hmac.compare_digest(signed[:DIGEST_SIZE], expected):
        raise SignatureError(
            "the payload failed signature verification and was refused: it was tampered "
            "with or signed with another secret_key"
        )
    return data
