"""THE intensity policy: one definition per method, the shipped cards' specs unchanged, exact round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from meddenoise.data import (
    CLASSICAL_INTENSITY,
    CT_DEFAULT_RANGE,
    DEFAULT_INTENSITY,
    IntensitySpec,
    Normalizer,
    fit_intensity,
    floor_noise_margin,
    from_unit,
    intensity_for_image,
    noise_margins,
    to_unit,
)
from meddenoise.io import read_image
from meddenoise.pretrained import PRETRAINED_DIR, get_card


def test_the_methods_on_a_ct_in_hu() -> None:
    ct = read_image(get_testdata_file("CT_small.dcm"))
    spans = {
        "range": CT_DEFAULT_RANGE,
        "auto": (-1024.0, 1024.0),
        "window": (-1024.0, 1024.0),
        "minmax": (float(ct.pixels.min()), float(ct.pixels.max())),
    }
    for method, span in spans.items():
        mapping = intensity_for_image(ct, IntensitySpec(method))  # type: ignore[arg-type]
        assert (mapping.low, mapping.high) == span, method
    pct = intensity_for_image(ct, IntensitySpec("percentile", low=1, high=99))
    assert (pct.low, pct.high) == tuple(np.percentile(ct.pixels.astype(np.float64), [1, 99]))


def test_range_uses_the_stored_range_of_integer_raster_files_and_minmax_otherwise() -> None:
    pixels = np.array([[10, 20], [30, 200]], dtype=np.float32)
    png = fit_intensity(
        pixels, DEFAULT_INTENSITY, units="intensity", original_dtype="uint8", file_format="png"
    )
    assert (png.low, png.high) == (0.0, 255.0)
    dicom = fit_intensity(
        pixels, DEFAULT_INTENSITY, units="counts", original_dtype="uint16", file_format="dicom"
    )
    assert (dicom.low, dicom.high) == (10.0, 200.0)
    auto = fit_intensity(pixels, CLASSICAL_INTENSITY, modality="MR", units="counts")
    assert auto.method == "percentile"


def test_the_shipped_cards_keep_their_specs() -> None:
    for name, method in (
        ("ct", "window"),
        ("general", "auto"),
        ("mri", "percentile"),
        ("xray", "percentile"),
    ):
        raw = json.loads((PRETRAINED_DIR / f"{name}.json").read_text())["intensity"]
        assert get_card(name).intensity == IntensitySpec.from_dict(raw)
        assert get_card(name).intensity.method == method
    assert get_card("ct").intensity.describe() == "CT window L0/W2048 HU"


def test_spec_validation_and_serialisation() -> None:
    spec = IntensitySpec("window", level=40, width=400)
    assert IntensitySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match="unknown intensity method 'nope'"):
        IntensitySpec.from_dict({"method": "nope"})
    with pytest.raises(ValueError, match="width must be positive"):
        IntensitySpec("window", width=0)
    with pytest.raises(ValueError, match="percentiles"):
        IntensitySpec("percentile", low=60, high=40)


def test_identity_round_trip_is_exact_including_out_of_range_pixels() -> None:
    hu = np.array([[-3000.0, -1000.0], [40.0, 3500.0]], dtype=np.float32)
    mapping = fit_intensity(hu, IntensitySpec("window", level=0, width=2048), modality="CT", units="HU")
    back = from_unit(mapping, to_unit(mapping, hu), original=hu)
    np.testing.assert_allclose(back, hu, atol=1e-3)
    assert back[0, 0] == -3000.0 and back[1, 1] == 3500.0


def test_a_floor_noise_margin_only_under_a_hu_mapping_that_starts_at_air() -> None:
    assert floor_noise_margin(Normalizer.from_window(0, 2048, units="HU")) == pytest.approx(204.8)
    assert floor_noise_margin(Normalizer(*CT_DEFAULT_RANGE, units="HU")) == pytest.approx(409.5)
    # a window starting above air cuts through fat and lung; an edge of non-HU data cuts through content
    assert floor_noise_margin(Normalizer.from_window("soft-tissue", units="HU")) == 0.0
    assert floor_noise_margin(Normalizer(-1024.0, 1024.0, units="")) == 0.0


def test_noisy_air_under_a_ct_window_is_denoised_and_padding_and_bone_keep_their_values() -> None:
    hu = np.array(
        [-3024.0, -2048.0, -1300.0, -1100.0, -1024.0, -1000.0, 40.0, 1100.0, 3000.0], dtype=np.float32
    )
    mapping = fit_intensity(hu, IntensitySpec("window", level=0, width=2048), modality="CT", units="HU")
    margin = floor_noise_margin(mapping)
    unit = to_unit(mapping, hu, margin=margin)
    assert unit[3] == pytest.approx(-76 / 2048)  # 76 HU under the window: seen, on the same linear scale
    np.testing.assert_array_equal(unit[:3], 0.0)  # padding (and anything > 204.8 HU under): clipped as before
    np.testing.assert_array_equal(unit[-2:], 1.0)  # over the window: clipped as before
    np.testing.assert_array_equal(to_unit(mapping, hu), np.clip(unit, 0.0, 1.0))  # no margin: unchanged
    air = np.full_like(unit, 24 / 2048)  # a denoiser that answers "air, -1000 HU" everywhere
    back = from_unit(mapping, air, original=hu, margin=margin)
    assert back[3] == pytest.approx(-1000.0)  # the noisy air pixel got the denoiser's value
    kept = [0, 1, 2, 7, 8]  # padding, and bone above the window (real content the denoiser never saw)
    np.testing.assert_array_equal(back[kept], hu[kept])
    assert from_unit(mapping, air, original=hu)[3] == -1100.0  # without a margin the pixel is left as it was
    # an identity denoiser is still an exact round trip
    np.testing.assert_allclose(from_unit(mapping, unit, original=hu, margin=margin), hu, atol=1e-3)


def test_noise_margins_past_a_fitted_mapping_scale_with_the_noise_and_a_hu_window_keeps_its_edges() -> None:
    assert noise_margins(Normalizer(0.0, 1000.0, units=""), 10.0) == pytest.approx((40.0, 40.0))
    assert noise_margins(Normalizer(0.0, 1000.0, units=""), 20.0) == pytest.approx((80.0, 80.0))
    assert noise_margins(Normalizer(0.0, 1000.0, units=""), None) == (0.0, 0.0)
    assert noise_margins(Normalizer(0.0, 1000.0, units=""), 0.0) == (0.0, 0.0)
    # HU: the floor margin under air, never over a window's top (bone), whatever the noise
    assert noise_margins(Normalizer.from_window(0, 2048, units="HU"), 50.0) == pytest.approx((204.8, 0.0))
    assert noise_margins(Normalizer.from_window("soft-tissue", units="HU"), 50.0) == (0.0, 0.0)
    # a blind run's estimate, given as a function, is made only for a mapping that uses it
    calls: list[int] = []

    def estimate() -> float:
        calls.append(1)
        return 10.0

    assert noise_margins(Normalizer.from_window(0, 2048, units="HU"), estimate) == pytest.approx((204.8, 0.0))
    assert calls == []
    assert noise_margins(Normalizer(0.0, 1000.0, units=""), estimate) == pytest.approx((40.0, 40.0))
    assert calls == [1]


def test_values_within_the_margins_past_both_edges_are_seen_and_get_the_denoisers_value() -> None:
    values = np.array([-500.0, -30.0, 0.0, 500.0, 1000.0, 1030.0, 5000.0], dtype=np.float32)
    mapping = Normalizer(0.0, 1000.0, units="")
    margin = noise_margins(mapping, 10.0)  # 40 either side
    unit = to_unit(mapping, values, margin=margin)
    assert unit[1] == pytest.approx(-0.03) and unit[5] == pytest.approx(1.03)  # seen on the same scale
    assert unit[0] == 0.0 and unit[-1] == 1.0  # content far past the edges: clipped as before
    middle = np.full_like(unit, 0.5)  # a denoiser that answers 500 everywhere
    back = from_unit(mapping, middle, original=values, margin=margin)
    np.testing.assert_array_equal(back[[1, 5]], 500.0)
    np.testing.assert_array_equal(back[[0, 6]], values[[0, 6]])  # never seen: their own values
    # an identity denoiser is an exact round trip with margins on both sides
    np.testing.assert_allclose(from_unit(mapping, unit, original=values, margin=margin), values, atol=1e-3)
    # one number is still a margin under the low edge only
    assert to_unit(mapping, values, margin=40.0)[5] == 1.0


def test_a_smoothed_percentile_mapping_round_trips_and_is_left_out_of_the_dict_when_unset() -> None:
    spec = IntensitySpec("percentile", low=0.5, high=99.5, smooth=1.5)
    assert IntensitySpec.from_dict(spec.to_dict()) == spec
    assert "smooth" not in IntensitySpec("percentile").to_dict()  # older cards and configs stay as they were
    assert "smoothed by 1.5 px" in spec.describe()
    for bad in (-1.0, 9.0):
        with pytest.raises(ValueError, match="smoothing"):
            IntensitySpec("percentile", smooth=bad)


def test_percentiles_of_the_smoothed_image_are_those_of_the_clean_image_not_of_its_noise(
    rng: np.random.Generator,
) -> None:
    """Zero background around a plateau: noise moves the 0.5 % percentile ~2.4 stds under 0; smoothing
    first brings it back near the clean image's 0, as the network's training mapping had it."""
    clean = np.zeros((128, 128), dtype=np.float32)
    clean[32:96, 32:96] = 1000.0
    noisy = (clean + 50.0 * rng.standard_normal(clean.shape)).astype(np.float32)
    plain = fit_intensity(noisy, IntensitySpec("percentile"))
    smoothed = fit_intensity(noisy, IntensitySpec("percentile", smooth=1.5))
    assert plain.low < -100.0  # ~2.4 noise stds under the background
    assert -25.0 < smoothed.low <= 0.0 and 990.0 < smoothed.high < 1030.0
    # a stack is smoothed within each slice, never across them (its slices may be far apart)
    from scipy import ndimage

    other = (clean + 50.0 * rng.standard_normal(clean.shape)).astype(np.float32)
    stack = fit_intensity(np.stack([noisy, other]), IntensitySpec("percentile", smooth=1.5))
    each = [ndimage.gaussian_filter(s, 1.5, mode="nearest") for s in (noisy, other)]
    assert stack.low == pytest.approx(float(np.percentile(np.concatenate(each), 0.5)), rel=1e-4)
