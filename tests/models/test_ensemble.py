"""Geometric self-ensemble: the group laws it must obey, its noise levels, and how users reach it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from meddenoise.models.denoiser import BatchDenoiser, ModelDenoiser
from meddenoise.models.ensemble import ENSEMBLE_SIZES, SelfEnsemble, symmetries


def _skewed_net(seed: int = 0) -> ModelDenoiser:
    """A small network with random, asymmetric kernels: far from flip/rotation equivariant."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, 1, 5, padding=2)
    )
    return ModelDenoiser(net, name="skewed", channels_last=False)


def _group(size: int) -> list:
    return [transform for transform, _ in symmetries(size)]


class _Recorder(BatchDenoiser):
    """Returns its input and records the shapes and levels it was called with."""

    name = "recorder"
    uses_sigma = True

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], np.ndarray | None]] = []

    def denoise_batch(
        self, images: np.ndarray, *, sigma: float | Sequence[float] | np.ndarray | None = None
    ) -> np.ndarray:
        batch, levels = self.batch_and_levels(images, sigma)
        self.calls.append((batch.shape, levels))
        return batch.copy()


@pytest.mark.parametrize("size", ENSEMBLE_SIZES)
def test_the_symmetries_form_a_group_and_undo_each_other(size: int, rng: np.random.Generator) -> None:
    x = rng.random((2, 5, 7))
    for transform, inverse in symmetries(size):
        np.testing.assert_array_equal(inverse(transform(x)), x)
    # closed under composition: every composite acts on x like one of the members
    images = [t(x) for t in _group(size)]
    for a in _group(size):
        for b in _group(size):
            composite = a(b(x))
            assert any(c.shape == composite.shape and np.array_equal(c, composite) for c in images)
    assert len({m.tobytes() + bytes(m.shape) for m in images}) == size  # all distinct


@pytest.mark.parametrize("size", [2, 4, 8])
def test_the_ensemble_is_equivariant_to_its_group_where_the_network_is_not(
    size: int, rng: np.random.Generator
) -> None:
    base = _skewed_net()
    ensemble = SelfEnsemble(base, size)
    x = rng.random((2, 16, 16)).astype(np.float32)
    out = ensemble(x)
    broken = 0
    for transform in _group(size)[1:]:
        np.testing.assert_allclose(ensemble(np.ascontiguousarray(transform(x))), transform(out), atol=1e-5)
        broken += not np.allclose(base(np.ascontiguousarray(transform(x))), transform(base(x)), atol=1e-3)
    assert broken == size - 1  # the network alone is not: the law above is the ensemble's doing


def test_size_one_is_the_network_itself_and_size_eight_is_the_mean_of_eight(rng: np.random.Generator) -> None:
    base = _skewed_net(1)
    x = rng.random((3, 12, 20)).astype(np.float32)  # not square: size 8 transposes
    np.testing.assert_array_equal(SelfEnsemble(base, 1)(x), base(x))
    expected = np.zeros(x.shape)
    for k in range(4):
        for flip in (False, True):
            turned = np.rot90(x[..., ::-1] if flip else x, k, axes=(1, 2))
            back = np.rot90(base(np.ascontiguousarray(turned)), -k, axes=(1, 2))
            expected += back[..., ::-1] if flip else back
    got = SelfEnsemble(base, 8)(x)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected / 8, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.sampled_from([2, 4, 8]))
def test_the_ensemble_error_is_never_above_the_mean_error_of_its_copies(seed: int, size: int) -> None:
    # Jensen: the squared error of a mean is at most the mean of the squared errors.
    gen = np.random.default_rng(seed)
    clean = gen.random((1, 12, 12)).astype(np.float32)
    noisy = np.clip(clean + 0.1 * gen.standard_normal(clean.shape), 0, 1).astype(np.float32)
    base = _skewed_net(seed % 7)
    copies = [
        inverse(base(np.ascontiguousarray(transform(noisy)))) for transform, inverse in symmetries(size)
    ]
    mean_error = np.mean([np.mean((c - clean) ** 2) for c in copies])
    assert np.mean((SelfEnsemble(base, size)(noisy) - clean) ** 2) <= mean_error + 1e-7


def test_every_copy_gets_the_level_of_the_images_as_given(rng: np.random.Generator) -> None:
    recorder = _Recorder()
    x = rng.random((2, 8, 10)).astype(np.float32)
    SelfEnsemble(recorder, 8)(x, sigma=[0.01, 0.02])
    assert len(recorder.calls) == 8
    assert {shape for shape, _ in recorder.calls} == {(2, 8, 10), (2, 10, 8)}
    for _, levels in recorder.calls:
        np.testing.assert_array_equal(levels, [0.01, 0.02])
    blind = _Recorder()
    noisy = np.clip(0.5 + 0.05 * rng.standard_normal((1, 64, 64)), 0, 1).astype(np.float32)
    SelfEnsemble(blind, 4)(noisy)
    first = blind.calls[0][1]
    assert first is not None and 0.03 < first[0] < 0.07  # estimated once, on the image as given
    assert all(np.array_equal(levels, first) for _, levels in blind.calls)


def test_a_bad_size_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"skewed: ensemble: size must be one of 1, 2, 4, 8, got 3"):
        SelfEnsemble(_skewed_net(), 3)
    assert SelfEnsemble(_skewed_net(), 4).name == "skewed x4"
    assert SelfEnsemble(_Recorder(), 2).uses_sigma is True
