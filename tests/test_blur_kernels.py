"""Unit parity of the hand-written blur kernels against the pieces of the reference they replace.

The end-to-end parity lives in test_corruptions_parity.py; these check the reusable kernels on
inputs the blur corruptions never produce but other corruptions do (snow zooms a float64 H×W×1
noise layer by 2..4.5 and keeps the full output; it motion-blurs a 2-D float64 layer), plus the
two facts glass_blur's port rests on.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.ndimage import zoom as scipy_zoom

from corruptions import _glass
from corruptions._glass import shuffle_pixels
from corruptions._motion import motion_blur_layer
from corruptions._zoom import _zoom_crop_into, clipped_zoom
from oracle import reference_module


@pytest.fixture(scope="module")
def ref():
    reference_module()
    return sys.modules["imagecorruptions.corruptions"]


@pytest.mark.parametrize("shape", [(37, 53, 1), (64, 48, 1), (33, 35, 3)])
@pytest.mark.parametrize("zoom_factor", [1.0, 1.07, 2.0, 2.5, 3.3, 4.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipped_zoom_full_output_equals_reference(ref, shape, zoom_factor, dtype):
    layer = np.random.RandomState(7).normal(0.1, 0.3, size=shape).astype(dtype)
    expected = ref.clipped_zoom(layer, zoom_factor)
    ours = clipped_zoom(layer, zoom_factor)
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    assert np.array_equal(ours, expected)
    h, w = shape[:2]
    assert np.array_equal(clipped_zoom(layer, zoom_factor, out_shape=(h, w)), expected[:h, :w])


def test_zoom_kernel_equals_scipy_zoom_over_many_sizes():
    """Whole-array zooms (no crop) over many sizes and factors, shrinking too; the last output
    sample lands exactly on n-1 (a mirrored, zero-weight tap). The cval case is the next test."""
    rng = np.random.RandomState(3)
    for n in range(2, 50):
        for zoom_factor in (0.6, 1.01, 1.13, 1.29, 2.7, 4.5):
            layer = rng.rand(n, n + 3, 2)
            expected = scipy_zoom(layer, (zoom_factor, zoom_factor, 1), order=1)
            ours = np.empty_like(expected)
            out_h, out_w = expected.shape[:2]
            _zoom_crop_into(layer, 0, n, 0, n + 3, out_h, out_w, ours, False, np.float64)
            assert np.array_equal(ours, expected), (n, zoom_factor)


@pytest.mark.parametrize("n,m", [(8, 26), (15, 44), (16, 59), (22, 76)])
def test_zoom_kernel_last_sample_past_the_edge_is_cval(n, m):
    """(m-1) * ((n-1)/(m-1)) rounds to just above n-1 here: scipy's 'constant' mode gives 0."""
    layer = np.random.RandomState(n).rand(n, n, 1) + 0.5
    expected = scipy_zoom(layer, (m / n, m / n, 1), order=1)
    assert expected.shape == (m, m, 1) and not expected[-1].any() and not expected[:, -1].any()
    ours = np.empty_like(expected)
    _zoom_crop_into(layer, 0, n, 0, n, m, m, ours, False, np.float64)
    assert np.array_equal(ours, expected)


@pytest.mark.parametrize("shape", [(40, 57), (45, 33, 3)])
@pytest.mark.parametrize(
    "radius,sigma,angle", [(10, 3, -44.2), (15, 12, 12.5), (20, 15, -100.0), (40, 4, 60.0)]
)
def test_motion_blur_layer_equals_reference(ref, shape, radius, sigma, angle):
    rng = np.random.RandomState(11)
    for layer in (rng.normal(size=shape), rng.randint(0, 256, size=shape).astype(np.uint8)):
        expected = ref._motion_blur(layer, radius=radius, sigma=sigma, angle=angle)
        ours = motion_blur_layer(layer, radius, sigma, angle)
        assert ours.dtype == expected.dtype == np.float64
        assert np.array_equal(ours, expected)


def test_bulk_randint_equals_sequential_pairs():
    for delta in (1, 2, 3, 4):
        seq = np.random.RandomState(5)
        pairs = np.array([seq.randint(-delta, delta, size=(2,)) for _ in range(500)])
        bulk = np.random.RandomState(5).randint(-delta, delta, size=(500, 2))
        assert np.array_equal(pairs, bulk)
        after_bulk = np.random.RandomState(5)
        after_bulk.randint(-delta, delta, size=(500, 2))
        assert seq.uniform() == after_bulk.uniform()  # the stream continues identically


@pytest.mark.parametrize("draw_block", [None, 100])
@pytest.mark.parametrize("max_delta,iterations", [(1, 2), (2, 3), (3, 2), (4, 2)])
def test_shuffle_equals_reference_swap_loop(monkeypatch, max_delta, iterations, draw_block):
    """The reference's per-pixel tuple 'swap' on numpy views, run literally, vs the bulk port."""
    img = np.random.RandomState(2).randint(0, 256, size=(36, 41, 3)).astype(np.uint8)
    expected = img.copy()
    rng = np.random.RandomState(9)
    for _ in range(iterations):
        for h in range(img.shape[0] - max_delta, max_delta, -1):
            for w in range(img.shape[1] - max_delta, max_delta, -1):
                dx, dy = rng.randint(-max_delta, max_delta, size=(2,))
                hp, wp = h + dy, w + dx
                expected[h, w], expected[hp, wp] = expected[hp, wp], expected[h, w]
    if draw_block is not None:  # offsets drawn in several row blocks
        monkeypatch.setattr(_glass, "_DRAW_BLOCK", draw_block)
    ours = img.copy()
    shuffle_pixels(ours, max_delta, iterations, np.random.RandomState(9))
    assert np.array_equal(ours, expected)
