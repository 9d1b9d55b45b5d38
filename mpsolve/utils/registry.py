"""The one registry shape behind solvers, costs, objectives and spaces.

A :class:`Registry` maps names to entries (classes, or factories for spaces). An entry may
be given lazily as ``"module:attribute"``: the module is imported only when the entry is
asked for, so a backend with an optional dependency costs nothing until it is used (as
Optuna's ``samplers/__init__.py`` does). Each package exposes one ``register_*`` function
that adds an object under its ``name``; built-in and third-party entries register alike.

A taken name is refused unless ``replace=True`` (a plug-in standing in for a built-in means it), and
:meth:`Registry.remove` undoes the latest registration of a name: what a plug-in stood in for (a
built-in included) is back. Removing a built-in itself hides it, as it would a plug-in; a lazy one
stays importable (``mpsolve.solvers.EvolutionarySolver``) and is back once its class is registered
again (``register_solver(mpsolve.solvers.EvolutionarySolver)``), and asking for it by name says so.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from mpsolve.utils.errors import MpsolveError, shown
from mpsolve.utils.validation import check_bool

__all__ = ["Registry"]

T = TypeVar("T")
#: what a registered name may be: command lines split lists at "," and solver options at "."
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class Registry(Mapping[str, T], Generic[T]):
    """Names -> entries, some loaded lazily; a read-only mapping (``name in registry``,
    ``registry[name]``, iteration over the available names), changed through :meth:`add` and
    :meth:`remove` (which undoes the latest ``add`` of a name; see the module's docstring).

    Args:
        kind: what the entries are, for error messages (``"solver"``, ``"cost"``, ...).
        error: the error raised for an unknown name.
        lazy: built-in entries as ``{name: "module:attribute"}``.
        aliases: other names of entries (``{"latency_ms": "latency"}``).
        plural: the plural of ``kind`` in messages (default ``kind + "s"``).
        sort: list names alphabetically in messages (else in registration order).
    """

    def __init__(
        self,
        kind: str,
        error: type[MpsolveError] = MpsolveError,
        lazy: Mapping[str, str] | None = None,
        aliases: Mapping[str, str] | None = None,
        plural: str | None = None,
        sort: bool = False,
    ) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.sort = sort
        self.error = error
        self._entries: dict[str, T | str] = dict(lazy or {})
        self._builtin = dict(lazy or {})  # still importable when removed or stood in for
        self._shadowed: dict[str, list[T | str]] = {}  # what each replace=True stood in for, latest last
        self.aliases = dict(aliases or {})

    def add(self, name: str, entry: T, replace: bool = False) -> None:
        """Register ``entry`` under ``name``.

        A name already taken by another entry (a built-in included) or used as an alias is
        refused unless ``replace``: a plug-in must not silently stand in for what users ask for.
        """
        replace = check_bool(replace, "replace", self.error)  # "no" (truthy) stood in for a built-in, silently
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise self.error(f"a {self.kind} name is a letter or digit, then letters, digits, '_' or '-' (the "
                             f"command line splits names at ',' and '.', and labels costs with '[' and '#'), got "
                             f"{name!r}")
        if name in self.aliases:
            raise self.error(f"{name!r} is another name of the {self.kind} {self.aliases[name]!r}; pick another name")
        current = self._entries.get(name, entry)
        if not self._same(current, entry):
            if not replace:
                raise self.error(f"a {self.kind} named {name!r} is already registered; pick another name, "
                                 "or pass replace=True to stand in for it")
            self._shadowed.setdefault(name, []).append(current)  # remove(name) brings it back
        self._entries[name] = entry

    @staticmethod
    def _same(current: Any, entry: Any) -> bool:
        """Whether ``current`` (an entry or its lazy ``"module:attribute"``) is ``entry``."""
        if isinstance(current, str) and not isinstance(entry, str):
            return current == f"{getattr(entry, '__module__', '')}:{getattr(entry, '__qualname__', '')}"
        return current is entry or bool(current == entry)

    def remove(self, name: str) -> None:
        """Undo the latest registration of ``name`` (e.g. a plug-in registered for one test): the entry it
        stood in for with ``replace=True`` (a built-in included) is back; else the name is forgotten (a
        built-in too, until its class is registered again). A name not registered is left alone."""
        shadowed = self._shadowed.get(name)
        if shadowed:
            self._entries[name] = shadowed.pop()
        else:
            self._entries.pop(name, None)

    def __getitem__(self, name: str) -> T:
        key = self.aliases.get(name, name) if isinstance(name, str) else None  # a list or dict: no such entry
        if key not in self._entries or not self._available(key):
            removed = self._builtin.get(key, "") if key not in self._entries else ""
            module, _, attribute = removed.partition(":")
            hint = (f" (a built-in one removed from the registry: register {attribute} again to use it)"
                    if removed and importlib.util.find_spec(module) is not None else "")
            raise self.error(f"unknown {self.kind} {shown(name)}{hint}; known {self.plural}: {', '.join(self.names())}")
        entry = self._entries[key]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = getattr(importlib.import_module(module), attribute)
            self._entries[key] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        """The available names, in the order error messages list them."""
        return sorted(self) if self.sort else list(self)

    def __iter__(self) -> Iterator[str]:
        return iter([name for name in self._entries if self._available(name)])

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __contains__(self, name: object) -> bool:
        key = self.aliases.get(name, name) if isinstance(name, str) else name
        return key in self._entries and self._available(key)  # type: ignore[operator]

    def by_attribute(self, attribute: str) -> Any:
        """The entry whose lazy target or class is called ``attribute`` (a package's ``__getattr__``)."""
        for name, entry in self._entries.items():
            target = entry.partition(":")[2] if isinstance(entry, str) else getattr(entry, "__name__", None)
            if target == attribute:
                return self[name]
        for entry in self._builtin.values():  # a built-in removed or stood in for is still importable
            module, _, target = entry.partition(":")
            if target == attribute and importlib.util.find_spec(module) is not None:
                return getattr(importlib.import_module(module), target)
        raise AttributeError(attribute)

    def _available(self, name: str) -> bool:
        entry = self._entries[name]
        return not isinstance(entry, str) or importlib.util.find_spec(entry.partition(":")[0]) is not None
