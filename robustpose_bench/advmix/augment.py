"""The two AdvMix proposal augmentations: an AutoAugment subset (uint8) and GridMask (normalised).

AutoAugment: the sub-policies of the ImageNet policy (Cubuk et al. 2019) that the official AdvMix
code (``lib/dataset/advaug.py``) keeps and that use only equalize, posterize, solarize and invert,
plus its one sharpness sub-policy. Geometric ops are left out (one heatmap target must serve every
proposal) and so are contrast, color, brightness and autocontrast, which overlap the benchmark's
corruptions. The official list repeats three sub-policies; we keep the repeats so each sub-policy
is drawn as often as there. Magnitudes use AutoAugment's 10-bin ranges.

GridMask (Chen et al. 2020) as the official ``grid_aug`` is configured: prob 0.7, ratio 0.5, both
axes, no rotation, mode 1 (the stripes are kept and the rest zeroed), applied to the normalised
tensor, so zeroed pixels take the dataset mean.

Every random draw comes from an explicit ``numpy.random.Generator``: no global RNG state.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

# AutoAugment magnitude bins (index 0..9).
_POSTERIZE_BITS = np.round(np.linspace(8, 4, 10), 0).astype(int)
_SOLARIZE_THRESH = np.linspace(256, 0, 10)
_SHARPNESS = np.linspace(0.0, 0.9, 10)


def _equalize(img: Image.Image, mag: int, rng: np.random.Generator) -> Image.Image:
    return ImageOps.equalize(img)


def _posterize(img: Image.Image, mag: int, rng: np.random.Generator) -> Image.Image:
    return ImageOps.posterize(img, int(_POSTERIZE_BITS[mag]))


def _solarize(img: Image.Image, mag: int, rng: np.random.Generator) -> Image.Image:
    return ImageOps.solarize(img, float(_SOLARIZE_THRESH[mag]))


def _invert(img: Image.Image, mag: int, rng: np.random.Generator) -> Image.Image:
    return ImageOps.invert(img)


def _sharpness(img: Image.Image, mag: int, rng: np.random.Generator) -> Image.Image:
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return ImageEnhance.Sharpness(img).enhance(1.0 + float(_SHARPNESS[mag]) * sign)


OPS = {
    "equalize": _equalize,
    "posterize": _posterize,
    "solarize": _solarize,
    "invert": _invert,
    "sharpness": _sharpness,
}

#: (p1, op1, magnitude1, p2, op2, magnitude2), in the official code's order.
SUB_POLICIES: tuple[tuple[float, str, int, float, str, int], ...] = (
    (0.8, "equalize", 8, 0.6, "equalize", 3),
    (0.6, "posterize", 7, 0.6, "posterize", 6),
    (0.4, "equalize", 7, 0.2, "solarize", 4),
    (0.6, "solarize", 3, 0.6, "equalize", 7),
    (0.8, "posterize", 5, 1.0, "equalize", 2),
    (0.6, "equalize", 8, 0.4, "posterize", 6),
    (0.0, "equalize", 7, 0.8, "equalize", 8),
    (0.6, "invert", 4, 1.0, "equalize", 8),
    (0.4, "sharpness", 7, 0.6, "invert", 8),
    (0.4, "equalize", 7, 0.2, "solarize", 4),
    (0.6, "invert", 4, 1.0, "equalize", 8),
    (0.8, "equalize", 8, 0.6, "equalize", 3),
)


def autoaugment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One randomly chosen sub-policy applied to an RGB uint8 HxWx3 crop; returns uint8 HxWx3."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"autoaugment expects an HxWx3 uint8 image, got {img.dtype} {img.shape}")
    p1, op1, m1, p2, op2, m2 = SUB_POLICIES[int(rng.integers(len(SUB_POLICIES)))]
    pil = Image.fromarray(img)
    if rng.random() < p1:
        pil = OPS[op1](pil, m1, rng)
    if rng.random() < p2:
        pil = OPS[op2](pil, m2, rng)
    return np.asarray(pil, dtype=np.uint8).copy()


@dataclass(frozen=True)
class GridMaskParams:
    prob: float = 0.7
    ratio: float = 0.5


def gridmask_mask(height: int, width: int, rng: np.random.Generator,
                  params: GridMaskParams = GridMaskParams()) -> np.ndarray | None:
    """The float32 HxW keep-mask (1 keep, 0 drop), or None when this draw skips GridMask.

    Grid period d ~ U{2, min(H, W) - 1}; stripe length l = clip(round(d * ratio), 1, d - 1); random
    offsets; drawn on a 1.5x canvas and centre-cropped, as the reference GridMask does (the canvas
    only matters with rotation, which is off, but it fixes where the grid phase starts).
    """
    if rng.random() > params.prob:
        return None
    hh, ww = int(1.5 * height), int(1.5 * width)
    d = int(rng.integers(2, min(height, width)))
    length = min(max(int(d * params.ratio + 0.5), 1), d - 1)
    st_h = int(rng.integers(d))
    st_w = int(rng.integers(d))
    rows = np.zeros(hh, bool)
    cols = np.zeros(ww, bool)
    for i in range(hh // d):
        s = d * i + st_h
        rows[s:min(s + length, hh)] = True
    for i in range(ww // d):
        s = d * i + st_w
        cols[s:min(s + length, ww)] = True
    # mode 1: keep pixels on a row stripe or a column stripe, zero the rest.
    keep = rows[:, None] | cols[None, :]
    top, left = (hh - height) // 2, (ww - width) // 2
    return keep[top:top + height, left:left + width].astype(np.float32)


def gridmask(x: np.ndarray, rng: np.random.Generator, params: GridMaskParams = GridMaskParams()) -> np.ndarray:
    """GridMask on a normalised CxHxW float array (zeroed = the mean colour); may return ``x`` unchanged."""
    mask = gridmask_mask(x.shape[1], x.shape[2], rng, params)
    return x if mask is None else x * mask[None]
