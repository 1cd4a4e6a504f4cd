"""How callables are stored: by reference when importable, by value (cloudpickle) otherwise.

A callable is encoded into a small msgpack-able value:

* a ``str`` reference ``"module:qualname"`` when importing ``module`` and following
  ``qualname`` attribute by attribute gives back the very same object (module-level
  functions, classes, static methods, builtins, class methods). A worker resolves it with
  :func:`resolve_reference`, which is cached.
* ``bytes`` produced by :func:`cloudpickle.dumps` for everything else: lambdas, closures and
  nested functions (``<locals>`` in the qualname), anything defined in ``__main__`` (the
  worker may be another process, where ``__main__`` is a different module),
  :class:`functools.partial` objects, bound methods of instances and callable objects.
* for a module-level function of ``__main__``, those bytes behind a header naming this
  interpreter and the function's qualname: a worker in the same interpreter (and, after a
  ``fork``, its children) runs the function itself, with its module's state, as a
  ``__main__`` program expects (``seen = []; def record(x): seen.append(x)`` fills ``seen``);
  a worker in another process runs the copy stored by value.

In strict mode the by-value form is refused in both directions, so only references are
ever written or read.

Caching: resolution of a reference string is cached with :func:`functools.lru_cache`, and a
successful by-reference check is remembered per function object, so dumping the same
function many times costs one dictionary lookup. Both caches assume that module attributes
are not rebound after first use (monkeypatching a task function after it was enqueued or run
is not picked up).
"""

from __future__ import annotations

import functools
import importlib
import pickle
import sys
import types
import uuid
from collections.abc import Callable
from typing import Any, Final

from omniq.exceptions import SerializationError
from omniq.serialization.values import cloudpickle_dumps

__all__ = [
    "dump_function",
    "function_name",
    "load_function",
    "resolve_reference",
]

#: Largest number of functions remembered as "stored by reference" (see :func:`dump_function`).
_REFERENCE_CACHE_SIZE: Final = 4096

#: Starts the by-value form of a ``__main__`` function: ``MAIN`` + interpreter token + NUL +
#: qualname + NUL + the cloudpickle bytes.
_MAIN_HEADER: Final = b"\x00omniq-main\x00"
#: This interpreter (inherited by forked children, which hold copies of the same ``__main__``).
_INTERPRETER: Final = uuid.uuid4().hex.encode()

# id(func) -> (func, reference). The strong reference to ``func`` keeps the id from being
# reused by another object while the entry exists. Only module-level objects that resolve
# to themselves are stored, and those live as long as their module anyway.
_reference_cache: dict[int, tuple[object, str]] = {}


def function_name(func: Callable[..., Any]) -> str:
    """Return a readable reference to ``func``, ``"module:qualname"``.

    Functions, classes, builtins and methods use their own ``__module__`` and
    ``__qualname__`` (a lambda in a script gives ``"__main__:<lambda>"``). A
    :class:`functools.partial` is named after the function it wraps, and a callable object
    after its type.

    Args:
        func: Any callable.

    Returns:
        The ``"module:qualname"`` string. It is meant for humans (task listings, logs,
        error messages); it only identifies the callable for sure when it is stored by
        reference.
    """
    while isinstance(func, functools.partial):
        func = func.func
    qualname = getattr(func, "__qualname__", None)
    if isinstance(qualname, str):
        module = getattr(func, "__module__", None)
        if not isinstance(module, str):
            # Methods of builtin instances (e.g. ``[].append``) have no module.
            module = type(func).__module__
        return f"{module}:{qualname}"
    kind = type(func)
    return f"{kind.__module__}:{kind.__qualname__}"


@functools.lru_cache(maxsize=1024)
def resolve_reference(reference: str) -> Any:
    """Import the object a ``"module:qualname"`` reference names.

    The result is cached per reference string.

    Args:
        reference: A reference as written by :func:`dump_function`.

    Returns:
        The object found by importing ``module`` and following ``qualname``.

    Raises:
        SerializationError: The reference is malformed, its module cannot be imported, or
            one of the attributes along ``qualname`` is missing. The message names the
            reference.
    """
    module_name, sep, qualname = reference.partition(":")
    if not sep or not module_name or not qualname or "<" in qualname:
        raise SerializationError(
            f"cannot resolve function reference {reference!r}: "
            "expected 'module:qualname' naming a module-level object"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SerializationError(
            f"cannot resolve function reference {reference!r}: "
            f"module {module_name!r} cannot be imported ({exc})"
        ) from exc
    except Exception as exc:
        raise SerializationError(
            f"cannot resolve function reference {reference!r}: importing module "
            f"{module_name!r} failed with {type(exc).__name__}: {exc}"
        ) from exc
    for attribute in qualname.split("."):
        try:
            obj = getattr(obj, attribute)
        except AttributeError as exc:
            raise SerializationError(
                f"cannot resolve function reference {reference!r}: "
                f"{attribute!r} not found in module {module_name!r}"
            ) from exc
    return obj


def _reference_of(func: Callable[..., Any]) -> str | None:
    """Return ``func``'s reference if it resolves back to ``func`` itself, else ``None``."""
    if isinstance(func, functools.partial):
        return None
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if (
        not isinstance(module, str)
        or not isinstance(qualname, str)
        or module == "__main__"
        or "<" in qualname  # <lambda>, <locals>, <genexpr>...
    ):
        return None
    reference = f"{module}:{qualname}"
    try:
        resolved = resolve_reference(reference)
    except SerializationError:
        return None
    if resolved is func:
        return reference
    # A class method is a new bound-method object on each attribute access; it is the same
    # callable when it is bound to the same class and wraps the same function.
    if (
        isinstance(func, types.MethodType)
        and isinstance(resolved, types.MethodType)
        and resolved.__self__ is func.__self__
        and resolved.__func__ is func.__func__
    ):
        return reference
    return None


def dump_function(func: Callable[..., Any], *, strict: bool = False) -> str | bytes:
    """Encode a callable as a reference string or as cloudpickle bytes.

    Args:
        func: The callable to store.
        strict: Refuse the by-value (pickle) form.

    Returns:
        The ``"module:qualname"`` reference when it resolves back to ``func``; otherwise
        the :func:`cloudpickle.dumps` bytes of ``func``.

    Raises:
        SerializationError: ``func`` is not callable; in strict mode, ``func`` cannot be
            stored by reference; or cloudpickle cannot serialize it. The message names the
            function.
    """
    cached = _reference_cache.get(id(func))
    if cached is not None and cached[0] is func:
        return cached[1]
    if not callable(func):
        raise SerializationError(
            f"cannot store {func!r} as a task function: {type(func).__qualname__} "
            "objects are not callable"
        )
    reference = _reference_of(func)
    if reference is not None:
        if not isinstance(func, types.MethodType):  # bound methods are temporaries
            if len(_reference_cache) >= _REFERENCE_CACHE_SIZE:
                _reference_cache.clear()
            _reference_cache[id(func)] = (func, reference)
        return reference
    name = function_name(func)
    if strict:
        raise SerializationError(
            f"cannot store function {name!r} by reference, and strict mode refuses to "
            "pickle it: define it at module level of an importable module (not in "
            "__main__, not a lambda, closure, nested function or functools.partial), "
            "and pass varying data as task arguments"
        )
    try:
        data = cloudpickle_dumps(func)  # an open file it closes over is refused
    except Exception as exc:
        raise SerializationError(
            f"cannot store function {name!r}: it cannot be imported by reference and "
            f"pickling it by value failed ({type(exc).__name__}: {exc})"
        ) from exc
    qualname = _main_qualname(func)
    if qualname is not None:
        return b"".join((_MAIN_HEADER, _INTERPRETER, b"\x00", qualname.encode(), b"\x00", data))
    return data


def _main_qualname(func: Callable[..., Any]) -> str | None:
    """``func``'s qualname if it is a module-level object of ``__main__`` (resolving to it)."""
    qualname = getattr(func, "__qualname__", None)
    if getattr(func, "__module__", None) != "__main__" or not isinstance(qualname, str):
        return None
    if "<" in qualname or isinstance(func, functools.partial | types.MethodType):
        return None
    return qualname if _in_main(qualname) is func else None


def _in_main(qualname: str) -> Any:
    """The object ``qualname`` names in this interpreter's ``__main__``, or ``None``."""
    obj: Any = sys.modules.get("__main__")
    for attribute in qualname.split("."):
        obj = getattr(obj, attribute, None)
        if obj is None:
            return None
    return obj


def _own_main_function(data: bytes) -> tuple[Callable[..., Any] | None, bytes]:
    """For a ``__main__`` function dumped in this interpreter: the function itself.

    Returns:
        The function (``None`` when ``data`` comes from another interpreter, or the name no
        longer resolves to a function of ``__main__``), and the by-value bytes.
    """
    if not data.startswith(_MAIN_HEADER):
        return None, data
    token, _, rest = data[len(_MAIN_HEADER) :].partition(b"\x00")
    qualname, _, by_value = rest.partition(b"\x00")
    if token != _INTERPRETER:
        return None, by_value
    found = _in_main(qualname.decode("utf-8", "replace"))
    if callable(found) and getattr(found, "__module__", None) == "__main__":
        return found, by_value
    return None, by_value


def load_function(data: str | bytes, *, strict: bool = False) -> Callable[..., Any]:
    """Decode a callable written by :func:`dump_function`.

    Args:
        data: A reference string or cloudpickle bytes.
        strict: Refuse to unpickle (``bytes``) functions.

    Returns:
        The callable.

    Raises:
        SerializationError: The reference does not resolve (the message names it), the
            object is not callable, the pickled function cannot be loaded, or ``data`` is
            pickled and ``strict`` is set.
    """
    if isinstance(data, str):
        func = resolve_reference(data)
        if not callable(func):
            raise SerializationError(f"function reference {data!r} names a non-callable object")
        return func  # type: ignore[no-any-return]
    if strict:
        raise SerializationError(
            "refusing to unpickle a function stored by value: strict mode only loads "
            "functions stored by reference"
        )
    own, data = _own_main_function(data)
    if own is not None:
        return own
    try:
        func = pickle.loads(data)  # by-value functions, see the trust model
    except Exception as exc:
        raise SerializationError(
            f"cannot load a function stored by value: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(func):
        raise SerializationError(
            f"a function stored by value loaded as a non-callable {type(func).__qualname__}"
        )
    return func  # type: ignore[no-any-return]
