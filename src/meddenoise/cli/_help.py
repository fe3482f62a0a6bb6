"""Help texts that list registered names, filled in from the registries when the help is shown.

A help string names a list with a placeholder such as ``{classical}`` or ``{objectives}`` (the keys of
:data:`NAME_LISTS`). :class:`RegistryHelpCommand`, the class of every command (see
:mod:`meddenoise.cli.app`), replaces them only when ``--help`` is printed: building the command line
imports no registry, so ``meddenoise --help`` and commands that need no torch stay fast, and a newly
registered method, objective or model appears in the help without editing a command module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from typer.core import TyperCommand

__all__ = ["NAME_LISTS", "RegistryHelpCommand", "fill_help", "help_names"]


def _classical() -> Sequence[str]:
    from meddenoise.methods import classical_names

    return classical_names()


def _shipped() -> Sequence[str]:
    from meddenoise.methods import shipped_names

    return shipped_names()


def _metrics() -> Sequence[str]:
    from meddenoise.metrics import METRICS

    return list(METRICS)


def _noise_models() -> Sequence[str]:
    from meddenoise.noise import NOISE_MODELS

    return list(NOISE_MODELS)


def _objectives() -> Sequence[str]:
    from meddenoise.training.objectives import OBJECTIVES  # needs torch

    return list(OBJECTIVES)


def _models() -> Sequence[str]:
    from meddenoise.models import MODEL_REGISTRY  # needs torch

    return list(MODEL_REGISTRY)


def _losses() -> Sequence[str]:
    from meddenoise.training.losses import LOSS_FUNCTIONS  # needs torch

    return list(LOSS_FUNCTIONS)


def _optimizers() -> Sequence[str]:
    from meddenoise.training.config import OPTIMIZERS

    return OPTIMIZERS


#: Placeholder → the registry it lists, read when the help is shown.
NAME_LISTS: dict[str, Callable[[], Sequence[str]]] = {
    "classical": _classical,
    "shipped": _shipped,
    "metrics": _metrics,
    "noise_models": _noise_models,
    "objectives": _objectives,
    "models": _models,
    "losses": _losses,
    "optimizers": _optimizers,
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def help_names(key: str) -> tuple[str, ...]:
    """The names a ``{key}`` placeholder stands for, read from its registry now."""
    return tuple(NAME_LISTS[key]())


def fill_help(text: str) -> str:
    """``text`` with every known ``{key}`` placeholder replaced by its names, comma-separated."""

    def names(match: re.Match[str]) -> str:
        key = match.group(1)
        return ", ".join(help_names(key)) if key in NAME_LISTS else match.group(0)

    return _PLACEHOLDER.sub(names, text)


class RegistryHelpCommand(TyperCommand):
    """A Typer command whose help texts may hold :data:`NAME_LISTS` placeholders, filled when shown."""

    # Any: the context and formatter classes are those of the Click copy inside Typer (a private module)
    def format_help(self, ctx: Any, formatter: Any) -> None:
        # filled for this printing only: the placeholders stay, so a later --help reads the registries again
        owners: list[Any] = [self, *self.params]  # Any: only options and arguments have a help text
        texts = [(owner, owner.help) for owner in owners if isinstance(getattr(owner, "help", None), str)]
        try:
            for owner, text in texts:
                owner.help = fill_help(text)
            super().format_help(ctx, formatter)
        finally:
            for owner, text in texts:
                owner.help = text
