"""Reading evaluation images: as HRNet does, so keypoints land on the annotated pixel grid."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError


def max_pixels() -> int:
    """The most pixels an image may have: the limit ``build`` applies (Pillow refuses a decompression
    bomb above twice ``Image.MAX_IMAGE_PIXELS``, 179 megapixels by default)."""
    from PIL import Image

    return 2 * int(Image.MAX_IMAGE_PIXELS or 0) or 2**62


def _check_pixels(path: Path) -> None:
    """Refuse an image larger than ``max_pixels`` from its header alone, before decoding it: eval
    decoded a 256-megapixel image (GBs) that build refuses (issue 19)."""
    from PIL import Image

    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:  # reads the header only
                w, h = im.size
    except Image.DecompressionBombError:
        raise UserError(f"image {path} is larger than {max_pixels():,} pixels (a decompression bomb?); "
                        "build refuses it too") from None
    except Exception:  # noqa: BLE001 - not an image Pillow knows: OpenCV says what is wrong below
        return
    if w * h > max_pixels():
        raise UserError(f"image {path} has {w}x{h} = {w * h:,} pixels, more than {max_pixels():,} (a decompression "
                        "bomb?); build refuses it too")


def read_image_bgr(path: Path, expected_sha256: str | None = None) -> np.ndarray:
    """cv2 decode, 3 channels, EXIF orientation ignored (annotations use the stored pixel grid).

    Kept in OpenCV's BGR order: the channel order is fixed on the small crop or letterboxed input
    instead of converting the whole image.
    """
    _check_pixels(path)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    if expected_sha256 is not None:
        # a built image: checked against the build's manifest, then decoded from the same bytes (the same
        # decoder as imread), so what is scored is what the manifest certifies
        import hashlib

        try:
            data = Path(path).read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() != expected_sha256:
            raise UserError(f"{path} differs from the build's manifest (its sha256 is not the one recorded): the "
                            "build was changed after it was written; run `robustpose-bench verify` and rebuild")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    else:
        img = cv2.imread(str(path), flags)
    if img is None:
        raise UserError(f"cannot read image {path} (missing or not an image)")
    return img


def read_image_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(read_image_bgr(path), cv2.COLOR_BGR2RGB)


#: ``topdown.preprocess`` takes RGB pixels; ours are BGR, so the model's order is passed swapped.
SWAP_ORDER = {"RGB": "BGR", "BGR": "RGB"}
