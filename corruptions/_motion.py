"""The reference's ``_motion_blur``: a kernel-weighted sum of edge-clamped shifts, exact and fast.

imagecorruptions 1.1.2 builds a one-sided Gaussian kernel of ``2*radius+1`` taps along a line at
``angle`` degrees; tap i shifts the image by (dy_i, dx_i) with ``np.roll`` and then fills the
rolled-in border with the edge row/column, i.e. ``shifted[y, x] = img[clamp(y-dy), clamp(x-dx)]``.
It accumulates ``blurred = blurred + kernel[i] * shifted`` starting from float32 zeros; under
numpy 2 (NEP 50) ``kernel[i]`` is a float64 scalar, so every product and sum is float64. This port
computes the same per-pixel sum, taps in the same order, without building any shifted copy.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


def _kernel(width: int, sigma: float) -> np.ndarray:
    """The reference's ``getMotionBlurKernel``: normalised one-sided Gaussian, same float ops."""
    t = np.arange(width)
    k = (np.exp(-t**2 / (2 * (sigma**2)))) / (np.sqrt(2 * np.pi) * sigma)
    return k / np.sum(k)


def _taps(width: int, angle: float, height: int, image_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-tap (dy, dx) shifts, stopping where the reference breaks (shift past the border)."""
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    dys, dxs = [], []
    for i in range(width):
        dy = -math.ceil(((i * point[0]) / hypot) - 0.5)
        dx = -math.ceil(((i * point[1]) / hypot) - 0.5)
        if abs(dy) >= height or abs(dx) >= image_width:
            break
        dys.append(dy)
        dxs.append(dx)
    return np.array(dys, dtype=np.int64), np.array(dxs, dtype=np.int64)


# Hand-written because it must be exact and fast: no library computes this clamped-shift sum in
# the reference's float64 order (cv2.filter2D and scipy.ndimage.convolve sum taps in their own
# order, so the last bit, and after truncation to uint8 sometimes the pixel, differs), and the
# reference builds several full-size arrays per tap. No fastmath: no FMA contraction.
@njit(cache=True)
def _accumulate(img, kernel, dys, dxs):
    """Per pixel, in tap order: ``acc = acc + kernel[i] * img[clamp(y-dy_i), clamp(x-dx_i)]``.

    Row by row, so the accumulator row stays in cache; between the clamped borders the source
    is a contiguous run, which the compiler vectorises (plain multiply then add: same rounding).
    """
    height, width, channels = img.shape
    row_len = width * channels
    src = img.reshape(height, row_len)
    out = np.zeros((height, row_len), np.float64)
    for y in range(height):
        acc = out[y]
        for i in range(kernel.shape[0]):
            k = kernel[i]
            srow = src[min(max(y - dys[i], 0), height - 1)]
            dx = dxs[i]
            lo = min(max(dx, 0), width)  # x < lo reads column 0
            hi = max(min(width + dx, width), 0)  # x >= hi reads column width-1
            for x in range(lo):
                for c in range(channels):
                    acc[x * channels + c] = acc[x * channels + c] + k * np.float64(srow[c])
            # slices indexed from 0: no negative-index wraparound branch, so the loop vectorises
            run = acc[lo * channels : hi * channels]
            source = srow[(lo - dx) * channels : (hi - dx) * channels]
            for j in range(run.shape[0]):
                run[j] = run[j] + k * np.float64(source[j])
            last = (width - 1) * channels
            for x in range(hi, width):
                for c in range(channels):
                    acc[x * channels + c] = acc[x * channels + c] + k * np.float64(srow[last + c])
    return out.reshape(height, width, channels)


def motion_blur_layer(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """Equal to the reference's ``_motion_blur(x, radius, sigma, angle)`` (float64 result).

    ``x`` is H×W×C (uint8 image) or H×W (e.g. snow's float64 layer); the result has x's shape.
    """
    if x.ndim not in (2, 3):
        raise ValueError(f"motion_blur_layer expects H×W or H×W×C, got shape {x.shape}")
    width = radius * 2 + 1
    kernel = _kernel(width, sigma)
    dys, dxs = _taps(width, angle, x.shape[0], x.shape[1])
    img = np.ascontiguousarray(x if x.ndim == 3 else x[:, :, None])
    out = _accumulate(img, kernel[: len(dys)], dys, dxs)
    return out if x.ndim == 3 else out[:, :, 0]
