"""SciPy's ``gaussian_filter`` over the two image axes, bit-identical and fast (numba).

Hand-written because it must be exact and fast and no library gives both: SciPy's own filter
(single-threaded C that copies every line through a buffer, one axis at a time over the whole
array) is most of glass_blur's and gaussian_blur's time, and OpenCV's / PIL's Gaussian blurs sum
in other orders or in lower precision, so their results differ in the last bits. This module
repeats SciPy's arithmetic exactly; numba compiles it without fastmath, so with no FMA
contraction and no reassociation, which gives the same bytes on every platform.

What is reproduced, from SciPy 1.17 (``scipy/ndimage/_filters.py`` and ``src/``):

``gaussian_filter``
    axes whose sigma is <= 1e-15 are skipped; the others are filtered in order (axis 0, then
    axis 1), each pass reading the previous pass's output (which has the output's dtype: float64
    in every use here). Per axis, ``gaussian_filter1d`` builds ``_gaussian_kernel1d(sigma, 0,
    int(truncate * sigma + 0.5))`` reversed (``gaussian_weights``) and calls ``correlate1d``.
``ni_filters.c`` NI_Correlate1D, symmetric-kernel branch (Gaussian weights are exactly
    symmetric): ``out[i] = in[i] * w[0]``, then for m = r .. 1 (outermost pair first)
    ``out[i] += (in[i - m] + in[i + m]) * w[m]``, all in double.
``ni_support.c`` NI_ExtendLine, the line padding
    'reflect': half-sample symmetric ``dcba|abcd|dcba``, periodic with period 2n (so kernels
    longer than the line keep reflecting); 'nearest': the end values repeated ``aaaa|abcd|dddd``.

Filtering along axis 1 only needs row i of the axis-0 result, so both passes run row by row
(the intermediate row lives in a small padded buffer, as in SciPy, never a full array); each
output value is still accumulated in exactly SciPy's order and through the same float64 values.
"""
from __future__ import annotations

import numpy as np
from numba import njit

REFLECT = 0
NEAREST = 1
_MODES = {"reflect": REFLECT, "nearest": NEAREST}

# scipy.ndimage.gaussian_filter filters an axis only if its sigma is above this.
_MIN_SIGMA = 1e-15
_IDENTITY = np.ones(1)  # a skipped axis: x * 1.0 == x exactly


def gaussian_weights(sigma: float, truncate: float) -> np.ndarray:
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
def _extend_index(i: int, n: int, mode: int) -> int:
    """Index into a line of length n that SciPy's padding puts at position i (any integer)."""
    if mode == NEAREST:
        if i < 0:
            return 0
        if i >= n:
            return n - 1
        return i
    period = 2 * n  # REFLECT
    i = i % period  # Python semantics: result in [0, period)
    if i >= n:
        i = period - 1 - i
    return i


@njit(cache=True, nogil=True)
def separable_symmetric(
    src: np.ndarray, fw0: np.ndarray, fw1: np.ndarray, mode: int, alpha: float, out: np.ndarray
) -> None:
    """``out = correlate1d(correlate1d(src, fw0, axis=0), fw1, axis=1) * alpha`` on (n, m, c) arrays.

    ``src`` is float64 and C-contiguous, ``fw0`` / ``fw1`` odd-length symmetric kernels (a kernel
    ``[1.0]`` leaves its axis as it is), ``mode`` REFLECT or NEAREST; the intermediate is float64
    (SciPy's, when its output is float64) and each value is rounded to ``out``'s dtype on store.
    ``out`` must not overlap ``src``.
    """
    n, m, c = src.shape
    r0 = fw0.shape[0] // 2
    r1 = fw1.shape[0] // 2
    w00 = fw0[r0]
    w10 = fw1[r1]
    width = m * c
    flat_src = src.reshape(n, width)
    flat_out = out.reshape(n, width)
    line = np.empty((m + 2 * r1) * c, dtype=np.float64)  # one axis-0 result row, padded
    acc = np.empty(width, dtype=np.float64)
    for i in range(n):
        # Axis 0: the row i of the first pass, into the middle of the padded line.
        mid = line[r1 * c : r1 * c + width]
        row = flat_src[i]
        for f in range(width):
            mid[f] = row[f] * w00
        for jj in range(-r0, 0):
            lo = flat_src[_extend_index(i + jj, n, mode)]
            hi = flat_src[_extend_index(i - jj, n, mode)]
            w = fw0[r0 + jj]
            for f in range(width):
                mid[f] += (lo[f] + hi[f]) * w
        # Padding of that row along axis 1, per channel.
        for t in range(r1):
            left = (r1 + _extend_index(t - r1, m, mode)) * c
            right = (r1 + _extend_index(m + t, m, mode)) * c
            for k in range(c):
                line[t * c + k] = line[left + k]
                line[(r1 + m + t) * c + k] = line[right + k]
        # Axis 1.
        for f in range(width):
            acc[f] = mid[f] * w10
        for jj in range(-r1, 0):
            lo = line[(r1 + jj) * c : (r1 + jj) * c + width]
            hi = line[(r1 - jj) * c : (r1 - jj) * c + width]
            w = fw1[r1 + jj]
            for f in range(width):
                acc[f] += (lo[f] + hi[f]) * w
        dst = flat_out[i]
        for f in range(width):
            dst[f] = acc[f] * alpha


def _axis_weights(sigma: float, truncate: float) -> np.ndarray:
    return gaussian_weights(sigma, truncate) if sigma > _MIN_SIGMA else _IDENTITY


def gaussian_filter(
    image: np.ndarray, sigma: tuple[float, float], mode: str, truncate: float = 4.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, (s0, s1[, 0]), mode=mode, truncate=truncate, output=out)``.

    ``image``: float64 H×W or H×W×C (the channel axis is never filtered, as with sigma 0 there);
    ``mode``: 'reflect' or 'nearest'; ``out``: an optional float64 array of the image's shape
    that does not overlap it (saves an allocation). Returns float64, like SciPy for this input.
    """
    if image.dtype != np.float64 or image.ndim not in (2, 3):
        raise ValueError(f"gaussian_filter needs a float64 H×W or H×W×C array, got {image.dtype} {image.shape}")
    if out is None:
        out = np.empty_like(image)
    elif out.dtype != np.float64 or out.shape != image.shape or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous float64 array of the image's shape")
    elif np.shares_memory(out, image):
        raise ValueError("out must not overlap the image (rows are filtered in one sweep)")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    src = np.ascontiguousarray(image)
    height, width = src.shape[:2]
    channels = src.shape[2] if src.ndim == 3 else 1
    fw0 = _axis_weights(sigma[0], truncate)
    fw1 = _axis_weights(sigma[1], truncate)
    separable_symmetric(
        src.reshape(height, width, channels), fw0, fw1, _MODES[mode], 1.0,
        out.reshape(height, width, channels),
    )
    return out
