"""One registry type for every open-ended choice (sources, readers, layouts, transforms, tasks, subsets, ...).

``Registry`` is a read-only mapping from canonical names to objects, plus aliases. ``register`` refuses a
name or alias that is already taken (pass ``replace=True`` to override on purpose), ``get`` resolves an alias
and raises an error that lists the known names, ``names()`` lists them in registration order.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from llava_ecg.errors import LlavaEcgError

T = TypeVar("T")


class UnknownNameError(LlavaEcgError, KeyError):
    """A name that no registry entry or alias matches (also a ``KeyError`` for mapping-style callers)."""

    __str__ = Exception.__str__


class DuplicateNameError(LlavaEcgError):
    """A name or alias registered twice."""


class Registry(Mapping, Generic[T]):
    """``kind`` names what the registry holds in error messages (``"layout"``); ``normalize`` maps a
    user-typed name to its lookup key (e.g. ``str.lower``); ``error`` is the class ``get`` raises."""

    def __init__(self, kind: str, *, normalize: Callable[[str], str] | None = None,
                 error: type[Exception] = UnknownNameError):
        self.kind = kind
        self._normalize = normalize
        self._error = error
        self._items: dict[Hashable, T] = {}
        self._aliases: dict[Hashable, Hashable] = {}

    def _key(self, name):
        return self._normalize(name) if self._normalize and isinstance(name, str) else name

    def register(self, name: Hashable, obj: T | None = None, *, aliases: Iterable[Hashable] = (),
                 replace: bool = False):
        """Add ``obj`` under ``name`` (and ``aliases``); without ``obj``, a decorator that registers its target."""
        if obj is None:
            def wrap(target: T) -> T:
                self.register(name, target, aliases=aliases, replace=replace)
                return target
            return wrap
        key = self._key(name)
        alias_keys = [self._key(a) for a in aliases]
        if not replace:
            for k in (key, *alias_keys):
                if k in self._items or k in self._aliases:
                    raise DuplicateNameError(f"{self.kind} {k!r} is already registered")
        self._items[key] = obj
        self._aliases.pop(key, None)
        for a in alias_keys:
            self._aliases[a] = key
        return obj

    def register_many(self, *names: Hashable):
        """A decorator that registers its target under each of ``names``, each a name of its own (listed by
        ``names()``), not an alias; a taken name is refused."""
        def wrap(target: T) -> T:
            for name in names:
                self.register(name, target)
            return target
        return wrap

    def unregister(self, name: Hashable) -> T:
        """Remove ``name`` and its aliases (tests and plugins that register temporarily)."""
        key = self.canonical(name)
        self._aliases = {a: k for a, k in self._aliases.items() if k != key}
        return self._items.pop(key)

    def canonical(self, name: Hashable) -> Hashable:
        """The registered name for ``name`` or one of its aliases."""
        key = self._key(name.strip() if isinstance(name, str) else name)
        key = self._aliases.get(key, key)
        if key not in self._items:
            aliases = f" (aliases: {', '.join(map(str, self._aliases))})" if self._aliases else ""
            raise self._error(f"unknown {self.kind} {name!r}; known: {', '.join(map(str, self._items))}{aliases}")
        return key

    def get(self, name: Hashable) -> T:
        """The object for ``name`` or an alias; raises the registry's error listing the known names."""
        return self._items[self.canonical(name)]

    def names(self) -> list:
        return list(self._items)

    def aliases(self) -> dict:
        return dict(self._aliases)

    def __getitem__(self, name) -> T:
        return self.get(name)

    def __contains__(self, name) -> bool:
        try:
            self.canonical(name)
        except (self._error, AttributeError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
