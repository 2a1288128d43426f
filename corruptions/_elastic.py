"""Kernels for ``elastic_transform``: SciPy's Gaussian filter and order-1 ``map_coordinates``.

Hand-written (numba) because they must be bit-identical to the reference and fast, and no library
gives both: the reference calls skimage ``gaussian`` (-> ``scipy.ndimage.gaussian_filter``) twice
and then ``scipy.ndimage.map_coordinates`` on the whole H×W×3 float32 image with three float64
coordinate arrays of H·W·3 entries each (built by ``np.meshgrid``), visiting 2×2×2 spline corners
per output value. Fusing coordinate construction, weights and the three channels into one pass
removes those temporaries and the channel axis' zero-weight corners. OpenCV's ``remap`` would be
faster still but quantises sub-pixel positions to 1/32 pixel, so it cannot reproduce SciPy's values.

What is reproduced, from SciPy 1.17's ``scipy/ndimage/src``:

``ni_filters.c`` NI_Correlate1D, symmetric-kernel branch
    ``out[i] = in[i] * w[0]``, then for m = r .. 1 (outermost pair first)
    ``out[i] += (in[i - m] + in[i + m]) * w[m]``; lines are padded in mode 'reflect'
    (half-sample symmetric, ``dcba|abcd|dcba``, periodic with period 2n); the filter runs along
    axis 0, then along axis 1 of the result. Kernel: ``_gaussian_kernel1d`` (computed with NumPy in
    ``gaussian_weights``, exactly as SciPy does).
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


def gaussian_weights(sigma: np.float64, truncate: float) -> np.ndarray:
    """The reversed 1-D kernel ``gaussian_filter1d`` hands to ``correlate1d`` (order 0).

    Same NumPy expressions as SciPy's ``_gaussian_kernel1d`` so the weights are bit-identical.
    """
    radius = int(truncate * float(sigma) + 0.5)
    sigma2 = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi_x = np.exp(-0.5 / sigma2 * x**2)
    phi_x = phi_x / phi_x.sum()
    return np.ascontiguousarray(phi_x[::-1])


@njit(cache=True, nogil=True, inline="always")
def _reflect_index(i: int, n: int) -> int:
    """Index into a line of length n of position i under half-sample symmetric extension."""
    period = 2 * n
    i = i % period  # Python semantics: result in [0, period)
    if i >= n:
        i = period - 1 - i
    return i


@njit(cache=True, nogil=True)
def _symmetric_pass(src: np.ndarray, fw: np.ndarray, out: np.ndarray) -> None:
    """Symmetric correlation along axis 0 of 2-D ``src`` into ``out`` (NI_Correlate1D's order).

    Loops run row by row so the inner loop over columns is contiguous; each output value is
    still accumulated in exactly SciPy's order.
    """
    n, m = src.shape
    size1 = fw.shape[0] // 2
    w0 = fw[size1]
    for i in range(n):
        for j in range(m):
            out[i, j] = src[i, j] * w0
        for jj in range(-size1, 0):
            a = _reflect_index(i + jj, n)
            b = _reflect_index(i - jj, n)
            w = fw[size1 + jj]
            for j in range(m):
                out[i, j] += (src[a, j] + src[b, j]) * w


@njit(cache=True, nogil=True)
def _symmetric_pass_rows_scaled(src: np.ndarray, fw: np.ndarray, alpha: float, out: np.ndarray) -> None:
    """Symmetric correlation along axis 1 of 2-D ``src``, times ``alpha``, stored into ``out``.

    Lines are copied into a reflected buffer, as SciPy does; the tap loop is outside the column
    loop so the compiler can vectorise across columns, while each output value is still
    accumulated in exactly SciPy's order.
    """
    n, m = src.shape
    size1 = fw.shape[0] // 2
    w0 = fw[size1]
    line = np.empty(m + 2 * size1, dtype=np.float64)
    acc = np.empty(m, dtype=np.float64)
    for i in range(n):
        for k in range(m + 2 * size1):
            line[k] = src[i, _reflect_index(k - size1, m)]
        for j in range(m):
            acc[j] = line[j + size1] * w0
        for jj in range(-size1, 0):
            w = fw[size1 + jj]
            lo = line[size1 + jj : size1 + jj + m]
            hi = line[size1 - jj : size1 - jj + m]
            for j in range(m):
                acc[j] += (lo[j] + hi[j]) * w
        row = out[i]
        for j in range(m):
            row[j] = acc[j] * alpha  # rounded to out's dtype on store (float32: nearest)


@njit(cache=True, nogil=True)
def displacement(noise: np.ndarray, fw0: np.ndarray, fw1: np.ndarray, alpha: float) -> np.ndarray:
    """``(gaussian_filter(noise, sigma, mode='reflect', truncate=3) * alpha).astype(float32)``.

    ``fw0`` / ``fw1`` are the axis-0 / axis-1 kernels from ``gaussian_weights``; the product
    with ``alpha`` is taken in float64 and rounded to float32, as in the reference.
    """
    tmp = np.empty_like(noise)
    _symmetric_pass(noise, fw0, tmp)
    out = np.empty(noise.shape, dtype=np.float32)
    _symmetric_pass_rows_scaled(tmp, fw1, alpha, out)
    return out


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
