"""Which functions a strict serializer stores and runs: registered tasks and allowed modules.

Strict mode keeps pickle out of the store, but a stored call still names a function as
``"module:qualname"``, and whoever can write to the store can write any name, such as
``"os:system"``. So in strict mode a worker runs only what the application allowed, as
Celery runs only registered tasks:

* **registered tasks**: functions passed to :meth:`AllowList.register` (``@oq.task``). Their
  reference is looked up in the registry; the store's text is never imported.
* **allowed modules**: functions *defined* in a module listed in ``allowed_modules``, or in
  one of its submodules (``"shop"`` allows ``shop.tasks``). The module part of the reference
  is checked before anything is imported, and the object found must itself come from an
  allowed module (``__module__``), so a name re-exported by an allowed module
  (``"shop.tasks:system"`` after ``from os import system``) is refused. Dunder attributes
  (``__init__``, ``__globals__``...) are refused in the qualname.

Everything else is refused with :class:`~omniq.exceptions.FunctionNotAllowedError`:
``os``, ``subprocess`` and ``builtins`` included, unless listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from omniq.exceptions import ConfigurationError, FunctionNotAllowedError, SerializationError
from omniq.serialization.functions import dump_function, load_function

__all__ = ["AllowList", "check_module_names"]

_MODULE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")

_HOW: Final = (
    "strict mode runs only registered tasks (OmniQ.task) and functions defined in the "
    "modules listed in allowed_modules"
)


def check_module_names(modules: object, what: str = "allowed_modules") -> tuple[str, ...]:
    """Validate a list of module names (``"shop.tasks"``).

    Args:
        modules: The value to check: a list (or other iterable, not a string) of dotted
            module names.
        what: The setting's name, for the error message.

    Returns:
        The names, without repeats, in the given order.

    Raises:
        ConfigurationError: ``modules`` is a string or not iterable, or an item is not a
            dotted module name; the message names the item.
    """
    if isinstance(modules, str | bytes) or not isinstance(modules, Iterable):
        raise ConfigurationError(
            f"{what} {modules!r} is not valid: expected a list of module names, e.g. ['shop.tasks']"
        )
    names: list[str] = []
    for name in modules:
        if not isinstance(name, str) or not _MODULE_NAME.fullmatch(name):
            raise ConfigurationError(
                f"{what}: {name!r} is not a module name: expected dotted identifiers, "
                "e.g. 'shop.tasks'"
            )
        names.append(name)
    return tuple(dict.fromkeys(names))


class AllowList:
    """The functions strict mode may store and run.

    Args:
        modules: Modules whose functions (and their submodules' functions) are allowed.

    Raises:
        ConfigurationError: A module name is not valid.
    """

    __slots__ = ("_modules", "_registered")

    def __init__(self, modules: Iterable[str] = ()) -> None:
        self._modules = check_module_names(modules)
        self._registered: dict[str, Callable[..., Any]] = {}

    @property
    def modules(self) -> tuple[str, ...]:
        """The allowed modules."""
        return self._modules

    @property
    def registered(self) -> tuple[str, ...]:
        """The references of the registered tasks, in registration order."""
        return tuple(self._registered)

    def register(self, func: Callable[..., Any]) -> str:
        """Allow one function, stored by reference.

        Args:
            func: A module-level function (or class, static or class method) of an
                importable module.

        Returns:
            Its ``"module:qualname"`` reference.

        Raises:
            SerializationError: ``func`` cannot be stored by reference (a lambda, closure,
                ``__main__`` function...); the message names it.
        """
        reference = dump_function(func, strict=True)
        assert isinstance(reference, str)  # strict: never the pickled form
        self._registered[reference] = func
        return reference

    def module_allowed(self, module: str) -> bool:
        """Whether ``module`` is an allowed module or inside one."""
        return any(module == name or module.startswith(f"{name}.") for name in self._modules)

    def _refusal(self, reference: str, reason: str) -> FunctionNotAllowedError:
        listed = list(self._modules) or "none"
        return FunctionNotAllowedError(
            f"function {reference!r} is not allowed: {reason}; {_HOW} (allowed_modules: "
            f"{listed}). Register it with OmniQ.task, or list its module in allowed_modules"
        )

    def check(self, reference: str, func: Callable[..., Any]) -> None:
        """Refuse to store a call of ``func`` (by ``reference``) that a worker would refuse.

        Raises:
            FunctionNotAllowedError: ``func`` is neither registered nor defined in an
                allowed module.
        """
        if self._registered.get(reference) is func:
            return
        module, _, qualname = reference.partition(":")
        if _has_dunder(qualname):
            raise self._refusal(reference, "a dunder attribute cannot be a task")
        owner = getattr(func, "__module__", None)
        if not self.module_allowed(module) or not isinstance(owner, str):
            raise self._refusal(reference, "it is not a registered task")
        if not self.module_allowed(owner):
            raise self._refusal(reference, f"it is defined in module {owner!r}")

    def load(self, reference: object) -> Callable[..., Any]:
        """Return the allowed function a stored reference names.

        Args:
            reference: The function part of a stored call.

        Returns:
            The registered function, or the function imported from an allowed module.

        Raises:
            FunctionNotAllowedError: The reference names no registered task and no function
                defined in an allowed module; nothing was imported.
            SerializationError: The reference is not a string, or is allowed but does not
                resolve.
        """
        if not isinstance(reference, str):
            raise SerializationError(
                "refusing to load a function stored by value: strict mode only loads "
                "functions stored by reference"
            )
        registered = self._registered.get(reference)
        if registered is not None:
            return registered
        module, _, qualname = reference.partition(":")
        if _has_dunder(qualname):
            raise self._refusal(reference, "a dunder attribute cannot be a task")
        if not self.module_allowed(module):
            raise self._refusal(reference, "it is not a registered task")
        func = load_function(reference, strict=True)
        owner = getattr(func, "__module__", None)
        if not isinstance(owner, str) or not self.module_allowed(owner):
            raise self._refusal(reference, f"it names an object of module {owner!r}")
        return func


def _has_dunder(qualname: str) -> bool:
    return any(part.startswith("__") for part in qualname.split("."))
