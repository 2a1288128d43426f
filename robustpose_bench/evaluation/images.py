"""Reading evaluation images: as HRNet does, so keypoints land on the annotated pixel grid."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError


def read_image_bgr(path: Path) -> np.ndarray:
    """cv2 decode, 3 channels, EXIF orientation ignored (annotations use the stored pixel grid).

    Kept in OpenCV's BGR order: the channel order is fixed on the small crop or letterboxed input
    instead of converting the whole image.
    """
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise UserError(f"cannot read image {path} (missing or not an image)")
    return img


def read_image_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(read_image_bgr(path), cv2.COLOR_BGR2RGB)


#: ``topdown.preprocess`` takes RGB pixels; ours are BGR, so the model's order is passed swapped.
SWAP_ORDER = {"RGB": "BGR", "BGR": "RGB"}
