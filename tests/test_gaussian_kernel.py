"""The hand-written Gaussian filter (corruptions/_gaussian.py) against scipy.ndimage.gaussian_filter.

Bit-for-bit (compared as uint64 bit patterns, so -0.0 vs 0.0 or a changed last bit fails) on
shapes where the kernel is longer than the line, 1-pixel lines, H×W×3 and H×W, at the sigmas
glass_blur (0.7 .. 1.5) and gaussian_blur (1 .. 6, passed as ints) use, on values spanning
60 decades and on [0, 1] images as the corruptions see them.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from corruptions._gaussian import gaussian_filter, gaussian_weights

GLASS_SIGMAS = (0.7, 0.9, 1, 1.1, 1.5)
GAUSSIAN_BLUR_SIGMAS = (1, 2, 3, 4, 6)
SHAPES = (
    (1, 1, 3), (1, 9, 3), (9, 1, 3), (2, 3, 3), (5, 4, 3), (13, 7, 3),  # lines shorter than radius
    (37, 53, 3), (64, 48, 3), (1, 1), (1, 30), (30, 1), (4, 6), (29, 41),
)


def _wide_range(rs: np.random.RandomState, shape: tuple[int, ...]) -> np.ndarray:
    return rs.uniform(-1.0, 1.0, shape) * 10.0 ** rs.randint(-30, 30, shape)


def _scipy(x: np.ndarray, sigma, mode: str, truncate: float) -> np.ndarray:
    sigmas = [sigma[0], sigma[1], 0][: x.ndim]
    return ndi.gaussian_filter(x, sigmas, mode=mode, cval=0, truncate=truncate)


def _assert_bits_equal(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    np.testing.assert_array_equal(ours.view(np.uint64), expected.view(np.uint64))


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
@pytest.mark.parametrize("sigma", sorted(set(GLASS_SIGMAS + GAUSSIAN_BLUR_SIGMAS)))
def test_matches_scipy_bit_for_bit(mode, sigma):
    rs = np.random.RandomState(int(sigma * 10))
    for shape in SHAPES:
        for x in (_wide_range(rs, shape), rs.rand(*shape), rs.randint(0, 256, shape) / 255.0):
            _assert_bits_equal(gaussian_filter(x, (sigma, sigma), mode), _scipy(x, (sigma, sigma), mode, 4.0))


@pytest.mark.parametrize("sigma", [0.7, 1.5, 6])
def test_matches_scipy_on_a_full_size_image(sigma):
    x = np.random.RandomState(5).randint(0, 256, (427, 640, 3)) / 255.0
    _assert_bits_equal(gaussian_filter(x, (sigma, sigma), "nearest"), _scipy(x, (sigma, sigma), "nearest", 4.0))


@pytest.mark.parametrize("sigma", [(0, 1.5), (2.5, 0), (0, 0), (1e-16, 3), (0.05, 0.3), (6.4, 4.27)])
@pytest.mark.parametrize("truncate", [4.0, 3.0])
def test_unequal_and_skipped_axes(sigma, truncate):
    # SciPy skips axes with sigma <= 1e-15 and uses a 1-tap kernel below sigma 0.125 (truncate 4).
    rs = np.random.RandomState(11)
    for shape in ((23, 31, 3), (40, 7), (3, 50, 3)):
        x = _wide_range(rs, shape)
        for mode in ("nearest", "reflect"):
            _assert_bits_equal(gaussian_filter(x, sigma, mode, truncate), _scipy(x, sigma, mode, truncate))


def test_weights_are_scipys_kernel_reversed():
    for sigma in GLASS_SIGMAS + GAUSSIAN_BLUR_SIGMAS:
        radius = int(4.0 * sigma + 0.5)
        impulse = np.zeros(2 * radius + 1)
        impulse[radius] = 1.0
        # correlating a unit impulse reads the weights back, reversed, through SciPy's own code
        np.testing.assert_array_equal(
            gaussian_weights(sigma, 4.0)[::-1], ndi.gaussian_filter1d(impulse, sigma, mode="constant")
        )


def test_out_buffer_is_filled_and_returned_and_may_not_overlap():
    x = np.random.RandomState(2).rand(20, 30, 3)
    out = np.full_like(x, np.nan)
    assert gaussian_filter(x, (1.1, 1.1), "nearest", out=out) is out
    _assert_bits_equal(out, _scipy(x, (1.1, 1.1), "nearest", 4.0))
    with pytest.raises(ValueError, match="overlap"):
        gaussian_filter(x, (1.1, 1.1), "nearest", out=x)
    with pytest.raises(ValueError, match="float64"):
        gaussian_filter(x.astype(np.float32), (1.1, 1.1), "nearest")
    with pytest.raises(ValueError, match="mode"):
        gaussian_filter(x, (1.1, 1.1), "wrap")


def test_non_contiguous_input():
    x = np.random.RandomState(4).rand(30, 40, 3)[::2, ::-1]
    _assert_bits_equal(gaussian_filter(x, (0.9, 0.9), "nearest"), _scipy(x, (0.9, 0.9), "nearest", 4.0))
