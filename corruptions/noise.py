"""Noise corruptions: exact ports of imagecorruptions 1.1.2's four noise functions.

Each function takes a C-contiguous uint8 H×W×3 image, a severity 1..5 and an explicit RNG, and
returns what the reference returns before ``corrupt``'s final ``np.uint8`` cast. The draws are the
reference's calls, in its order, on ``rng`` instead of the global ``np.random``; the arithmetic
keeps the reference's float64 steps so truncation to uint8 lands on the same integers.
"""
from __future__ import annotations

import numpy as np


def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Additive N(0, c²) noise on the [0, 1] image (reference: ``gaussian_noise``)."""
    c = [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]

    x = x / 255.0
    out = rng.normal(size=x.shape, scale=c)
    out += x  # x + noise: IEEE addition is commutative, so in place is bit-identical
    np.clip(out, 0, 1, out=out)
    out *= 255
    return out


def shot_noise(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Poisson photon noise with c photons per unit intensity (reference: ``shot_noise``)."""
    c = [60, 25, 12, 5, 3][severity - 1]

    x = x / 255.0
    out = rng.poisson(x * c) / float(c)
    np.clip(out, 0, 1, out=out)
    out *= 255
    return out


def _bernoulli(p: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """skimage 0.26 ``util.noise._bernoulli``: one ``rng.random`` draw per element unless p is 0 or 1."""
    if p == 0:
        return np.zeros(shape, dtype=bool)
    if p == 1:
        return np.ones(shape, dtype=bool)
    return rng.random(shape) <= p


def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise (reference: ``impulse_noise``).

    The reference calls ``skimage.util.random_noise(x / 255., mode='s&p', amount=c)``; this is
    skimage 0.26's s&p branch written out so the runtime never imports skimage. ``rng`` is the
    ``np.random.Generator`` that ``random_noise`` would be given (``default_rng(rng)`` returns a
    Generator unchanged). Its steps: ``img_as_float`` leaves float64 as is; the image is
    non-negative, so pepper is 0 (``low_clip``); ``flipped`` is drawn before ``salted``
    (``salt_vs_pepper`` = 0.5); both ``np.clip(..., 0, 1)`` calls are identities on values that are
    already in [0, 1] and are therefore skipped.
    """
    c = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    salt_vs_pepper = 0.5  # skimage's default

    out = x / 255.0
    flipped = _bernoulli(c, out.shape, rng)
    salted = _bernoulli(salt_vs_pepper, out.shape, rng)
    out[flipped & salted] = 1
    out[flipped & ~salted] = 0.0
    out *= 255
    return out


def speckle_noise(x: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    """Multiplicative noise x + x·N(0, c²) (reference: ``speckle_noise``)."""
    c = [0.15, 0.2, 0.35, 0.45, 0.6][severity - 1]

    x = x / 255.0
    out = rng.normal(size=x.shape, scale=c)
    out *= x  # x * noise
    out += x  # x + (x * noise)
    np.clip(out, 0, 1, out=out)
    out *= 255
    return out
