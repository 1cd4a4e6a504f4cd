from __future__ import annotations

import hashlib
import hmac

import pytest

from omniq.exceptions import ConfigurationError, SerializationError, SignatureError
from omniq.serialization.signing import DIGEST_SIZE, key_bytes, sign, verify

KEY = "s3cret-key-value"
DATA = b"\x11some payload bytes"


def test_sign_prepends_hmac_sha256_digest() -> None:
    signed = sign(KEY, DATA)
    assert DIGEST_SIZE == 32
    assert len(signed) == 32 + len(DATA)
    assert signed[:32] == hmac.new(KEY.encode(), DATA, hashlib.sha256).digest()
    assert signed[32:] == DATA


def test_verify_returns_the_data() -> None:
    assert verify(KEY, sign(KEY, DATA)) == DATA


def test_empty_data_round_trips() -> None:
    signed = sign(KEY, b"")
    assert len(signed) == 32
    assert verify(KEY, signed) == b""


def test_str_key_is_its_utf8_bytes() -> None:
    key = "clé-ünïcode"
    assert sign(key, DATA) == sign(key.encode("utf-8"), DATA)
    assert verify(key.encode("utf-8"), sign(key, DATA)) == DATA


@pytest.mark.parametrize("position", [0, 15, 31, 32, 33, -1])
def test_tampering_any_byte_is_refused(position: int) -> None:
    signed = bytearray(sign(KEY, DATA))
    signed[position] ^= 0x01
    with pytest.raises(SignatureError, match="failed signature verification and was refused"):
        verify(KEY, bytes(signed))


def test_appending_bytes_is_refused() -> None:
    with pytest.raises(SignatureError):
        verify(KEY, sign(KEY, DATA) + b"x")


def test_wrong_key_is_refused_and_message_hides_keys() -> None:
    with pytest.raises(SignatureError) as info:
        verify("another-key", sign(KEY, DATA))
    assert KEY not in str(info.value)
    assert "another-key" not in str(info.value)


@pytest.mark.parametrize("length", [0, 1, 31])
def test_too_short_is_refused(length: int) -> None:
    with pytest.raises(SignatureError, match="too short"):
        verify(KEY, sign(KEY, DATA)[:length])


def test_signature_error_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError):
        verify(KEY, b"")


@pytest.mark.parametrize("key", ["", b""])
def test_empty_key_is_a_configuration_error(key: str | bytes) -> None:
    with pytest.raises(ConfigurationError, match="must not be empty"):
        sign(key, DATA)
    with pytest.raises(ConfigurationError):
        verify(key, sign(KEY, DATA))


def test_key_of_wrong_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="str or bytes"):
        key_bytes(1234)  # type: ignore[arg-type]
