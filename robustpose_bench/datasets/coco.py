"""COCO val2017 (person keypoints): ``ROOT/val2017`` + ``ROOT/annotations/person_keypoints_val2017.json``.

The image list is every image the annotation file lists (all 5,000 val2017 images, as in the
paper), not only those with people: the -C sets are built from the full split.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..jsonfile import read_json

IMAGE_DIR = {"val2017": "val2017"}
ANNOTATION = {"val2017": "annotations/person_keypoints_val2017.json"}
DEFAULT_SPLIT = "val2017"
DOWNLOAD_HINT = "get it with `robustpose-bench download coco --root DIR`"


def load_json(path: Path) -> object:
    """Parse an annotation file, turning a malformed file into a one-line UserError."""
    return read_json(path, "annotation file")


def coco_image_files(ann_path: Path) -> list[str]:
    """``file_name`` of every entry in a COCO-format ``images`` list (shared with OCHuman and synth)."""
    data = load_json(ann_path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise UserError(f"{ann_path}: expected a COCO-format object with an 'images' list")
    names = []
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
            raise UserError(f"{ann_path}: images[{i}] has no string 'file_name'")
        names.append(img["file_name"])
    return names


image_files = coco_image_files
