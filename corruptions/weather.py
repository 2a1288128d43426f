"""Weather corruptions: exact ports of imagecorruptions 1.1.2's snow, frost, fog and spatter.

Each function takes a C-contiguous uint8 H×W×3 image (the registry stacks grayscale to three
channels first, as the reference's ``corrupt`` does, so only the reference's three-channel branches
are reachable), a severity 1..5 and an explicit ``np.random.RandomState``; it returns what the
reference returns before ``corrupt``'s final ``np.uint8`` cast. Random draws are the reference's
calls in its order; the float32/float64 steps follow the reference (NumPy 2 promotion rules)
so that the final truncation to uint8 lands on the same integers.
"""
from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage
from numba import njit

from ._motion import motion_blur_layer
from ._plasma import fog_blend, plasma_fractal
from ._zoom import clipped_zoom
from .frost_textures import frost_texture, resized_frost_rgb


# ----------------------------------------------------------------------------- helpers (fog)

def _next_power_of_2(n: int) -> int:
    return 1 if n == 0 else 2 ** (n - 1).bit_length()


# ----------------------------------------------------------------------------- corruptions

def snow(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Falling snow: a thresholded, zoomed noise layer, motion-blurred, added twice (reference: ``snow``)."""
    # loc, scale, zoom, threshold, blur radius, blur sigma, image weight
    c = [(0.1, 0.3, 3, 0.5, 10, 4, 0.8),
         (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
         (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
         (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][severity - 1]

    x = x.astype(np.float32) / 255.0
    height, width = x.shape[:2]
    snow_layer = rng.normal(size=(height, width), loc=c[0], scale=c[1])

    # the full zoomed layer (larger than the image): the motion blur below clamps at its edges
    snow_layer = clipped_zoom(snow_layer[..., np.newaxis], c[2])
    snow_layer[snow_layer < c[3]] = 0
    snow_layer = np.clip(snow_layer.squeeze(), 0, 1)

    angle = rng.uniform(-135, -45)
    snow_layer = motion_blur_layer(snow_layer, radius=c[4], sigma=c[5], angle=angle)

    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
    # The reference's ``except ValueError`` branch is unreachable: after its crop the layer has
    # exactly the image's height and width (a zoomed layer is never smaller than the image).
    return _snow_blend(x, gray, snow_layer, np.float32(c[6]), np.float32(1 - c[6]))


# Hand-written (fused) because the reference's tail is seven full-size float32/float64 numpy
# passes; this is one pass with the same operands in the same order and the same dtypes
# (float32 for the image mix, as NEP 50 gives for python-float * float32 array; float64 once the
# float64 snow layer is added). No fastmath: no FMA contraction.
@njit(cache=True)
def _snow_blend(x, gray, layer, weight, rest):
    """``np.clip(x' + s + rot90(s, 2), 0, 1) * 255`` with ``x' = weight*x + rest*max(x, gray*1.5+.5)``
    (float32) and ``s = round(layer[:H, :W] * 255).astype(uint8) / 255.`` (float64)."""
    height, width, channels = x.shape
    out = np.empty((height, width, channels), np.float64)
    k15 = np.float32(1.5)
    k05 = np.float32(0.5)
    for i in range(height):
        for j in range(width):
            # layer values are in [0, 1] (a convex combination of clipped values), so the
            # rounded value is an integer in 0..255 and the uint8 cast is exact
            snow = np.uint8(np.rint(layer[i, j] * 255)) / 255.0
            snow_rot = np.uint8(np.rint(layer[height - 1 - i, width - 1 - j] * 255)) / 255.0
            bright = gray[i, j] * k15 + k05
            for c in range(channels):
                v = x[i, j, c]
                mixed = weight * v + rest * (v if v >= bright else bright)
                total = (np.float64(mixed) + snow) + snow_rot
                if total < 0.0:
                    total = 0.0
                elif total > 1.0:
                    total = 1.0
                out[i, j, c] = total * 255
    return out


def frost(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Frost texture blended over the image (reference: ``frost``).

    The reference draws ``randint(5)``, so its sixth texture (frost6.jpg) is never used; kept.
    """
    # image weight, frost weight
    c = [(1, 0.4),
         (0.8, 0.6),
         (0.7, 0.7),
         (0.65, 0.7),
         (0.6, 0.75)][severity - 1]

    idx = rng.randint(5)  # 0..4 of the six FROST_FILES
    frost_shape = frost_texture(idx).shape
    x_shape = x.shape

    # scale the texture so that it covers the image, then 10 % more
    scaling_factor = 1
    if frost_shape[0] >= x_shape[0] and frost_shape[1] >= x_shape[1]:
        scaling_factor = 1
    elif frost_shape[0] < x_shape[0] and frost_shape[1] >= x_shape[1]:
        scaling_factor = x_shape[0] / frost_shape[0]
    elif frost_shape[0] >= x_shape[0] and frost_shape[1] < x_shape[1]:
        scaling_factor = x_shape[1] / frost_shape[1]
    else:  # both sides too small: the larger factor
        scaling_factor = np.maximum(x_shape[0] / frost_shape[0], x_shape[1] / frost_shape[1])
    scaling_factor *= 1.1
    new_width = int(np.ceil(frost_shape[1] * scaling_factor))
    new_height = int(np.ceil(frost_shape[0] * scaling_factor))
    frost_rgb = resized_frost_rgb(idx, new_width, new_height)

    # random crop (row start drawn first)
    x_start = rng.randint(0, new_height - x_shape[0])
    y_start = rng.randint(0, new_width - x_shape[1])
    crop = frost_rgb[x_start:x_start + x_shape[0], y_start:y_start + x_shape[1]]
    return np.clip(c[0] * x + c[1] * crop, 0, 255)


def fog(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Plasma-fractal fog added to the image, then rescaled by its maximum (reference: ``fog``)."""
    # fog strength, plasma wibble decay
    c = [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)][severity - 1]

    height, width = x.shape[:2]
    map_size = _next_power_of_2(int(max(x.shape)))  # the reference takes the max over all 3 dims

    plasma = plasma_fractal(rng, mapsize=map_size, wibbledecay=c[1])
    # x / 255. + c[0] * plasma, rescaled by the image maximum, clipped: fused, same float64 steps
    return fog_blend(x, plasma[:height, :width], c[0])


def _skimage_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """skimage 0.26 ``filters.gaussian(image, sigma)`` for float32/float64 input, without skimage.

    skimage leaves float32/float64 images unchanged (``img_as_float`` does not rescale floats,
    ``_supported_float_type`` keeps both) and calls ``ndi.gaussian_filter`` with mode='nearest',
    cval=0, truncate=4.0; the output has the input's dtype.
    """
    if image.dtype not in (np.float32, np.float64):
        raise TypeError(f"expected a float32/float64 image, got {image.dtype}")
    return scipy.ndimage.gaussian_filter(image, sigma, mode="nearest", cval=0, truncate=4.0)


def spatter(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Water splashes (severities 1-3) or mud (4-5) over the image (reference: ``spatter``)."""
    # liquid loc, liquid scale, liquid blur sigma, threshold, intensity (water) / mud blur sigma, mud?
    c = [(0.65, 0.3, 4, 0.69, 0.6, 0),
         (0.65, 0.3, 3, 0.68, 0.6, 0),
         (0.65, 0.3, 2, 0.68, 0.5, 0),
         (0.65, 0.3, 1, 0.65, 1.5, 1),
         (0.67, 0.4, 1, 0.65, 1.5, 1)][severity - 1]

    # the reference's float32 ``x / 255.`` is formed inside the fused blends below
    height, width = x.shape[:2]
    liquid_layer = rng.normal(size=(height, width), loc=c[0], scale=c[1])
    liquid_layer = _skimage_gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0

    if c[5] == 0:
        # water: pale turquoise, shaded by a relief made from the liquid layer's edges
        liquid_u8 = (liquid_layer * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid_u8, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)

        # The reference goes through 4-channel BGRA copies (GRAY2BGRA, BGR2BGRA, BGRA2BGR); those
        # only copy values and add an alpha channel that is dropped again, so the three colour
        # channels are computed directly: m / max(m) * intensity, all float32.
        m = liquid_u8 * dist
        m /= np.max(m)  # 0/0 (NaN image) when there is no liquid at all, as in the reference
        m *= c[4]
        color = np.array([175 / 255.0, 238 / 255.0, 238 / 255.0], dtype=np.float32)
        return _water_blend(x, m, color)

    # mud: a blurred, thresholded mask painted dark brown (float64 colour, float32 image)
    mask = np.where(liquid_layer > c[3], 1, 0)
    mask = _skimage_gaussian(mask.astype(np.float32), sigma=c[4])
    mask[mask < 0.8] = 0
    color = np.array([63 / 255.0, 42 / 255.0, 20 / 255.0])  # float64, as ones_like(uint8) * float
    return _mud_blend(x, mask, color)


# Hand-written (fused) for the same reason as _snow_blend: one pass instead of five full-size
# numpy passes, same operands, order and dtypes. No fastmath: no FMA contraction.
@njit(cache=True)
def _water_blend(image, m, color):
    """``np.clip(x + m * color, 0, 1) * 255``, all float32, with ``x = float32(image) / 255``."""
    height, width, channels = image.shape
    out = np.empty((height, width, channels), np.float32)
    k255 = np.float32(255.0)
    for i in range(height):
        for j in range(width):
            for c in range(channels):
                v = np.float32(image[i, j, c]) / k255 + m[i, j] * color[c]
                if v < 0:
                    v = np.float32(0)
                elif v > 1:
                    v = np.float32(1)
                out[i, j, c] = v * k255
    return out


@njit(cache=True)
def _mud_blend(image, mask, color):
    """``np.clip(x * (1 - mask) + color * mask, 0, 1) * 255``: the image part in float32 (x is
    ``float32(image) / 255``), the colour part and the sum in float64."""
    height, width, channels = image.shape
    out = np.empty((height, width, channels), np.float64)
    k255 = np.float32(255.0)
    one = np.float32(1.0)
    for i in range(height):
        for j in range(width):
            mk = mask[i, j]
            keep = one - mk
            for c in range(channels):
                v = np.float64((np.float32(image[i, j, c]) / k255) * keep) + color[c] * np.float64(mk)
                if v < 0.0:
                    v = 0.0
                elif v > 1.0:
                    v = 1.0
                out[i, j, c] = v * 255
    return out
