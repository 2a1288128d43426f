"""The hand-written digital kernels against the library code they replace, on adversarial inputs.

The parity test (test_corruptions_parity.py) compares whole corruptions after the uint8 cast on
real photos; here the kernels' float outputs must be bit-identical to SciPy / scikit-image on
inputs chosen to reach every branch: all hue sectors and ties, coordinates far outside the image,
on exact integers and on the reflect boundary, kernels longer than the line.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from corruptions import _elastic
from corruptions._gaussian import _IDENTITY, REFLECT, separable_symmetric
from corruptions._hsv import ADJUST_SATURATION, ADJUST_VALUE, hsv_adjust

skcolor = pytest.importorskip("skimage.color")


def _colour_images() -> list[np.ndarray]:
    rs = np.random.RandomState(0)
    random = rs.randint(0, 256, (300, 200, 3)).astype(np.uint8)
    ties = (rs.randint(0, 3, (64, 48, 3)) * 127).astype(np.uint8)  # equal channels, grays, black
    levels = np.arange(256, dtype=np.uint8)
    ramps = np.stack(np.broadcast_arrays(levels[:, None], levels[None, :], levels[::-1, None]), -1)
    return [random, ties, np.ascontiguousarray(ramps)]


@pytest.mark.parametrize("channel,scale,offset", [
    (ADJUST_VALUE, 1.0, 0.3), (ADJUST_VALUE, 1.0, 0.5),
    (ADJUST_SATURATION, 0.1, 0.0), (ADJUST_SATURATION, 5.0, 0.1), (ADJUST_SATURATION, 20.0, 0.2),
])
def test_hsv_adjust_matches_skimage(channel, scale, offset):
    for image in _colour_images():
        hsv = skcolor.rgb2hsv(image / 255.0)
        if channel == ADJUST_VALUE:
            hsv[:, :, 2] = np.clip(hsv[:, :, 2] + offset, 0, 1)
        else:
            hsv[:, :, 1] = np.clip(hsv[:, :, 1] * scale + offset, 0, 1)
        expected = np.clip(skcolor.hsv2rgb(hsv), 0, 1) * 255
        ours = hsv_adjust(image, channel, scale, offset)
        assert ours.dtype == expected.dtype
        np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("shape,sigma", [((427, 640), (4.27, 6.4)), ((33, 50), (0.33, 0.5)),
                                         ((40, 7), (1.5, 4.0)), ((9, 3), (5.0, 2.5))])
def test_displacement_matches_scipy_gaussian_filter(shape, sigma):
    rs = np.random.RandomState(1)
    noise = rs.uniform(-3.0, 3.0, size=shape)
    sigma = np.asarray(sigma)
    alpha = 21.25
    expected = (ndi.gaussian_filter(noise, sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
    fw0 = _elastic.gaussian_weights(sigma[0], truncate=3)
    fw1 = _elastic.gaussian_weights(sigma[1], truncate=3)
    if shape == (9, 3):
        assert len(fw1) > 2 * shape[1]  # kernel longer than the line: periodic reflection
    np.testing.assert_array_equal(_elastic.displacement(noise, fw0, fw1, alpha), expected)


@pytest.mark.parametrize("shape,sigma", [((427, 640), 6.4), ((40, 7), 4.0), ((5, 4), 3.0)])
def test_each_filter_pass_matches_scipy_correlate1d_in_float64(shape, sigma):
    # displacement() rounds to float32, which would hide a changed summation order; the passes
    # themselves must already agree with SciPy in float64.
    rs = np.random.RandomState(3)
    src = rs.uniform(-3.0, 3.0, size=shape)
    fw = _elastic.gaussian_weights(np.float64(sigma), truncate=3)
    h, w = shape
    out = np.empty((h, w, 1))
    # one pass at a time: the other axis gets the identity kernel (a multiplication by 1.0, exact)
    separable_symmetric(src.reshape(h, w, 1), fw, _IDENTITY, REFLECT, 1.0, out)
    np.testing.assert_array_equal(out[..., 0], ndi.correlate1d(src, fw, axis=0, mode="reflect"))
    separable_symmetric(src.reshape(h, w, 1), _IDENTITY, fw, REFLECT, 1.0, out)
    np.testing.assert_array_equal(out[..., 0], ndi.correlate1d(src, fw, axis=1, mode="reflect"))


def test_warp_matches_scipy_map_coordinates():
    rs = np.random.RandomState(2)
    height, width = 37, 45
    image = rs.randint(0, 256, (height, width, 3)).astype(np.uint8)
    levels = np.arange(256, dtype=np.float32) / 255.0
    dy = rs.uniform(-3 * height, 3 * height, (height, width)).astype(np.float32)
    dx = rs.uniform(-3 * width, 3 * width, (height, width)).astype(np.float32)
    # boundary cases: exact integers, the reflect edges, tiny negatives, multiples of the period
    # (-1e-17 and -1e-20 at row 0 hit SciPy's guard that keeps -c - 1 from rounding to -1.0)
    special = np.array([0.0, -0.5, -1.0, -1e-7, -1e-17, -1e-20, 0.5, -2 * height, 2 * height,
                        -height, height - 1, height - 0.5, height, 4 * height - 0.25], dtype=np.float32)
    dy[0, : special.size] = special
    dy[1, : special.size] = -special
    dx[2, : special.size] = special * (width / height)
    dy[3, :] = 0.0
    dx[3, :] = 0.0
    y, x, z = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    coords = (y + dy[..., None]).reshape(-1, 1), (x + dx[..., None]).reshape(-1, 1), z.reshape(-1, 1)
    expected = np.clip(
        ndi.map_coordinates(levels[image], coords, order=1, mode="reflect").reshape(image.shape), 0, 1
    ) * 255
    ours = _elastic.warp_bilinear_reflect(image, levels.astype(np.float64), dx, dy)
    assert ours.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)
