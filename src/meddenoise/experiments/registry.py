"""The reproductions registry: every paper re-run is one plugin found here by name.

A reproduction is one module (or package) under :mod:`meddenoise.experiments.reproductions` that
subclasses :class:`Reproduction` (its name, title, config class, published numbers, figures and
``run``) and decorates it with :func:`register`. ``meddenoise reproduce``'s choices, the published
tables and the docs' list all come from :func:`reproductions`; nothing else names the experiments.

>>> from meddenoise.experiments.registry import reproduction_names
>>> "gondara2016" in reproduction_names()
True
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import ValidationError

from meddenoise.experiments.config import ReproductionConfig, derive
from meddenoise.experiments.published import PublishedTable
from meddenoise.experiments.runner import ExperimentRecord

__all__ = [
    "Reproduction",
    "ReproductionConfig",
    "ReproductionError",
    "derive",
    "get_reproduction",
    "published_tables",
    "register",
    "reproduction_names",
    "reproductions",
    "unregister",
]


class ReproductionError(ValueError):
    """An unknown reproduction, or an option it does not have or cannot take."""


C = TypeVar("C", bound=ReproductionConfig)


class Reproduction(ABC, Generic[C]):
    """One paper's re-run: protocol (config), published numbers, figures, and the run itself.

    Subclasses set the class attributes and implement :meth:`run`; :func:`register` adds them.
    """

    #: Name on the command line and in ``results.json`` (``meddenoise reproduce NAME``).
    name: ClassVar[str]
    #: Title of the report.
    title: ClassVar[str]
    #: One line for ``meddenoise reproduce --help``.
    summary: ClassVar[str]
    #: The config class (a :class:`ReproductionConfig` subclass).
    config_class: ClassVar[type[ReproductionConfig]]
    #: The published tables it compares with, by short key.
    published: ClassVar[Mapping[str, PublishedTable]] = {}
    #: Titles of the figures it re-draws.
    figures: ClassVar[tuple[str, ...]] = ()
    #: Section of docs/reproduce.md describing its protocol.
    doc: ClassVar[str] = "docs/reproduce.md"
    #: Config fields fixed by the paper's protocol: options cannot change them (``--quick`` can).
    fixed: ClassVar[frozenset[str]] = frozenset()

    def takes_option(self, key: str) -> bool:
        """Whether option ``key`` (a config field) may be changed for this reproduction."""
        return key in self.config_class.model_fields and key not in self.fixed

    def quick_changes(self) -> dict[str, object]:
        """Field changes that make the CI-sized (``--quick``) variant; none by default."""
        return {}

    def make_config(self, *, quick: bool = False, **fields: object) -> C:
        """The default config (or its quick variant) with ``fields`` set, validated."""
        base = {**(self.quick_changes() if quick else {}), **fields, "quick": quick}
        try:
            return self.config_class.model_validate(base)  # type: ignore[return-value]
        except ValidationError as exc:
            raise ReproductionError(f"{self.name}: {_one_line(exc)}") from None

    def configure(self, config: C, changes: Mapping[str, object]) -> C:
        """``config`` with option ``changes`` (e.g. from the command line); re-validated."""
        refused = [key for key in changes if not self.takes_option(key)]
        if refused:
            key = refused[0]
            others = [r.name for r in reproductions().values() if r.takes_option(key)]
            flag = "--" + key.replace("_", "-")
            where = (
                f"applies to {', '.join(others)} only" if others else "is not an option of any reproduction"
            )
            has = key in self.config_class.model_fields
            why = "fixes it (the paper's protocol)" if has else f"has no {key!r} option"
            raise ReproductionError(f"{flag} {where} ({self.name} {why})")
        try:
            return derive(config, **changes)
        except ValidationError as exc:
            raise ReproductionError(f"{self.name}: {_one_line(exc)}") from None

    def report_name(self, changes: Mapping[str, object]) -> str:
        """Default report folder name under ``reports/`` (the reproduction's name)."""
        return self.name

    @abstractmethod
    def run(self, config: C, *, log: Callable[[str], None] = print) -> ExperimentRecord:
        """Run into ``config.out``: tables, figures, notes; the caller saves the record and writes the page."""


_REGISTRY: dict[str, Reproduction[ReproductionConfig]] = {}
_discovered = False

R = TypeVar("R", bound=type[Reproduction[Any]])


def register(cls: R) -> R:
    """Class decorator: register a reproduction under ``cls.name`` (a second one with that name is an error)."""
    name = cls.name
    existing = _REGISTRY.get(name)
    if existing is not None and type(existing) is not cls:
        raise ReproductionError(
            f"a reproduction called {name!r} is already registered ({type(existing).__name__})"
        )
    _REGISTRY[name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove a registered reproduction (tests register toy ones)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    """Import every module of :mod:`meddenoise.experiments.reproductions` once (each registers itself)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    # Found by name, like any plugin package: the registry must not depend on its plugins (they import it).
    package = importlib.import_module(f"{__package__}.reproductions")

    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)


def reproductions() -> dict[str, Reproduction[ReproductionConfig]]:
    """Every registered reproduction by name, in name order."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def reproduction_names() -> tuple[str, ...]:
    """The names ``meddenoise reproduce`` accepts."""
    return tuple(reproductions())


def get_reproduction(name: str) -> Reproduction[ReproductionConfig]:
    """The reproduction called ``name``; an unknown name is an error listing the choices."""
    found = reproductions().get(name)
    if found is None:
        raise ReproductionError(
            f"unknown reproduction {name!r}; choose from {', '.join(reproduction_names())}"
        )
    return found


def published_tables() -> dict[str, PublishedTable]:
    """Every published table of every registered reproduction, keyed by its ``key``."""
    return {t.key: t for r in reproductions().values() for t in r.published.values()}


def _one_line(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
    )
