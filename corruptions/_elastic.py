"""Kernels for ``elastic_transform``: SciPy's Gaussian filter and order-1 ``map_coordinates``.

Hand-written (numba) because they must be bit-identical to the reference and fast, and no library
gives both: the reference calls skimage ``gaussian`` (-> ``scipy.ndimage.gaussian_filter``) twice
and then ``scipy.ndimage.map_coordinates`` on the whole H×W×3 float32 image with three float64
coordinate arrays of H·W·3 entries each (built by ``np.meshgrid``), visiting 2×2×2 spline corners
per output value. Fusing coordinate construction, weights and the three channels into one pass
removes those temporaries and the channel axis' zero-weight corners. OpenCV's ``remap`` would be
faster still but quantises sub-pixel positions to 1/32 pixel, so it cannot reproduce SciPy's values.

What is reproduced, from SciPy 1.17's ``scipy/ndimage/src``:

``gaussian_filter`` (mode 'reflect', truncate 3) on the float64 noise, then ``* alpha``
    and the cast to float32: the shared exact port in ``_gaussian.py`` (``separable_symmetric``,
    kernels from ``gaussian_weights``), which applies ``alpha`` and the cast per value on store.
``ni_interpolation.c`` NI_GeometricTransform with order 1, mode 'reflect'
    per axis: ``cc = map_coordinate(c, len, REFLECT)``; if ``cc > -1``: ``start = floor(cc)``,
    neighbours ``start`` and ``start + 1`` are remapped with the same function (cast to an index)
    when they fall outside; weights from ``ni_splines.c``: ``x = cc - floor(cc)``,
    ``w0 = 1.0 - x``, ``w1 = 1.0 - w0`` (not ``x``); corners are summed in C order of the corner
    index with ``coeff = ((value * w_axis0) * w_axis1) * w_axis2``; the sum is stored as float32.
    The channel coordinate is the exact integer k, so its weights are (1.0, 0.0): multiplying by
    1.0 is exact and the zero-weight corners add +0.0, which changes no sum; they are skipped.
Numba compiles without fastmath: no reassociation, no FMA contraction.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._gaussian import REFLECT, gaussian_weights, separable_symmetric

__all__ = ["displacement", "gaussian_weights", "warp_bilinear_reflect"]


# Plain Python, not @njit: numba's on-disk cache of a jitted caller is not invalidated when a
# jitted callee in another module (here _gaussian.py) changes.
def displacement(noise: np.ndarray, fw0: np.ndarray, fw1: np.ndarray, alpha: float) -> np.ndarray:
    """``(gaussian_filter(noise, sigma, mode='reflect', truncate=3) * alpha).astype(float32)``.

    ``noise`` is float64 H×W; ``fw0`` / ``fw1`` are the axis-0 / axis-1 kernels from
    ``gaussian_weights``; the product with ``alpha`` is taken in float64 and rounded to float32,
    as in the reference.
    """
    height, width = noise.shape
    src = np.ascontiguousarray(noise, dtype=np.float64).reshape(height, width, 1)
    out = np.empty((height, width, 1), dtype=np.float32)
    separable_symmetric(src, fw0, fw1, REFLECT, float(alpha), out)
    return out.reshape(height, width)


@njit(cache=True, nogil=True, inline="always")
def _map_reflect(cc: float, length: int) -> float:
    """SciPy's ``map_coordinate`` for NI_EXTEND_REFLECT (ni_interpolation.c), literally."""
    if cc < 0.0:
        if length <= 1:
            return 0.0
        sz2 = 2 * length
        if cc < -sz2:
            cc = sz2 * np.int64(-cc / sz2) + cc
        if cc < -length:
            return cc + sz2
        return (1e-15 if cc > -1e-15 else -cc) - 1.0
    if cc > length - 1:
        if length <= 1:
            return 0.0
        sz2 = 2 * length
        cc -= sz2 * np.int64(cc / sz2)
        if cc >= length:
            cc = sz2 - cc - 1.0
    return cc


@njit(cache=True, nogil=True, inline="always")
def _axis_setup(coord: float, length: int):
    """Order-1 neighbours and weights along one axis; ``ok`` False means SciPy uses cval."""
    if coord >= 0.0 and coord < length - 1:
        # Interior fast path, same values: no remapping, floor == truncation, no edge.
        start = np.int64(coord)
        w0 = 1.0 - (coord - float(start))
        return True, start, start + 1, w0, 1.0 - w0
    cc = _map_reflect(coord, length)
    if not cc > -1.0:
        return False, 0, 0, 0.0, 0.0
    start = np.int64(np.floor(cc))
    i0 = start
    i1 = start + 1
    if start < 0 or start + 1 >= length:
        i0 = np.int64(_map_reflect(float(start), length))
        i1 = np.int64(_map_reflect(float(start + 1), length))
    x = cc - np.floor(cc)
    w0 = 1.0 - x
    w1 = 1.0 - w0
    return True, i0, i1, w0, w1


@njit(cache=True, nogil=True)
def warp_bilinear_reflect(
    image: np.ndarray, levels: np.ndarray, dx: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """``np.clip(map_coordinates(levels[image], (y + dy, x + dx, z), order=1, mode='reflect'), 0, 1) * 255``.

    ``image`` is uint8 H×W×C; ``levels`` holds, as float64, the 256 float32 values
    ``np.float32(v) / 255.`` of the reference's float32 image (looked up instead of materialised;
    widening float32 to float64 is exact, and SciPy reads its float32 input as double too);
    ``dx`` / ``dy`` are float32 H×W; coordinates are float64 ``i + dy[i, j]`` and
    ``j + dx[i, j]``, as NumPy promotes int64 + float32. Returns float32 H×W×C.
    """
    height, width, channels = image.shape
    out = np.empty((height, width, channels), dtype=np.float32)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    scale = np.float32(255.0)
    for i in range(height):
        for j in range(width):
            ok_y, y0, y1, wy0, wy1 = _axis_setup(float(i) + float(dy[i, j]), height)
            ok_x, x0, x1, wx0, wx1 = _axis_setup(float(j) + float(dx[i, j]), width)
            if not (ok_y and ok_x):
                for k in range(channels):
                    out[i, j, k] = zero  # cval 0.0 as SciPy would; mode 'reflect' never lands here
                continue
            p00 = image[y0, x0]
            p01 = image[y0, x1]
            p10 = image[y1, x0]
            p11 = image[y1, x1]
            for k in range(channels):
                t = 0.0 + (levels[p00[k]] * wy0) * wx0
                t += (levels[p01[k]] * wy0) * wx1
                t += (levels[p10[k]] * wy1) * wx0
                t += (levels[p11[k]] * wy1) * wx1
                v = np.float32(t)
                if v < zero:
                    v = zero
                elif v > one:
                    v = one
                out[i, j, k] = v * scale
    return out
