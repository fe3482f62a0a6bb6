"""The base config of every reproduction, and :func:`derive`, the re-validating way to change a config.

>>> from meddenoise.experiments.config import ReproductionConfig, derive
>>> derive(ReproductionConfig(), seed=3).seed
3
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ReproductionConfig", "derive"]

M = TypeVar("M", bound=BaseModel)


class ReproductionConfig(BaseModel):
    """What every reproduction's config has; each reproduction extends it with its protocol's fields.

    ``quick`` selects the CI-sized variant of the same code path (:meth:`Reproduction.quick_changes`).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    seed: int = Field(0, description="Seed of splits, noise and training.")
    quick: bool = Field(False, description="A few images and epochs: the same code path, for CI.")
    threads: int = Field(2, ge=1, description="torch threads.")
    data_dir: Path | None = Field(None, description="Research data folder.")
    out: Path | None = Field(None, description="Report folder.")
    resume: bool = Field(
        False,
        description="Continue a stopped run in the same report folder: every training continues from its last "
        "finished epoch (exact), a finished one is reused as is; the rest is computed again.",
    )


def derive(config: M, **changes: object) -> M:
    """A copy of a pydantic ``config`` with ``changes``, validated again as a whole.

    Unlike ``model_copy(update=...)``, an invalid change (wrong type, out of range, unknown field)
    raises :class:`pydantic.ValidationError` here instead of producing a config that could never be built.
    """
    return type(config).model_validate({**config.model_dump(), **changes})
