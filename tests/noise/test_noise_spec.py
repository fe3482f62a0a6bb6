"""Spec strings: parsing, canonical form, round trip, composition and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meddenoise.noise import NOISE_MODELS, ComposedNoise, NoiseSpecError, format_value, parse_noise

CANONICAL = [
    "gaussian(p=0.1,sigma=1)",
    "gaussian(p=0.5,sigma=1)",
    "gaussian(p=0.3,sigma=1.5)",
    "gaussian(p=0.2,sigma=10,mu=0.5)",
    "poisson(p=0.2,lam=5)",
    "poisson(p=0.2,lam=1)",
    "masking(fraction=0.25)",
    "gaussian(p=0.1,sigma=1)+masking(fraction=0.1)",
]


@pytest.mark.parametrize("spec", CANONICAL)
def test_canonical_specs_round_trip(spec: str) -> None:
    assert str(parse_noise(spec)) == spec


def test_every_registered_model_round_trips_with_its_defaults() -> None:
    for name, cls in NOISE_MODELS.items():
        model = cls()
        assert model.name == name
        assert parse_noise(str(model)) == model
        assert str(parse_noise(str(model))) == str(model)


def test_loose_spellings_normalise_to_the_canonical_spec() -> None:
    assert str(parse_noise(" Gaussian ( sigma = 1.0 , p=0.50 , mu=0 ) ")) == "gaussian(p=0.5,sigma=1)"
    assert str(parse_noise("masking")) == "masking(fraction=0.25)"
    assert parse_noise("gaussian(p=1e-1,sigma=1)") == parse_noise("gaussian(p=0.1,sigma=1)")


def _model_strategy(cls: type) -> st.SearchStrategy:
    fields = {}
    for p in cls.params:
        if p.kind == "choice":
            fields[p.name] = st.sampled_from(p.choices)
        elif p.kind == "bool":
            fields[p.name] = st.booleans()
        else:
            low = p.low if p.low is not None else -1e6
            high = p.high if p.high is not None else 1e6
            if p.kind == "int":
                fields[p.name] = st.integers(
                    int(np.ceil(low)) + int(p.low_open), int(high) - int(p.high_open)
                )
            else:
                fields[p.name] = st.floats(low, high, exclude_min=p.low_open, exclude_max=p.high_open).map(
                    lambda v: v + 0.0  # no negative zero
                )
    return st.fixed_dictionaries(fields).map(lambda values: _build_or_none(cls, values))


def _build_or_none(cls: type, values: dict):
    """The model, or None where parameters that are each valid clash (checked by ``validate``)."""
    try:
        return cls(**values)
    except NoiseSpecError:
        return None


def _any_model() -> st.SearchStrategy:
    return st.one_of([_model_strategy(cls) for cls in NOISE_MODELS.values()])


@settings(max_examples=200, deadline=None)
@given(st.lists(_any_model(), min_size=1, max_size=3))
def test_str_parse_round_trip_property(models: list) -> None:
    assume(all(m is not None for m in models))
    model = models[0] if len(models) == 1 else ComposedNoise(models)
    spec = str(model)
    parsed = parse_noise(spec)
    assert parsed == model
    assert str(parsed) == spec
    assert parsed.values == model.values


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_value_is_exact_for_floats(value: float) -> None:
    assert float(format_value(value)) == value


def test_composition_with_plus_flattens_and_applies_in_order() -> None:
    first, second = parse_noise("gaussian(p=0.1,sigma=1)"), parse_noise("masking(fraction=0.5)")
    both = first + second
    assert str(both) == "gaussian(p=0.1,sigma=1)+masking(fraction=0.5)"
    assert (both + first).components == (first, second, first)
    x = np.full((8, 16, 16), 0.5, np.float32)
    gen = np.random.default_rng(7)
    expected = second(first(x, rng=gen), rng=gen)
    assert np.array_equal(both(x, rng=7), expected)
    # Masking after Gaussian leaves exact zeros; the other order would not.
    assert np.isclose((both(x, rng=1) == 0).mean(), 0.5, atol=0.01)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("nonsense(p=1)", "valid models: "),
        ("gaussian(q=1)", "valid parameters: p, sigma, mu"),
        ("gaussian(p=1.5,sigma=1)", "'p' must be in [0, 1], got 1.5"),
        ("gaussian(p=0.1,sigma=-1)", "'sigma' must be >= 0, got -1"),
        ("gaussian(p=abc)", "must be a number"),
        ("gaussian(p=nan)", "must be finite"),
        ("gaussian(p=0.1", "unbalanced"),
        ("gaussian(p)", "expected key=value"),
        ("gaussian(p=0.1,p=0.2)", "given twice"),
        ("poisson(reading=bogus)", "must be one of signal, additive"),
        ("gaussian(p=0.1)+", "cannot read noise term"),
        ("", "expected a noise spec"),
    ],
)
def test_bad_specs_give_clear_errors(spec: str, fragment: str) -> None:
    with pytest.raises(NoiseSpecError) as info:
        parse_noise(spec)
    assert fragment in str(info.value)


def test_unknown_model_error_lists_every_registered_name() -> None:
    with pytest.raises(NoiseSpecError) as info:
        parse_noise("nonsense")
    for name in NOISE_MODELS:
        assert name in str(info.value)


def test_models_are_immutable_and_hashable() -> None:
    model = parse_noise("gaussian(p=0.1,sigma=1)")
    with pytest.raises(AttributeError):
        model.p = 0.5  # type: ignore[misc]
    assert len({model, parse_noise("gaussian(sigma=1,p=0.1)")}) == 1
    assert model.p == 0.1 and model.values == {"p": 0.1, "sigma": 1.0, "mu": 0.0}


def test_models_survive_pickle_and_deepcopy() -> None:
    import copy
    import pickle

    for spec in ["gaussian(p=0.1,sigma=1)", "lowdose-ct(dose=0.25)+saltpepper(amount=0.1)"]:
        model = parse_noise(spec)
        for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
            assert clone == model and str(clone) == spec
            x = np.full((16, 16), 0.5)
            if "lowdose" not in spec:
                assert np.array_equal(clone(x, rng=1), model(x, rng=1))
