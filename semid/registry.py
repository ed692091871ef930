"""One registry type for every plug-in kind (embedders and quantizers so far).

An entry is a name, a one-line help, a factory (the class to build) and the typed options
dataclass the factory takes (``None`` where the factory still validates its own keyword
options). Factories and options are given as ``"module:attribute"`` strings and imported on
first use, so a registry module imports no implementation: listing names and help (CLI choices,
``--help``) stays cheap, and an implementation module may import the package's base module
without an import cycle. Registration is one line in the kind's registry module::

    EMBEDDERS.add("content", "semid.embed.sentence:ContentEmbedder", "a pretrained sentence encoder",
                  options="semid.embed.sentence:ContentConfig")

Names are looked up exactly; an unknown name raises a ValueError listing the valid ones.
Written here rather than taken from a plug-in library (pluggy, stevedore, catalogue): those
find plug-ins through entry points or hooks, and semid needs only a typed, explicit table.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from semid.config import from_dict

__all__ = ["Registry", "Entry", "UnknownNameError", "check_name_attribute"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that is not registered (a ValueError for users, a KeyError for mapping code)."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


def _resolve(ref: Any) -> Any:
    """``"package.module:attribute"`` -> the attribute (imported now); anything else as it is."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    if not attr:
        raise ValueError(f"registry reference {ref!r} must look like 'package.module:attribute'")
    return getattr(importlib.import_module(module), attr)


def check_name_attribute(name: str, factory: Any) -> None:
    """A registry ``check`` hook: a class that records its ``name`` (saved artifacts do) must
    carry the name it is registered under, or a saved artifact would not load back."""
    own = getattr(factory, "name", name)
    if own != name:
        raise TypeError(f"{getattr(factory, '__qualname__', factory)} is registered as {name!r} "
                        f"but its name attribute is {own!r}; make them the same")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plug-in: ``name``, one-line ``help``, its ``factory`` and ``options`` class."""

    name: str
    help: str
    factory_ref: Any
    options_ref: Any = None

    @property
    def factory(self) -> T:
        """The factory (usually a class), imported on first use."""
        return _resolve(self.factory_ref)

    @property
    def options(self) -> type | None:
        """The options dataclass, or None where the factory takes free keyword options."""
        return _resolve(self.options_ref) if self.options_ref is not None else None


class Registry(Mapping[str, T], Generic[T]):
    """Name -> plug-in, for one kind (e.g. ``Registry("embedding method")``).

    As a mapping it yields names and maps a name to its factory, so ``set(REG)`` lists the
    names and ``REG[name]`` is the class. ``kind`` names the thing in error messages
    ("unknown embedding method 'x'; valid methods: [...]"); ``noun`` is its last word.
    """

    def __init__(self, kind: str, check: Callable[[str, Any], None] | None = None) -> None:
        self.kind = kind
        self.noun = kind.split()[-1]
        self._check = check
        self._entries: dict[str, Entry[T]] = {}

    # ------------------------------------------------------------- registration
    def add(self, name: str, factory: Any, help: str, options: Any = None) -> None:
        """Register ``factory`` (an object or ``"module:attr"``) under exactly ``name``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} names are non-empty strings, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, help, factory, options)

    # ---------------------------------------------------------------- look-ups
    def entry(self, name: str) -> Entry[T]:
        """The entry registered under exactly ``name``; a ValueError lists the valid names."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.noun}s: {sorted(self._entries)}") from None

    def get_factory(self, name: str) -> T:
        """The factory of ``name``, checked by the registry's ``check`` hook when it has one."""
        factory = self.entry(name).factory
        if self._check is not None:
            self._check(name, factory)
        return factory

    def __getitem__(self, name: str) -> T:
        return self.get_factory(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def help_lines(self, indent: str = "  ") -> str:
        """One ``name: help`` line per entry, for ``--help`` texts."""
        return "\n".join(f"{indent}{e.name}: {e.help}" for e in self._entries.values())

    # ----------------------------------------------------------------- options
    def options_class(self, name: str) -> type | None:
        """The options dataclass of ``name`` (None where the factory takes keyword options)."""
        return self.entry(name).options

    def make_options(self, name: str, config: Mapping[str, Any] | Any | None = None,
                     where: str | None = None) -> Any:
        """``name``'s options dataclass from a dict (unknown keys raise), None (the defaults) or
        an instance (checked)."""
        cls = self.options_class(name)
        if cls is None or not dataclasses.is_dataclass(cls):
            raise TypeError(f"{self.kind} {name!r} has no options dataclass")
        if config is None:
            return cls()
        if isinstance(config, Mapping):
            return from_dict(cls, dict(config), where=where or name)
        if not isinstance(config, cls):
            raise TypeError(f"{self.noun} {name!r} takes a {cls.__name__} or a dict, got {type(config).__name__}")
        return config

    def options_map(self) -> Mapping[str, type | None]:
        """A read-only name -> options class mapping (classes imported on access)."""
        return _OptionsView(self)


class _OptionsView(Mapping[str, Any]):
    def __init__(self, registry: Registry[Any]) -> None:
        self._registry = registry

    def __getitem__(self, name: str) -> Any:
        return self._registry.options_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __len__(self) -> int:
        return len(self._registry)
