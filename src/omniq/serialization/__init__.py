"""Serialization of task calls and results, and its trust model.

The core stores each task as ``(function_name, payload)`` and each result as a payload,
both produced by a :class:`Serializer`. Functions are stored by reference
(``"module:qualname"``) when they can be imported back, otherwise by value with
cloudpickle; plain values (``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``,
``list``, ``dict`` with ``str`` keys, UTC ``datetime``) are stored as msgpack, anything
else with pickle. The payload format is described in
:mod:`omniq.serialization.serializer`.

Trust model:
    Loading a pickle (or cloudpickle) payload runs code chosen by whoever wrote it. So,
    by default, **whoever can write to the store can run code in the workers** (and in any
    process that reads results). Treat write access to the store like shell access to the
    workers, or use one or both of:

    * ``Serializer(strict=True)`` refuses pickle in both directions: functions must be
      importable by reference, values must be msgpack-encodable, and a pickle payload met
      when loading is refused from its format tag, before anything is unpickled. It also
      stores and loads only allowed functions: those registered with
      :meth:`Serializer.register` (``@oq.task``) and those defined in ``allowed_modules``
      (see :mod:`omniq.serialization.allowlist`). A call naming any other function, such
      as ``os:system``, is refused with :class:`~omniq.exceptions.FunctionNotAllowedError`
      before its module is imported. A store writer can still enqueue calls of allowed
      functions with arguments of its choosing.
    * ``Serializer(secret_key=...)`` signs every payload with HMAC-SHA256 and verifies the
      signature before any decoding, so a payload that was tampered with, written with
      another key, or not signed at all is refused with
      :class:`~omniq.exceptions.SignatureError`, never unpickled. Keep the key secret and
      identical on every producer and worker.

    Neither stops replays: a signature covers a payload, not the row holding it, so a valid
    payload copied from one store entry to another (or enqueued again) is accepted.
"""

from __future__ import annotations

from omniq.serialization.functions import function_name
from omniq.serialization.serializer import Serializer

__all__ = ["Serializer", "function_name"]
