"""The noise-model interface, its parameters, the registry of models and the spec-string parser.

A noise model is a small immutable object built from named parameters. It is written as a spec
string ``name(key=value,...)``; models compose with ``+`` (applied left to right). The canonical
spec of a model is ``str(model)``: parameters in their declared order, the always-shown ones
always and the others only when they differ from their default, numbers in their shortest form.
``parse_noise(str(model)) == model`` for every model and ``str(parse_noise(s)) == s`` for every
canonical ``s``.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from meddenoise._utils import RNGLike, as_rng

__all__ = [
    "NOISE_MODELS",
    "ComposedNoise",
    "NoiseModel",
    "NoiseSpecError",
    "Param",
    "format_value",
    "parse_noise",
    "register_noise",
]


class NoiseSpecError(ValueError):
    """A noise spec string or a noise parameter is invalid (unknown name or parameter, bad value)."""


@dataclass(frozen=True)
class Param:
    """One parameter of a noise model.

    Parameters
    ----------
    name
        Keyword in spec strings and in the constructor.
    kind
        ``"float"``, ``"int"``, ``"bool"`` (written ``true``/``false``) or ``"choice"``.
    default
        Value when the parameter is not given.
    doc
        One line: what the parameter means, with its unit.
    low, high
        Allowed range (``None``: unbounded); ``low_open``/``high_open`` exclude the bound itself.
    choices
        Allowed values of a ``"choice"`` parameter.
    always
        Always written in the canonical spec (the parameters that define the noise level);
        the others are written only when they differ from their default.
    """

    name: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    always: bool = False

    def range_text(self) -> str:
        """Human-readable allowed values, e.g. ``in [0, 1]``, ``> 0`` or ``one of gamma, rayleigh``."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.low is not None and self.high is not None:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"in {left}{format_value(self.low)}, {format_value(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {format_value(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {format_value(self.high)}"
        return "any real number"

    def convert(self, model: str, value: Any) -> Any:
        """Convert a value (a Python value or the text of a spec) and check it is allowed."""
        where = f"{model}: parameter {self.name!r}"
        if self.kind == "choice":
            text = str(value).strip()
            if text not in self.choices:
                raise NoiseSpecError(f"{where} must be {self.range_text()}, got {value!r}")
            return text
        if self.kind == "bool":
            if isinstance(value, bool | np.bool_):
                return bool(value)
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise NoiseSpecError(f"{where} must be true or false, got {value!r}")
        try:
            if isinstance(value, bool):
                raise TypeError
            number = float(value)
        except (TypeError, ValueError):
            raise NoiseSpecError(f"{where} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise NoiseSpecError(f"{where} must be finite, got {value!r}")
        if self.kind == "int":
            if number != int(number):
                raise NoiseSpecError(f"{where} must be an integer, got {value!r}")
            number = int(number)
        too_low = self.low is not None and (number < self.low or (self.low_open and number == self.low))
        too_high = self.high is not None and (number > self.high or (self.high_open and number == self.high))
        if too_low or too_high:
            raise NoiseSpecError(f"{where} must be {self.range_text()}, got {format_value(number)}")
        return number


def format_value(value: Any) -> str:
    """Shortest text of a parameter value: ``1`` not ``1.0``, ``0.1``, ``1e-05``, ``true``, ``gamma``."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number == 0.0:
            return "0"
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return repr(number)
    return str(value)


class NoiseModel(ABC):
    """A seedable corruption of images.

    Subclasses set :attr:`name` and :attr:`params` and implement :meth:`apply`; they are registered
    with :func:`register_noise`. A model is called as ``model(x, rng=seed_or_generator)`` on one
    image or any batch and returns an array of the same shape and dtype. Same seed, same noise.
    """

    #: Spec name, e.g. ``"gaussian"``.
    name: ClassVar[str] = ""
    #: Declared parameters, in canonical order.
    params: ClassVar[tuple[Param, ...]] = ()
    #: One line for ``meddenoise noise --list`` and the docs.
    summary: ClassVar[str] = ""
    #: Image dimensions the model needs (1 for elementwise models, 2 for slice-wise ones).
    min_ndim: ClassVar[int] = 0

    def __init__(self, **values: Any) -> None:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            valid = ", ".join(known) or "(none)"
            raise NoiseSpecError(
                f"{self.name}: unknown parameter {', '.join(map(repr, unknown))}; valid parameters: {valid}"
            )
        settings = {p.name: p.convert(self.name, values.get(p.name, p.default)) for p in self.params}
        object.__setattr__(self, "_values", settings)
        self.validate()

    def validate(self) -> None:
        """Check relations between parameters (override when one value constrains another)."""
        return None

    def __getattr__(self, item: str) -> Any:
        values = self.__dict__.get("_values", {})
        if item in values:
            return values[item]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {item!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"noise models are immutable; build a new one instead of setting {key!r}")

    @property
    def values(self) -> dict[str, Any]:
        """All parameter values (defaults included), in declared order."""
        return dict(self.__dict__["_values"])

    @abstractmethod
    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Corrupt a float64 array ``x`` (any shape); return the noisy float64 array."""

    def __call__(self, x: np.ndarray, rng: RNGLike = None) -> np.ndarray:
        """Return a noisy copy of ``x`` (an image or a batch) with the same shape and dtype.

        Parameters
        ----------
        x
            Image or batch. Floating arrays keep their dtype; integer arrays are rounded and
            clipped to their dtype's range.
        rng
            A :class:`numpy.random.Generator` or an integer seed (``None``: fresh entropy).
        """
        arr = np.asarray(x)
        if arr.ndim < self.min_ndim:
            raise ValueError(
                f"{self.name}: needs an array with at least {self.min_ndim} dimensions, got {arr.shape}"
            )
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{self.name}: expected a numeric image, got dtype {arr.dtype}")
        noisy = np.asarray(self.apply(arr.astype(np.float64), as_rng(rng)))
        if noisy.shape != arr.shape:  # a bug in a model, not bad input
            raise AssertionError(f"{self.name} changed the shape {arr.shape} -> {noisy.shape}")
        if np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(arr.dtype)
            noisy = np.clip(np.rint(noisy), info.min, info.max)
        return noisy.astype(arr.dtype, copy=False)

    def __str__(self) -> str:
        shown = [
            f"{p.name}={format_value(self._values[p.name])}"
            for p in self.params
            if p.always or self._values[p.name] != p.default
        ]
        return f"{self.name}({','.join(shown)})"

    def __repr__(self) -> str:
        return f"parse_noise({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoiseModel) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __add__(self, other: NoiseModel) -> ComposedNoise:
        if not isinstance(other, NoiseModel):
            return NotImplemented
        return ComposedNoise([self, other])

    @property
    def components(self) -> tuple[NoiseModel, ...]:
        """The single models this one applies in order (itself, for a single model)."""
        return (self,)


class ComposedNoise(NoiseModel):
    """Several noise models applied one after the other, written ``a(...)+b(...)``.

    One generator feeds every stage in turn, so a seed still fixes the whole result.
    """

    name = "compose"

    def __init__(self, stages: list[NoiseModel]) -> None:
        flat: list[NoiseModel] = []
        for stage in stages:
            flat.extend(stage.components)
        if len(flat) < 2:
            raise NoiseSpecError("a composition needs at least two noise models")
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_stages", tuple(flat))

    @property
    def components(self) -> tuple[NoiseModel, ...]:
        return self.__dict__["_stages"]

    @property
    def min_ndim(self) -> int:  # type: ignore[override]
        return max(stage.min_ndim for stage in self.components)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for stage in self.components:
            x = stage.apply(x, rng)
        return x

    def __str__(self) -> str:
        return "+".join(str(stage) for stage in self.components)


#: Registered noise models by spec name.
NOISE_MODELS: dict[str, type[NoiseModel]] = {}

_Model = TypeVar("_Model", bound=type[NoiseModel])


def register_noise(cls: _Model) -> _Model:
    """Class decorator adding a :class:`NoiseModel` subclass to :data:`NOISE_MODELS` under its ``name``."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", cls.name):
        raise ValueError(f"noise model name {cls.name!r} must be lower-case letters, digits and '-'")
    if cls.name in NOISE_MODELS and NOISE_MODELS[cls.name] is not cls:
        raise ValueError(f"noise model {cls.name!r} is already registered")
    NOISE_MODELS[cls.name] = cls
    return cls


_TERM = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)\s*(?:\((.*)\))?\s*", re.DOTALL)


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses (so ``1e+5`` inside a term stays whole)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise NoiseSpecError(f"unbalanced ')' in noise spec {text!r}")
        elif char == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise NoiseSpecError(f"unbalanced '(' in noise spec {text!r}")
    parts.append(text[start:])
    return parts


def _parse_term(term: str) -> NoiseModel:
    match = _TERM.fullmatch(term)
    if match is None:
        raise NoiseSpecError(f"cannot read noise term {term.strip()!r}: expected name(key=value,...)")
    name, args = match.group(1).lower(), match.group(2)
    if name not in NOISE_MODELS:
        raise NoiseSpecError(f"unknown noise model {name!r}; valid models: {', '.join(sorted(NOISE_MODELS))}")
    values: dict[str, str] = {}
    if args is not None and args.strip():
        for item in args.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key or not value.strip():
                raise NoiseSpecError(f"{name}: cannot read {item.strip()!r}; expected key=value")
            if key in values:
                raise NoiseSpecError(f"{name}: parameter {key!r} given twice")
            values[key] = value.strip()
    return NOISE_MODELS[name](**values)


def parse_noise(spec: str | NoiseModel) -> NoiseModel:
    """Build a noise model from a spec string such as ``"gaussian(p=0.1,sigma=1)+saltpepper(amount=0.02)"``.

    Parameters
    ----------
    spec
        One or more ``name(key=value,...)`` terms joined by ``+``; a term without parameters may
        omit the parentheses. A :class:`NoiseModel` is returned unchanged.

    Raises
    ------
    NoiseSpecError
        Unknown model or parameter (the message lists the valid ones), malformed text, or a
        value out of range.
    """
    if isinstance(spec, NoiseModel):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise NoiseSpecError(f"expected a noise spec such as 'gaussian(p=0.1,sigma=1)', got {spec!r}")
    terms = _split_top_level(spec, "+")
    models = [_parse_term(term) for term in terms]
    return models[0] if len(models) == 1 else ComposedNoise(models)


def describe_models() -> list[Mapping[str, Any]]:
    """Name, summary and parameters (name, default, allowed range, doc) of every registered model."""
    return [
        {
            "name": cls.name,
            "summary": cls.summary,
            "example": str(cls()),
            "params": [
                {"name": p.name, "default": format_value(p.default), "range": p.range_text(), "doc": p.doc}
                for p in cls.params
            ],
        }
        for cls in sorted(NOISE_MODELS.values(), key=lambda c: c.name)
    ]
