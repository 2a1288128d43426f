"""OCHuman: ``ROOT/images`` + ``ROOT/annotations/ochuman_coco_format_{val,test}_range_0.00_1.00.json``.

The annotations are COCO format, so the image list is read like COCO's. ``val`` is the default
split (as in the AdvMix paper); ``test`` on request (``--split test``).
"""
from __future__ import annotations

from .coco import CocoEval, coco_image_files

IMAGE_DIR = {"val": "images", "test": "images"}
ANNOTATION = {
    "val": "annotations/ochuman_coco_format_val_range_0.00_1.00.json",
    "test": "annotations/ochuman_coco_format_test_range_0.00_1.00.json",
}
DEFAULT_SPLIT = "val"
DOWNLOAD_HINT = (
    "download images.tar.gz and the COCO-format annotations from "
    "https://github.com/liruilong940607/OCHumanApi"
)

image_files = coco_image_files


class OchumanEval(CocoEval):
    """OCHuman: COCO-format annotations; every person is heavily occluded. Scored like COCO (see
    ``metrics/coco.py`` for why pycocotools gives exactly mmpose's xtcocotools numbers)."""

    name = "ochuman-c"

