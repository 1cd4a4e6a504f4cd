"""The serializer the core uses for task calls and results.

Payload format
--------------
Every payload starts with a one-byte format tag, so the format can evolve (an unknown tag
is refused with :class:`~omniq.exceptions.SerializationError`)::

    0x01  value, msgpack        0x01 || msgpack(value)
    0x02  value, pickle         0x02 || pickle(value)
    0x11  call, msgpack only    0x11 || msgpack([reference, args, kwargs(, headers)])
    0x12  call, with pickle     0x12 || msgpack([func, args, kwargs(, headers)])
    0x53  signed ("S")          0x53 || HMAC-SHA256(key, inner) || inner

* ``reference`` is a ``"module:qualname"`` string and ``args``/``kwargs`` are msgpack
  maps of plain values (see :mod:`omniq.serialization.values`).
* In a ``0x12`` call, ``func`` is either a reference string or the cloudpickle bytes of
  the function (msgpack bin), and ``args``/``kwargs`` are each either a plain map or the
  pickle bytes of the whole dict (msgpack bin). The pickled parts are independent, so the
  arguments can be read without unpickling the function.
* ``headers``, optional (a call of three parts has none), is a msgpack map of ``str`` to
  ``str`` carried with the call: the trace context of the enqueue (W3C ``traceparent``,
  ``tracestate``; see :mod:`omniq.monitoring.tracing`). It is part of ``inner``, so a
  signature covers it. Versions before it refuse a call of four parts as malformed.
* ``inner`` is an unsigned payload (``0x01``..``0x12``). The HMAC covers ``inner``
  including its tag, so a signed value cannot be turned into a call, a msgpack payload
  into a pickle one, etc.

Only tags ``0x02`` and ``0x12`` may contain pickle; strict mode refuses them from the tag,
before anything is unpickled. With a ``secret_key``, the signature is checked before the
inner tag is even looked at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from omniq.exceptions import SerializationError, SignatureError
from omniq.serialization.allowlist import AllowList
from omniq.serialization.functions import dump_function, function_name, load_function
from omniq.serialization.inspection import PICKLED, UNREADABLE, Unreadable, describe_pickle
from omniq.serialization.signing import key_bytes, sign, verify
from omniq.serialization.values import (
    decode_msgpack,
    encode_msgpack,
    is_plain,
    pickle_value,
    unpickle_value,
    unserializable_error,
)

__all__ = ["Serializer"]

TAG_VALUE_MSGPACK: Final = 0x01
TAG_VALUE_PICKLE: Final = 0x02
TAG_CALL_MSGPACK: Final = 0x11
TAG_CALL_PICKLE: Final = 0x12
TAG_SIGNED: Final = 0x53

_VALUE_MSGPACK: Final = bytes([TAG_VALUE_MSGPACK])
_VALUE_PICKLE: Final = bytes([TAG_VALUE_PICKLE])
_CALL_MSGPACK: Final = bytes([TAG_CALL_MSGPACK])
_CALL_PICKLE: Final = bytes([TAG_CALL_PICKLE])
_SIGNED: Final = bytes([TAG_SIGNED])

_CALL_TAGS: Final = frozenset({TAG_CALL_MSGPACK, TAG_CALL_PICKLE})
_VALUE_TAGS: Final = frozenset({TAG_VALUE_MSGPACK, TAG_VALUE_PICKLE})
_PICKLE_TAGS: Final = frozenset({TAG_VALUE_PICKLE, TAG_CALL_PICKLE})

_STRICT_REFUSAL: Final = (
    "refusing to load a pickle payload: strict mode only reads msgpack payloads "
    "(this one was written by a serializer without strict=True)"
)


def _check_names(arguments: dict[Any, Any], what: str) -> None:
    """Refuse argument dicts whose keys are not ``str`` (they are passed as ``**kwargs``)."""
    for key in arguments:
        if not isinstance(key, str):
            raise SerializationError(
                f"cannot serialize {what}: keys must be argument names (str), "
                f"got {key!r} of type {type(key).__qualname__}"
            )


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Refuse headers that are not ``str`` to ``str`` (they are trace context fields)."""
    checked = dict(headers)
    for key, value in checked.items():
        if type(key) is not str or type(value) is not str:
            raise SerializationError(
                f"cannot serialize headers: {key!r}: {value!r} is not a pair of strings"
            )
    return checked


def _unknown_tag(tag: int) -> SerializationError:
    return SerializationError(
        f"unknown payload format tag 0x{tag:02x}: not an OmniQ payload, or written by a "
        "newer version of OmniQ"
    )


class Serializer:
    """Turns task calls and results into payload bytes and back.

    Args:
        strict: Refuse pickle in both directions: functions must be stored by reference,
            values must be msgpack-encodable (msgspec's native types, converted as msgspec
            documents), and pickle payloads are refused when loading. Only allowed
            functions are stored and loaded: those registered with :meth:`register` and
            those defined in ``allowed_modules`` (see :mod:`omniq.serialization.allowlist`).
        secret_key: When set, every payload written is signed with HMAC-SHA256 and every
            payload loaded must carry a valid signature, checked before any decoding.
        allowed_modules: In strict mode, the modules (with their submodules) whose
            functions may be stored and run.

    Raises:
        ConfigurationError: ``secret_key`` is empty or neither ``str`` nor ``bytes``, or
            ``allowed_modules`` is not a list of module names.

    See :mod:`omniq.serialization` for the trust model and this module's docstring for the
    payload format.
    """

    __slots__ = ("_allowed", "_display", "_key", "_strict", "_unpickle")

    def __init__(
        self,
        strict: bool = False,
        secret_key: str | bytes | None = None,
        allowed_modules: Iterable[str] = (),
    ) -> None:
        self._strict = bool(strict)
        self._key = None if secret_key is None else key_bytes(secret_key)
        self._allowed = AllowList(allowed_modules)
        self._display = False
        self._unpickle = True

    def for_display(self, *, unpickle: bool = False) -> Serializer:
        """A copy that reads payloads to show them, never to run them.

        Its :meth:`load_call_arguments` never raises: arguments that cannot be read are
        shown as ``{"(unreadable)": Unreadable(reason)}``. Unless ``unpickle`` is set,
        pickled arguments are shown as ``{"(pickled, not loaded)": Pickled(...)}`` and a
        pickled value as a :class:`~omniq.serialization.inspection.Pickled` placeholder,
        without loading them. It refuses to load calls.

        Args:
            unpickle: Load pickled arguments and values (runs whatever code they hold).

        Returns:
            The new serializer (same key, strictness and allowed functions).
        """
        copy = Serializer.__new__(Serializer)
        copy._strict, copy._key, copy._allowed = self._strict, self._key, self._allowed
        copy._display, copy._unpickle = True, bool(unpickle)
        return copy

    @property
    def allowed(self) -> AllowList:
        """The functions strict mode stores and runs (registered ones, allowed modules)."""
        return self._allowed

    def register(self, func: Callable[..., Any]) -> str:
        """Allow ``func`` as a task in strict mode (see :meth:`AllowList.register`).

        Args:
            func: A function importable by reference.

        Returns:
            Its ``"module:qualname"`` reference.

        Raises:
            SerializationError: ``func`` cannot be stored by reference.
        """
        return self._allowed.register(func)

    @property
    def strict(self) -> bool:
        """Whether pickle is refused in both directions."""
        return self._strict

    @property
    def signed(self) -> bool:
        """Whether payloads are signed and verified (a ``secret_key`` was given)."""
        return self._key is not None

    def __repr__(self) -> str:
        return f"Serializer(strict={self._strict}, signed={self._key is not None})"

    # -- writing ---------------------------------------------------------------------------

    def dump_call(
        self,
        func: Callable[..., Any],
        args: Mapping[str, Any],
        kwargs: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> tuple[str, bytes]:
        """Serialize a task call.

        Args:
            func: The task function.
            args: The ``func_args`` keyword arguments.
            kwargs: The ``func_kwargs`` keyword arguments.
            headers: Strings carried with the call (the enqueue's trace context), read
                back by :meth:`load_call_with_headers`; none when empty or ``None``.

        Returns:
            ``(function_name, payload)``: the readable ``"module:qualname"`` of ``func``
            and the payload bytes (signed when a ``secret_key`` is set).

        Raises:
            FunctionNotAllowedError: Strict mode, and ``func`` is not an allowed function.
            SerializationError: ``func`` or an argument cannot be stored (in strict mode:
                without pickle). For arguments the message names the offending key, e.g.
                ``func_args['lock']``, and its type.
        """
        strict = self._strict
        encoded_func = dump_function(func, strict=strict)
        name = encoded_func if type(encoded_func) is str else function_name(func)
        if strict:
            self._allowed.check(name, func)
        args_dict = args if type(args) is dict else dict(args)
        kwargs_dict = kwargs if type(kwargs) is dict else dict(kwargs)
        extra = () if not headers else (_check_headers(headers),)
        if strict:
            payload = self._dump_call_strict(name, encoded_func, args_dict, kwargs_dict, extra)
        elif is_plain(args_dict) and is_plain(kwargs_dict):  # plain implies str keys
            try:
                frame = encode_msgpack((encoded_func, args_dict, kwargs_dict, *extra))
            except Exception:  # e.g. an int beyond 64 bits: pickle the part holding it
                payload = self._dump_call_mixed(encoded_func, args_dict, kwargs_dict, extra)
            else:
                tag = _CALL_MSGPACK if type(encoded_func) is str else _CALL_PICKLE
                payload = tag + frame
        else:
            payload = self._dump_call_mixed(encoded_func, args_dict, kwargs_dict, extra)
        if self._key is not None:
            return name, _SIGNED + sign(self._key, payload)
        return name, payload

    @staticmethod
    def _dump_call_strict(
        name: str,
        reference: str | bytes,
        args: dict[str, Any],
        kwargs: dict[str, Any],
        extra: tuple[dict[str, str], ...],
    ) -> bytes:
        """Encode a call in strict mode: msgpack only, msgspec's conversions."""
        _check_names(args, "func_args")
        _check_names(kwargs, "func_kwargs")
        try:
            return _CALL_MSGPACK + encode_msgpack((reference, args, kwargs, *extra))
        except Exception as exc:
            for what, part in (("func_args", args), ("func_kwargs", kwargs)):
                try:
                    encode_msgpack(part)
                except Exception as part_exc:
                    raise unserializable_error(part, what, strict=True) from part_exc
            raise SerializationError(f"cannot serialize the call of {name!r}: {exc}") from exc

    @staticmethod
    def _dump_call_mixed(
        encoded_func: str | bytes,
        args: dict[str, Any],
        kwargs: dict[str, Any],
        extra: tuple[dict[str, str], ...],
    ) -> bytes:
        """Encode a call outside strict mode, pickling the argument dicts that are not plain."""
        parts: list[dict[str, Any] | bytes] = []
        for what, part in (("func_args", args), ("func_kwargs", kwargs)):
            _check_names(part, what)
            if is_plain(part):
                try:
                    encode_msgpack(part)
                except Exception:  # not msgpack-encodable after all: pickled below
                    pass
                else:
                    parts.append(part)
                    continue
            parts.append(pickle_value(part, what))
        return _CALL_PICKLE + encode_msgpack((encoded_func, *parts, *extra))

    def dump_value(self, value: Any, what: str) -> bytes:
        """Serialize a value (typically a task result).

        Args:
            value: The value.
            what: What the value is, for error messages (e.g. ``"result of task 'abc'"``).

        Returns:
            The payload bytes (signed when a ``secret_key`` is set).

        Raises:
            SerializationError: The value cannot be stored (in strict mode: without
                pickle); the message names ``what`` (refined to the offending item) and
                the offending type.
        """
        if self._strict:
            try:
                payload = _VALUE_MSGPACK + encode_msgpack(value)
            except Exception as exc:
                raise unserializable_error(value, what, strict=True) from exc
        else:
            payload = b""
            if is_plain(value):
                with contextlib.suppress(Exception):  # e.g. an int beyond 64 bits: pickle it
                    payload = _VALUE_MSGPACK + encode_msgpack(value)
            if not payload:
                payload = _VALUE_PICKLE + pickle_value(value, what)
        if self._key is not None:
            return _SIGNED + sign(self._key, payload)
        return payload

    # -- reading ---------------------------------------------------------------------------

    def _open(self, payload: bytes, expected_tags: frozenset[int], kind: str) -> bytes:
        """Verify the signature if needed and check the inner tag; return the inner payload."""
        if not payload:
            raise SerializationError(f"cannot load an empty {kind} payload")
        if self._key is not None:
            if payload[0] != TAG_SIGNED:
                raise SignatureError(
                    f"the {kind} payload is not signed, but a secret_key is set: it failed "
                    "verification and was refused"
                )
            payload = verify(self._key, payload[1:])
            if not payload:
                raise SerializationError(f"cannot load an empty {kind} payload")
        elif payload[0] == TAG_SIGNED:
            raise SerializationError(
                f"the {kind} payload is signed: a Serializer with the same secret_key is "
                "needed to verify and load it"
            )
        tag = payload[0]
        if tag not in expected_tags:
            if tag in _CALL_TAGS or tag in _VALUE_TAGS:
                raise SerializationError(
                    f"expected a {kind} payload, got a "
                    f"{'call' if tag in _CALL_TAGS else 'value'} payload"
                )
            raise _unknown_tag(tag)
        if self._strict and tag in _PICKLE_TAGS:
            raise SerializationError(_STRICT_REFUSAL)
        return payload

    def _load_frame(
        self, payload: bytes
    ) -> tuple[str | bytes, dict[str, Any], dict[str, Any], dict[str, str] | None]:
        """Open a call payload and decode its frame, unpickling arguments but not the function."""
        inner = self._open(payload, _CALL_TAGS, "call")
        frame = decode_msgpack(memoryview(inner)[1:])
        if type(frame) is not list or not 3 <= len(frame) <= 4:
            raise SerializationError(
                "malformed call payload: expected [func, args, kwargs] or "
                "[func, args, kwargs, headers]"
            )
        func, args, kwargs = frame[:3]
        headers = frame[3] if len(frame) == 4 else None
        if headers is not None and (
            type(headers) is not dict
            or not all(type(k) is str and type(v) is str for k, v in headers.items())
        ):
            raise SerializationError("malformed call payload: headers are not a map of strings")
        if type(func) is str and type(args) is dict and type(kwargs) is dict:
            return func, args, kwargs, headers
        if inner[0] != TAG_CALL_PICKLE or type(func) not in (str, bytes):
            raise SerializationError("malformed call payload: unexpected part types")
        return (
            func,
            self._load_arguments(args, "func_args"),
            self._load_arguments(kwargs, "func_kwargs"),
            headers,
        )

    def _load_arguments(self, part: object, what: str) -> dict[str, Any]:
        if type(part) is dict:
            return part
        if type(part) is not bytes:
            raise SerializationError(f"malformed call payload: {what} is {type(part).__name__}")
        if not self._unpickle:
            return {PICKLED: describe_pickle(part)}
        loaded = unpickle_value(part, what)
        if type(loaded) is not dict:
            raise SerializationError(
                f"malformed call payload: {what} loaded as {type(loaded).__qualname__}"
            )
        return loaded

    def load_call(
        self, payload: bytes
    ) -> tuple[Callable[..., Any], dict[str, Any], dict[str, Any]]:
        """Load a task call written by :meth:`dump_call`.

        Args:
            payload: The payload bytes.

        Returns:
            ``(func, args, kwargs)``.

        Raises:
            SignatureError: A ``secret_key`` is set and the payload is unsigned or its
                signature does not match; nothing was decoded or unpickled.
            FunctionNotAllowedError: Strict mode, and the payload names a function that is
                neither registered nor defined in an allowed module; nothing was imported.
            SerializationError: The payload is signed but no ``secret_key`` is set, is a
                pickle payload in strict mode, is malformed, or its function reference does
                not resolve (the message names the reference).
        """
        func, args, kwargs, _ = self.load_call_with_headers(payload)
        return func, args, kwargs

    def load_call_with_headers(
        self, payload: bytes
    ) -> tuple[Callable[..., Any], dict[str, Any], dict[str, Any], dict[str, str] | None]:
        """Load a task call and the headers stored with it (see :meth:`dump_call`).

        Args:
            payload: The payload bytes.

        Returns:
            ``(func, args, kwargs, headers)``; ``headers`` is ``None`` when the call has
            none.

        Raises:
            SignatureError: As for :meth:`load_call`.
            FunctionNotAllowedError: As for :meth:`load_call`.
            SerializationError: As for :meth:`load_call`, and headers that are not a map
                of strings.
        """
        if self._display:
            raise SerializationError("a serializer made for display does not load calls")
        func, args, kwargs, headers = self._load_frame(payload)
        if self._strict:
            return self._allowed.load(func), args, kwargs, headers
        return load_function(func), args, kwargs, headers

    def load_call_arguments(self, payload: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """Load only the arguments of a task call, without resolving or unpickling the function.

        Args:
            payload: The payload bytes written by :meth:`dump_call`.

        Returns:
            ``(args, kwargs)``.

        Raises:
            SignatureError: As for :meth:`load_call`.
            SerializationError: As for :meth:`load_call`, except for function resolution.
        """
        if self._display:
            try:
                _, args, kwargs, _ = self._load_frame(payload)
            except SerializationError as exc:
                return {UNREADABLE: Unreadable(f"{type(exc).__name__}: {exc}")}, {}
            return args, kwargs
        _, args, kwargs, _ = self._load_frame(payload)
        return args, kwargs

    def load_value(self, payload: bytes) -> Any:
        """Load a value written by :meth:`dump_value`.

        Args:
            payload: The payload bytes.

        Returns:
            The value.

        Raises:
            SignatureError: A ``secret_key`` is set and the payload is unsigned or its
                signature does not match; nothing was decoded or unpickled.
            SerializationError: The payload is signed but no ``secret_key`` is set, is a
                pickle payload in strict mode, or is malformed.
        """
        inner = self._open(payload, _VALUE_TAGS, "value")
        if inner[0] == TAG_VALUE_MSGPACK:
            return decode_msgpack(memoryview(inner)[1:])
        if not self._unpickle:
            return describe_pickle(memoryview(inner)[1:])
        return unpickle_value(memoryview(inner)[1:], "a stored value")
