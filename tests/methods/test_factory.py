"""The one denoiser factory: names, the ``pretrained:`` prefix, paths, errors, optional back ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meddenoise import _optional
from meddenoise._optional import MissingOptionalDependency, OptionalDependency
from meddenoise.classical import CalibratedDenoiser, MedianDenoiser
from meddenoise.data import CLASSICAL_INTENSITY, IntensitySpec
from meddenoise.methods import (
    DenoiserResolver,
    UnknownMethodError,
    build_denoiser,
    build_denoisers,
    common_intensity,
    method_kind,
    shipped_names,
    with_ensemble,
)
from meddenoise.pretrained import get_card
from meddenoise.training.checkpoint import CheckpointError


def test_classical_names_build_filters_with_their_params_and_the_classical_intensity() -> None:
    choice = build_denoiser("median", params={"size": 5})
    assert isinstance(choice.denoiser, MedianDenoiser) and choice.denoiser.params["size"] == 5
    assert (choice.kind, choice.intensity, choice.label) == ("classical", CLASSICAL_INTENSITY, "median")
    assert isinstance(build_denoiser("calibrated-tv").denoiser, CalibratedDenoiser)


@pytest.mark.parametrize("name", ["ct", "pretrained:ct", " pretrained:ct "])
def test_shipped_model_names_and_the_pretrained_prefix(name: str) -> None:
    choice = build_denoiser(name)
    assert choice.kind == "pretrained" and choice.label == "pretrained ct"
    # the model card's intensity, exactly (the ct card records its window L0/W2048)
    assert choice.intensity == get_card("ct").intensity == IntensitySpec("window", level=0, width=2048)


def test_a_folder_named_like_a_shipped_model_does_not_change_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ct").mkdir()
    (tmp_path / "median").mkdir()
    monkeypatch.chdir(tmp_path)
    assert method_kind("ct") == "pretrained" and build_denoiser("ct").label == "pretrained ct"
    assert method_kind("median") == "classical"
    # "./ct" is the path, and that folder holds no checkpoint
    assert method_kind("./ct") == "checkpoint"
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        build_denoiser("./ct")


def test_paths_are_paths(tmp_path: Path) -> None:
    assert method_kind("runs/model") == "checkpoint"
    assert method_kind("model.safetensors") == "checkpoint" and method_kind("model.json") == "checkpoint"
    run = tmp_path / "myrun"
    run.mkdir()
    assert method_kind(str(run)) == "checkpoint"
    with pytest.raises(FileNotFoundError, match=r"nothing\.safetensors: checkpoint not found"):
        build_denoiser(str(tmp_path / "nothing.safetensors"))


def test_an_unknown_name_lists_the_choices() -> None:
    with pytest.raises(UnknownMethodError) as info:
        build_denoiser("nope")
    message = str(info.value)
    assert message.startswith("unknown method 'nope'")
    for choice in (
        "median",
        "bm3d",
        "calibrated-<name>",
        "pretrained:<name>",
        "checkpoint path",
        *shipped_names(),
    ):
        assert choice in message
    with pytest.raises(ValueError, match="no pretrained model 'nope'"):
        build_denoiser("pretrained:nope")


def test_models_take_no_parameters_and_lists_refuse_duplicates() -> None:
    with pytest.raises(ValueError, match="takes no parameters"):
        build_denoiser("ct", params={"size": 3})
    with pytest.raises(ValueError, match="twice"):
        build_denoisers(["median", "median"])
    with pytest.raises(ValueError, match="not among the methods"):
        build_denoisers(["median"], {"tv": {"weight": 0.1}})


@pytest.fixture
def bm3d_missing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake = OptionalDependency("bm3d", ("meddenoise_no_such_module",), ("bm3d",), "bm3d", methods=("bm3d",))
    monkeypatch.setitem(_optional.OPTIONAL_DEPENDENCIES, "bm3d", fake)
    _optional.is_available.cache_clear()
    yield
    _optional.is_available.cache_clear()


@pytest.mark.usefixtures("bm3d_missing")
def test_a_missing_optional_back_end_names_its_package() -> None:
    assert not _optional.is_available("bm3d")
    with pytest.raises(MissingOptionalDependency) as info:
        build_denoiser("bm3d")
    assert str(info.value).startswith(
        "bm3d needs the optional package 'bm3d' (pip install 'meddenoise[bm3d]')"
    )
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingOptionalDependency):
        build_denoiser("calibrated-bm3d")


def test_the_optional_registry_is_the_one_place() -> None:
    assert set(_optional.OPTIONAL_DEPENDENCIES) >= {"bm3d", "codecs"}
    assert "pylibjpeg-openjpeg" in _optional.missing_message("codecs")
    with pytest.raises(ValueError, match="unknown optional feature"):
        _optional.is_available("nothing")


def test_resolver_auto_picks_per_modality_and_method_must_be_classical() -> None:
    resolver = DenoiserResolver()
    assert resolver.for_modality("CT").label == "pretrained ct"
    assert resolver.for_modality("US").label == "pretrained general"
    assert resolver.for_modality("CT") is resolver.for_modality("CT")  # cached
    with pytest.raises(UnknownMethodError, match="unknown classical method 'ct'"):
        DenoiserResolver(method="ct")
    override = IntensitySpec("percentile", low=1, high=99)
    assert DenoiserResolver(model="ct", intensity=override).for_modality("CT").intensity == override


def test_common_intensity_is_the_models_own_or_an_error() -> None:
    ct, median = build_denoiser("ct"), build_denoiser("median")
    assert common_intensity([ct, median]) == ct.intensity
    assert common_intensity([median]).method == "range"  # the default policy
    with pytest.raises(ValueError, match="different intensity mappings"):
        common_intensity([ct, build_denoiser("mri")])


def test_models_build_as_self_ensembles_and_classical_methods_refuse_it() -> None:
    from meddenoise.models.ensemble import SelfEnsemble

    choice = build_denoiser("mri", ensemble=8)
    assert isinstance(choice.denoiser, SelfEnsemble) and choice.denoiser.size == 8
    assert choice.label == "pretrained mri x8" and choice.denoiser.name == "mri x8"
    assert choice.intensity == get_card("mri").intensity and choice.denoiser.uses_sigma
    assert not isinstance(build_denoiser("mri", ensemble=1).denoiser, SelfEnsemble)
    with pytest.raises(ValueError, match="median: a classical method has no self-ensemble"):
        build_denoiser("median", ensemble=2)
    with pytest.raises(ValueError, match=r"pretrained mri: ensemble: size must be one of 1, 2, 4, 8, got 5"):
        build_denoiser("mri", ensemble=5)
    # the resolver passes it to models only: a classical method runs as itself
    resolver = DenoiserResolver(model="mri", ensemble=4)
    assert resolver.for_modality("MR").denoiser.name == "mri x4"
    assert isinstance(
        DenoiserResolver(method="median", ensemble=4).for_modality(None).denoiser, MedianDenoiser
    )


def test_benchmark_choices_put_each_ensemble_size_beside_the_model() -> None:
    from meddenoise.evaluation.benchmark import benchmark_choices

    choices = benchmark_choices(["ct"], ["median"], ensembles=(1, 2))
    assert list(choices) == ["ct", "ct x2", "median"]
    assert choices["ct x2"].denoiser.name == "ct x2"
    with pytest.raises(ValueError, match="at least one size"):
        benchmark_choices(["ct"], [], ensembles=())


def test_benchmark_choices_put_each_strength_beside_the_model() -> None:
    from meddenoise.evaluation.benchmark import benchmark_choices
    from meddenoise.methods import with_strength
    from meddenoise.models.strength import AtStrength

    choices = benchmark_choices(["ct"], ["median"], ensembles=(1, 2), strengths=(1, 0.5))
    assert list(choices) == ["ct", "ct s0.5", "ct x2", "ct x2 s0.5", "median"]
    assert choices["ct x2 s0.5"].denoiser.name == "ct x2 s0.5"
    assert isinstance(choices["ct s0.5"].denoiser, AtStrength) and choices["ct s0.5"].denoiser.strength == 0.5
    # one network for all variants (ct's own edge restoration and texture wrap each of them)
    assert choices["ct"].denoiser.base.base is choices["ct s0.5"].denoiser.base.base.base
    with pytest.raises(ValueError, match="at least one"):
        benchmark_choices(["ct"], [], strengths=())
    with pytest.raises(ValueError, match="median: only a network runs at a strength"):
        with_strength(choices["median"], 0.5)
    assert with_strength(choices["median"], 1) is choices["median"]


def test_ct_restores_edges_by_default_and_every_default_can_be_overridden() -> None:
    from meddenoise.evaluation.benchmark import benchmark_choices
    from meddenoise.methods import split_edge_restore, with_edge_restore
    from meddenoise.models.edge_restore import EdgeRestoring

    ct = build_denoiser("ct", texture=0)  # the edge restoration alone (ct also keeps a texture by default)
    ct_amount = get_card("ct").edge_restore  # the card's default, whatever it is, and not none
    assert split_edge_restore(ct)[1] == ct_amount > 0
    assert split_edge_restore(build_denoiser("pretrained:mri"))[1] == 0.0
    assert split_edge_restore(build_denoiser("median"))[1] == 0.0
    assert (
        isinstance(ct.denoiser, EdgeRestoring)
        and ct.denoiser.amount == ct_amount
        and ct.label == "pretrained ct t0"
    )
    assert ct.denoiser.name == "ct"  # the model's own restoration is not named; another amount is
    # ct's restoration acts on a scanner's (correlated) noise only, at its own amount or another
    assert get_card("ct").edge_restore_correlated_only and split_edge_restore(ct)[2]
    assert build_denoiser("ct", edge_restore=0.6, texture=0).denoiser.correlated_only
    assert not build_denoiser("mri", edge_restore=0.3).denoiser.correlated_only  # everywhere
    off = build_denoiser("ct", edge_restore=0, texture=0)
    assert not isinstance(off.denoiser, EdgeRestoring) and off.label == "pretrained ct e0 t0"
    assert build_denoiser("mri", edge_restore=0.3).denoiser.name == "mri e0.3"
    assert not isinstance(build_denoiser("mri").denoiser, EdgeRestoring)
    with pytest.raises(ValueError, match="median: a classical method has no edge restoration"):
        build_denoiser("median", edge_restore=0.5)
    with pytest.raises(ValueError, match=r"edge restore must be a number in \[0, 1\]"):
        build_denoiser("ct", edge_restore=2)
    choices = benchmark_choices(["ct"], ["median"], edge_restores=(None, 0, 0.5), textures=(0,))
    assert list(choices) == ["ct t0", "ct e0 t0", "ct e0.5 t0", "median"]
    assert choices["ct t0"].denoiser.amount == ct_amount and choices["ct e0.5 t0"].denoiser.amount == 0.5
    assert choices["ct t0"].denoiser.correlated_only and choices["ct e0.5 t0"].denoiser.correlated_only
    assert not isinstance(choices["ct e0 t0"].denoiser, EdgeRestoring)
    with pytest.raises(ValueError, match="median: only a network has its edges restored"):
        with_edge_restore(choices["median"], 0.5)
    again = with_edge_restore(ct, 0.3)  # replaces ct's own restoration, never restores twice
    assert again.denoiser.amount == 0.3 and not isinstance(again.denoiser.base, EdgeRestoring)
    assert again.denoiser.correlated_only  # the rule of the restoration it replaced, unless told
    assert not with_edge_restore(ct, 0.3, correlated_only=False).denoiser.correlated_only


def test_edges_are_restored_on_the_self_ensembles_output() -> None:
    from meddenoise.models.edge_restore import EdgeRestoring
    from meddenoise.models.ensemble import SelfEnsemble

    for ensemble in (build_denoiser("ct", ensemble=4), with_ensemble(build_denoiser("ct"), 4)):
        restoring = ensemble.denoiser.base  # inside ct's own texture, which is kept last
        assert isinstance(restoring, EdgeRestoring) and restoring.amount == get_card("ct").edge_restore > 0
        assert restoring.correlated_only == get_card("ct").edge_restore_correlated_only
        assert isinstance(restoring.base, SelfEnsemble) and restoring.base.size == 4
        assert ensemble.label == "pretrained ct x4"  # the model's own settings stay unnamed


def test_a_noise_texture_is_kept_last_and_never_twice() -> None:
    from meddenoise.evaluation.benchmark import benchmark_choices
    from meddenoise.methods import split_texture, with_edge_restore, with_texture
    from meddenoise.models.edge_restore import EdgeRestoring
    from meddenoise.models.ensemble import SelfEnsemble
    from meddenoise.models.texture import TextureKeeping

    textured = build_denoiser("ct", texture=0.5, ensemble=2)
    assert isinstance(textured.denoiser, TextureKeeping) and textured.denoiser.amount == 0.5
    assert isinstance(textured.denoiser.base, EdgeRestoring)  # the ct model's own restoration inside
    assert isinstance(textured.denoiser.base.base, SelfEnsemble)
    assert (
        textured.label == "pretrained ct x2 t0.5"
        and textured.denoiser.edge_restore == get_card("ct").edge_restore
    )
    assert not isinstance(build_denoiser("mri").denoiser, TextureKeeping)  # off by default but for ct
    # ensemble or edge restoration asked for afterwards go inside; a new texture replaces the old
    later = with_ensemble(with_edge_restore(build_denoiser("mri", texture=0.3), 0.4), 4)
    assert isinstance(later.denoiser, TextureKeeping) and later.label == "pretrained mri x4 t0.3"
    assert isinstance(later.denoiser.base, EdgeRestoring) and isinstance(
        later.denoiser.base.base, SelfEnsemble
    )
    again = with_texture(later, 0.6)
    assert again.denoiser.amount == 0.6 and not isinstance(again.denoiser.base, TextureKeeping)
    assert split_texture(with_texture(later, 0))[1] == 0.0
    with pytest.raises(ValueError, match="median: a classical method has no noise texture"):
        build_denoiser("median", texture=0.5)
    with pytest.raises(ValueError, match=r"texture must be a number in \[0, 1\]"):
        build_denoiser("ct", texture=1.5)
    choices = benchmark_choices(["ct"], [], textures=(None, 0.7), strengths=(1, 0.5))
    assert list(choices) == ["ct", "ct t0.7", "ct s0.5", "ct s0.5 t0.7"]
    assert choices["ct s0.5 t0.7"].denoiser.base.amount == 0.7  # the strength wraps the texture


def test_auto_texture_follows_the_noise_level_in_hu_on_a_ct_window_only() -> None:
    from meddenoise.evaluation.benchmark import benchmark_choices
    from meddenoise.methods import split_texture, with_ensemble
    from meddenoise.models.edge_restore import EdgeRestoring
    from meddenoise.models.texture import TextureKeeping, TextureRamp

    auto = build_denoiser("ct")  # ct's own default: unnamed, as shipped
    assert isinstance(auto.denoiser, TextureKeeping) and isinstance(auto.denoiser.amount, TextureRamp)
    assert auto.label == "pretrained ct" and isinstance(auto.denoiser.base, EdgeRestoring)
    assert build_denoiser("ct", texture="auto").label == "pretrained ct"  # the same setting
    ramp = auto.denoiser.amount
    assert (ramp.start, ramp.full, ramp.amount) == pytest.approx((30 / 2048, 50 / 2048, 0.7))
    assert ramp.correlation == (0.05, 0.15)  # white noise gets none back
    # the ramp survives later wrappers (still unnamed), and comes off
    bigger = with_ensemble(auto, 2)
    assert bigger.label == "pretrained ct x2" and bigger.denoiser.amount == ramp
    plain, amount = split_texture(bigger)
    assert plain.label == "pretrained ct x2" and amount == ramp
    # asked for on a model whose own texture is something else, it is named
    named = build_denoiser("ct", texture=0.3)
    assert named.label == "pretrained ct t0.3"
    assert with_ensemble(named, 2).label == "pretrained ct x2 t0.3"
    # no HU scale to read: the percentile-mapped models put nothing back
    assert not isinstance(build_denoiser("mri", texture="auto").denoiser, TextureKeeping)
    with pytest.raises(ValueError, match="median: a classical method has no noise texture"):
        build_denoiser("median", texture="auto")
    choices = benchmark_choices(["ct"], [], textures=(None, 0, "auto", 0.7))
    assert list(choices) == ["ct", "ct t0", "ct tauto", "ct t0.7"]
    assert choices["ct tauto"].denoiser.amount == ramp == choices["ct"].denoiser.amount
    assert not isinstance(choices["ct t0"].denoiser, TextureKeeping)
    # "blend": the whole removed component, on its own levels, named as asked
    blend = build_denoiser("ct", texture="blend")
    assert blend.label == "pretrained ct tblend" and isinstance(blend.denoiser, TextureKeeping)
    mix = blend.denoiser.amount
    assert (mix.start, mix.full, mix.amount, mix.coarse) == pytest.approx((12 / 2048, 24 / 2048, 0.5, 1.0))
    assert (mix.correlated_amount, mix.correlated_between) == (0.7, (0.6, 0.9))
    assert ramp.scanner == mix and mix.scanner is None  # what auto gives a scanner's noise on ct
    assert auto.denoiser.scanner_between == (0.5, 0.7) and blend.denoiser.scanner_between is None
    assert mix.correlation == ramp.correlation and blend.denoiser.texture_setting == "blend"
    assert not isinstance(build_denoiser("mri", texture="blend").denoiser, TextureKeeping)
    assert list(benchmark_choices(["ct"], [], textures=("blend",))) == ["ct tblend"]
