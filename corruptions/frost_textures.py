"""The six frost texture images of imagecorruptions 1.1.2, found and decoded once per process.

The textures are data files of the ``imagecorruptions`` distribution. Importing that package fails
on current stacks (it needs ``pkg_resources`` and old skimage/numpy names), so the files are found
through the installed distribution's metadata instead, and decoded exactly as the reference does
(``cv2.imread`` with default flags: 8-bit BGR).
"""
from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

import cv2
import numpy as np

DISTRIBUTION = "imagecorruptions"
# The reference's list, in its order (frost/frost1.png ... frost/frost6.jpg).
FROST_FILES: tuple[str, ...] = (
    "frost1.png",
    "frost2.png",
    "frost3.png",
    "frost4.jpg",
    "frost5.jpg",
    "frost6.jpg",
)
_INSTALL_HINT = f"install it with: pip install {DISTRIBUTION}==1.1.2 (only its frost images are used)"


def frost_texture_path(index: int) -> Path:
    """Path of texture ``index`` (0-based into ``FROST_FILES``) inside the installed distribution."""
    relative = f"imagecorruptions/frost/{FROST_FILES[index]}"
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"frost texture {relative} not found: the {DISTRIBUTION} distribution is not installed; "
            f"{_INSTALL_HINT}"
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise FileNotFoundError(
            f"frost texture {relative} is missing from the installed {DISTRIBUTION} distribution "
            f"(looked at {path}); reinstall it with: pip install --force-reinstall {DISTRIBUTION}==1.1.2"
        )
    return path


@functools.lru_cache(maxsize=None)
def frost_texture(index: int) -> np.ndarray:
    """Decoded BGR uint8 texture ``index``, read-only (cached: six small images per process)."""
    path = frost_texture_path(index)
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"frost texture {path} could not be decoded by cv2.imread")
    image.setflags(write=False)
    return image


@functools.lru_cache(maxsize=64)
def resized_frost_rgb(index: int, width: int, height: int) -> np.ndarray:
    """Texture ``index`` resized to ``width``×``height`` with bicubic interpolation, RGB order.

    Exactly the reference's ``cv2.resize(frost, dsize=(width, height), interpolation=INTER_CUBIC)``
    followed by its ``[..., [2, 1, 0]]`` channel swap (which commutes with its random crop). Cached
    because a benchmark corrupts many images of the same few sizes; read-only.
    """
    resized = cv2.resize(frost_texture(index), dsize=(width, height), interpolation=cv2.INTER_CUBIC)
    rgb = np.ascontiguousarray(resized[..., ::-1])
    rgb.setflags(write=False)
    return rgb
