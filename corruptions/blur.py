"""Blur corruptions: exact ports of imagecorruptions 1.1.2's five blur functions.

Each function takes a C-contiguous uint8 H×W×3 image, a severity 1..5 and an explicit legacy
``RandomState`` (seeded like ``np.random.seed``), and returns what the reference returns before
``corrupt``'s final ``np.uint8`` cast. Random draws are the reference's calls, in its order.

skimage's ``gaussian(img, sigma, multichannel=True)`` (the reference, mended to
``channel_axis=-1``) is, for a float64 image, ``scipy.ndimage.gaussian_filter`` with sigma 0 on
the channel axis, mode 'nearest', truncate 4.0: ``_gaussian.gaussian_filter`` computes exactly
that, bit for bit, several times faster (see there why it is hand-written).
"""
from __future__ import annotations

import cv2
import numpy as np

from ._gaussian import gaussian_filter
from ._glass import shuffle_pixels
from ._motion import motion_blur_layer
from ._zoom import zoom_sum


def _sk_gaussian(x: np.ndarray, sigma: float, out: np.ndarray | None = None) -> np.ndarray:
    """skimage 0.26 ``gaussian(x, sigma, channel_axis=-1)`` on a float64 H×W×C image.

    ``out`` (float64, not overlapping ``x``) only saves an allocation.
    """
    return gaussian_filter(x, (sigma, sigma), mode="nearest", truncate=4.0, out=out)


def _disk(radius: int, alias_blur: float) -> np.ndarray:
    """The reference's anti-aliased disk kernel (float32), same numpy/cv2 calls."""
    if radius <= 8:
        grid = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        grid = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    xx, yy = np.meshgrid(grid, grid)
    aliased_disk = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    aliased_disk /= np.sum(aliased_disk)
    return cv2.GaussianBlur(aliased_disk, ksize=ksize, sigmaX=alias_blur)


def gaussian_blur(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Gaussian blur of the [0, 1] image (reference: ``gaussian_blur``); draws nothing."""
    c = [1, 2, 3, 4, 6][severity - 1]

    out = _sk_gaussian(x / 255.0, c)
    np.clip(out, 0, 1, out=out)
    out *= 255
    return out


def glass_blur(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Blur, locally shuffle pixels, blur again (reference: ``glass_blur``)."""
    # sigma, max_delta, iterations
    c = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]

    # Same operations as the reference; buffers are reused (in-place ufuncs give the same values).
    scaled = x / 255.0
    blurred = _sk_gaussian(scaled, c[0])
    blurred *= 255
    shuffled = blurred.astype(np.uint8)
    shuffle_pixels(shuffled, c[1], c[2], rng)
    np.divide(shuffled, 255.0, out=scaled)
    out = _sk_gaussian(scaled, c[0], out=blurred)
    np.clip(out, 0, 1, out=out)
    out *= 255
    return out


def defocus_blur(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Convolution with an anti-aliased disk (reference: ``defocus_blur``); draws nothing."""
    c = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]

    x = x / 255.0
    kernel = _disk(radius=c[0], alias_blur=c[1])
    out = np.empty_like(x)
    for d in range(3):
        out[:, :, d] = cv2.filter2D(np.ascontiguousarray(x[:, :, d]), -1, kernel)
    np.clip(out, 0, 1, out=out)
    out *= 255
    return out


def motion_blur(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Linear motion blur at a random angle in [-45, 45) (reference: ``motion_blur``)."""
    c = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]

    angle = rng.uniform(-45, 45)
    out = motion_blur_layer(x, radius=c[0], sigma=c[1], angle=angle)
    np.clip(out, 0, 255, out=out)
    return out


def zoom_blur(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Average of centre zooms by factors 1..1.3 (reference: ``zoom_blur``); draws nothing."""
    c = [
        np.arange(1, 1.11, 0.01),
        np.arange(1, 1.16, 0.01),
        np.arange(1, 1.21, 0.02),
        np.arange(1, 1.26, 0.02),
        np.arange(1, 1.31, 0.03),
    ][severity - 1]

    x = (x / 255.0).astype(np.float32)
    out = zoom_sum(x, c)  # float32, accumulated zoom by zoom like the reference's `out +=`
    x = (x + out) / (len(c) + 1)
    return np.clip(x, 0, 1) * 255
