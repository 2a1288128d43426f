"""Digital corruptions (plus brightness): exact ports of imagecorruptions 1.1.2.

brightness, contrast, elastic_transform, pixelate, jpeg_compression and saturate. Each function
takes a C-contiguous uint8 H×W×3 image (the registry stacks grayscale to three channels first, as
the reference's ``corrupt`` does, so only the reference's three-channel branches are reachable), a
severity 1..5 and an explicit ``np.random.RandomState``; it returns what the reference returns
before ``corrupt``'s final ``np.uint8`` cast (for the PIL-returning references, the array of the
PIL image). Only elastic_transform draws random numbers: the reference's two ``uniform`` calls,
in its order. float32/float64 steps follow the reference under NumPy 2 promotion rules.

brightness lives here, not in weather.py, because it shares the HSV kernel with saturate
(imagecorruptions lists it with the weather corruptions; the registry keeps that family).
"""
from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

from . import _elastic
from ._hsv import ADJUST_SATURATION, ADJUST_VALUE, hsv_adjust

# The reference's float32 image, np.array(pil, dtype=np.float32) / 255., for every uint8 value
# (held as float64: the widening is exact and is what SciPy's interpolation reads).
_FLOAT32_LEVELS = (np.arange(256, dtype=np.float32) / 255.0).astype(np.float64)


def brightness(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Add ``c`` to HSV value (skimage rgb2hsv / hsv2rgb, ported exactly in ``_hsv``)."""
    c = [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1]

    return hsv_adjust(x, ADJUST_VALUE, 1.0, float(c))


def contrast(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Pull every channel towards its image mean by factor ``c``."""
    c = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]

    x = x / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)  # the reference's exact reduction
    out = x - means
    out *= c
    out += means
    np.clip(out, 0, 1, out=out)
    out *= 255
    return out


def elastic_transform(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Warp by a Gaussian-smoothed uniform random displacement field (bilinear, 'reflect')."""
    alpha = [250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12][severity - 1]

    height, width = x.shape[:2]
    sigma = np.array((height, width)) * 0.01
    max_dx = height * 0.005
    max_dy = height * 0.005  # sic: the reference uses the height for both axes
    fw0 = _elastic.gaussian_weights(sigma[0], truncate=3)
    fw1 = _elastic.gaussian_weights(sigma[1], truncate=3)
    dx = _elastic.displacement(rng.uniform(-max_dx, max_dx, size=(height, width)), fw0, fw1, alpha)
    dy = _elastic.displacement(rng.uniform(-max_dy, max_dy, size=(height, width)), fw0, fw1, alpha)
    return _elastic.warp_bilinear_reflect(x, _FLOAT32_LEVELS, dx, dy)


def pixelate(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Box-downsample by ``c`` then nearest-upsample back, with PIL as the reference does."""
    c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]

    height, width = x.shape[:2]
    img = Image.fromarray(x)
    img = img.resize((int(width * c), int(height * c)), Image.Resampling.BOX)
    img = img.resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(img)


def jpeg_compression(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Round-trip through PIL's JPEG encoder at quality ``c``."""
    c = [25, 18, 15, 10, 7][severity - 1]

    output = BytesIO()
    Image.fromarray(x).save(output, "JPEG", quality=c)
    with Image.open(output) as img:  # an RGB JPEG decodes to RGB, as in the reference
        return np.asarray(img)


def saturate(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Scale and shift HSV saturation (skimage rgb2hsv / hsv2rgb, ported exactly in ``_hsv``)."""
    c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][severity - 1]

    return hsv_adjust(x, ADJUST_SATURATION, float(c[0]), float(c[1]))
