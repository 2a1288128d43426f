"""Explicit registry of the 19 corruptions and the public ``corrupt`` entry point.

The registry is a literal table (timm style), so the order, family and set of every
corruption is visible in one place and matches imagecorruptions 1.1.2's ``corruption_tuple``.
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Callable, Literal, Union

import numpy as np

from . import blur, digital, noise, weather

RNG = Union[np.random.RandomState, np.random.Generator]
CorruptionFn = Callable[[np.ndarray, int, RNG], np.ndarray]

SEVERITIES = (1, 2, 3, 4, 5)
MIN_SIDE = 32  # the reference rejects smaller images


@dataclass(frozen=True)
class Corruption:
    """One registry row.

    ``rng`` names the generator the reference effectively draws from: ``legacy`` is
    ``np.random.RandomState(seed)`` (the stream of ``np.random.seed(seed)``), ``generator`` is
    ``np.random.default_rng(seed)`` (only impulse_noise, whose reference call to skimage's
    ``random_noise`` draws from skimage's own, unseeded Generator).
    """

    name: str
    family: Literal["noise", "blur", "weather", "digital"]
    set: Literal["benchmark", "validation"]
    fn: CorruptionFn
    rng: Literal["legacy", "generator"] = "legacy"


_REGISTRY: tuple[Corruption, ...] = (
    # the 15 benchmark corruptions, in imagecorruptions' order
    Corruption("gaussian_noise", "noise", "benchmark", noise.gaussian_noise),
    Corruption("shot_noise", "noise", "benchmark", noise.shot_noise),
    Corruption("impulse_noise", "noise", "benchmark", noise.impulse_noise, rng="generator"),
    Corruption("defocus_blur", "blur", "benchmark", blur.defocus_blur),
    Corruption("glass_blur", "blur", "benchmark", blur.glass_blur),
    Corruption("motion_blur", "blur", "benchmark", blur.motion_blur),
    Corruption("zoom_blur", "blur", "benchmark", blur.zoom_blur),
    Corruption("snow", "weather", "benchmark", weather.snow),
    Corruption("frost", "weather", "benchmark", weather.frost),
    Corruption("fog", "weather", "benchmark", weather.fog),
    Corruption("brightness", "weather", "benchmark", digital.brightness),
    Corruption("contrast", "digital", "benchmark", digital.contrast),
    Corruption("elastic_transform", "digital", "benchmark", digital.elastic_transform),
    Corruption("pixelate", "digital", "benchmark", digital.pixelate),
    Corruption("jpeg_compression", "digital", "benchmark", digital.jpeg_compression),
    # the 4 validation corruptions
    Corruption("speckle_noise", "noise", "validation", noise.speckle_noise),
    Corruption("gaussian_blur", "blur", "validation", blur.gaussian_blur),
    Corruption("spatter", "weather", "validation", weather.spatter),
    Corruption("saturate", "digital", "validation", digital.saturate),
)

CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in _REGISTRY}
BENCHMARK_CORRUPTIONS: tuple[str, ...] = tuple(c.name for c in _REGISTRY if c.set == "benchmark")
VALIDATION_CORRUPTIONS: tuple[str, ...] = tuple(c.name for c in _REGISTRY if c.set == "validation")


def list_corruptions(pattern: str = "*", subset: str = "all") -> list[str]:
    """Names matching a glob ``pattern`` (e.g. ``"*blur"``), in registry order.

    ``subset`` is ``all``, ``benchmark``, ``validation`` or a family name.
    """
    valid = {"all", "benchmark", "validation", "noise", "blur", "weather", "digital"}
    if subset not in valid:
        raise ValueError(f"subset must be one of {sorted(valid)}, got {subset!r}")
    return [
        c.name
        for c in _REGISTRY
        if fnmatch.fnmatchcase(c.name, pattern) and subset in ("all", c.set, c.family)
    ]


def get_corruption(name: str) -> Corruption:
    """Registry row for ``name``; unknown names raise a ValueError listing close matches."""
    try:
        return CORRUPTIONS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(CORRUPTIONS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(CORRUPTIONS)}"
        raise ValueError(f"unknown corruption {name!r}{hint}") from None


def check_severity(severity: object) -> int:
    """Severity must be an int in 1..5 (bools and floats are refused, never rounded)."""
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)):
        raise ValueError(f"severity must be an integer in 1..5, got {severity!r}")
    if int(severity) not in SEVERITIES:
        raise ValueError(f"severity must be in 1..5, got {int(severity)}")
    return int(severity)


def check_seed(seed: object) -> int:
    """Seeds are what ``np.random.seed`` accepts: an int in [0, 2**32 - 1]."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2**32 - 1], got {seed!r}")
    if not 0 <= int(seed) <= 2**32 - 1:
        raise ValueError(f"seed must be in [0, 2**32 - 1], got {int(seed)}")
    return int(seed)


def check_image(image: object) -> np.ndarray:
    """Validate and normalise to a C-contiguous uint8 H×W×3 array, as the reference does.

    Grayscale (H×W or H×W×1) is stacked to three channels, exactly like imagecorruptions,
    whose output is then three-channel too.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8, got {image.dtype}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be H×W or H×W×C, got {image.ndim} dimensions (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] not in (1, 3):
        raise ValueError(f"image must have 1 or 3 channels, got {image.shape[2]} (shape {image.shape})")
    height, width = image.shape[:2]
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ValueError(f"image must be at least {MIN_SIDE}×{MIN_SIDE} pixels, got {height}×{width}")
    if image.ndim == 2:
        image = np.stack((image,) * 3, axis=-1)
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def make_rng(kind: str, seed: int) -> RNG:
    """A fresh, local generator: the global numpy RNG is never touched."""
    return np.random.default_rng(seed) if kind == "generator" else np.random.RandomState(seed)


#: Why ``seed`` has no default, in the error a call without one gets.
SEED_REQUIRED = ("corrupt() needs seed=: imagecorruptions draws from numpy's global random state, so its output "
                 "depends on whatever ran before; here the same seed always gives the same bytes "
                 "(imagecorruptions' output right after np.random.seed(seed))")


def corrupt(image: np.ndarray, name: str | None = None, severity: int = 1, seed: int | None = None, *,
            corruption_name: str | None = None, corruption_number: int | None = None) -> np.ndarray:
    """Corrupt ``image`` with corruption ``name`` at ``severity`` (1..5), reproducibly from ``seed``.

    Byte-identical to imagecorruptions 1.1.2's ``corrupt(image, corruption_name=name,
    severity=severity)`` called right after ``np.random.seed(seed)`` (with its three
    compatibility breaks mended; see docs/corruptions.md). Returns uint8 H×W×3.

    imagecorruptions' keywords work too: ``corrupt(image, corruption_name="fog", severity=3, seed=0)``
    or ``corruption_number=9`` (its order: :data:`CORRUPTIONS`). Only ``seed`` has no default: see
    :data:`SEED_REQUIRED`.
    """
    given = [v for v in (name, corruption_name, corruption_number) if v is not None]
    if not given:
        raise ValueError("corrupt() needs a corruption: name, corruption_name= or corruption_number= "
                         f"(known: {', '.join(CORRUPTIONS)})")
    if len(given) > 1:
        raise TypeError("corrupt() takes one of name, corruption_name= or corruption_number=, "
                        f"got {len(given)}")
    if corruption_number is not None:
        names = list(CORRUPTIONS)
        if isinstance(corruption_number, bool) or not isinstance(corruption_number, (int, np.integer)) \
                or not 0 <= int(corruption_number) < len(names):
            raise ValueError(f"corruption_number must be an integer in 0..{len(names) - 1} (imagecorruptions' "
                             f"order), got {corruption_number!r}")
        name = names[int(corruption_number)]
    elif corruption_name is not None:
        name = corruption_name
    if seed is None:
        raise ValueError(SEED_REQUIRED)
    spec = get_corruption(name)
    severity = check_severity(severity)
    seed = check_seed(seed)
    x = check_image(image)
    out = spec.fn(x, severity, make_rng(spec.rng, seed))
    # The reference ends with np.uint8(result): truncation of the clipped float values.
    return np.uint8(np.asarray(out))
