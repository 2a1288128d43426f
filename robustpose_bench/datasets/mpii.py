"""MPII in HRNet's layout: ``ROOT/images`` + ``ROOT/annot/valid.json`` (+ ``gt_valid.mat`` for PCKh).

``valid.json`` is a list of person entries (``image``, ``center``, ``scale``, ``joints``,
``joints_vis``); several persons share an image, so the image list is the distinct ``image`` names.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .coco import load_json

IMAGE_DIR = {"valid": "images"}
ANNOTATION = {"valid": "annot/valid.json"}
DEFAULT_SPLIT = "valid"
DOWNLOAD_HINT = (
    "download mpii_human_pose_v1.tar.gz from http://human-pose.mpi-inf.mpg.de/ and HRNet's "
    "annot/{valid.json,gt_valid.mat} (https://github.com/leoxiaobin/deep-high-resolution-net.pytorch)"
)


def image_files(ann_path: Path) -> list[str]:
    data = load_json(ann_path)
    if not isinstance(data, list):
        raise UserError(f"{ann_path}: expected HRNet's MPII layout, a JSON list of person entries")
    names = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise UserError(f"{ann_path}: entry [{i}] has no string 'image'")
        names.append(entry["image"])
    return names
