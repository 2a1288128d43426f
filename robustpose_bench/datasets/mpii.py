"""MPII in HRNet's layout: ``ROOT/images`` + ``ROOT/annot/valid.json`` (+ ``gt_valid.mat`` for PCKh).

``valid.json`` is a list of person entries (``image``, ``center``, ``scale``, ``joints``,
``joints_vis``); several persons share an image, so the image list is the distinct ``image`` names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import topdown
from ..atomic import sha256_file
from ..errors import UserError
from ..types import Instances
from .base import EvalDataset, EvalSource, Thresholds
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


class MpiiEval(EvalDataset):
    """MPII validation in HRNet's layout, scored by HRNet's PCKh on ``gt_valid.mat``.

    One instance per ``valid.json`` entry, in its order (= gt_valid.mat's columns), cropped at the
    annotated centre and scale as HRNet's ``mpii.py``; predictions are a JSON list of 16x2 0-based
    pixel coordinates in that order.
    """

    name = "mpii-c"
    keypoint_set = "mpii"
    scorer = "hrnet-pckh"

    def __init__(self, source: EvalSource, thresholds: Thresholds = Thresholds()) -> None:
        from ..metrics.pckh import load_mpii_gt

        super().__init__(source, thresholds)
        entries = load_json(source.ann_path)
        if not isinstance(entries, list):
            raise UserError(f"{source.ann_path}: expected HRNet's MPII valid.json (a list of person entries)")
        self.entries = entries
        gt_path = Path(source.extra["gt_mat"])
        self.gt = load_mpii_gt(gt_path)
        if self.gt.num_persons != len(entries):
            raise UserError(f"{gt_path} has {self.gt.num_persons} persons but {source.ann_path} has {len(entries)} "
                            "entries; they must be the same persons in the same order")
        self.gt_path, self.gt_sha256 = gt_path, sha256_file(gt_path)

    @classmethod
    def open(cls, root=None, images=None, ann=None, gt_mat=None, thresholds: Thresholds = Thresholds(),
             **_: Any) -> "MpiiEval":
        from .sources import resolve_sources

        src = resolve_sources(cls.name, root=root, images=images, ann=ann)
        if gt_mat is None:
            gt_mat = src.ann_path.parent / "gt_valid.mat"
            if not gt_mat.is_file():
                raise UserError(f"mpii-c: no gt_valid.mat beside {src.ann_path}; pass --gt-mat FILE (HRNet's "
                                "annot/gt_valid.mat or a subset with the same columns as the annotation entries)")
        return cls(EvalSource(src.image_dir, src.ann_path, {"gt_mat": Path(gt_mat)}), thresholds)

    def topdown_instances(self, aspect_ratio: float, boxes: str):
        if boxes != "gt":
            raise UserError("mpii-c uses the annotated centre and scale of each person (as HRNet); "
                            "--boxes applies to COCO-format datasets only")
        files, cs, ss = [], [], []
        for i, e in enumerate(self.entries):
            try:
                c, s = topdown.mpii_center_scale(e["center"], float(e["scale"]), aspect_ratio)
                name = e["image"]
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{self.source.ann_path}: entry {i} needs 'image', 'center' [x, y] and 'scale'") from None
            files.append(name); cs.append(c); ss.append(s)
        return Instances(files, [None] * len(files), np.array(cs, np.float32), np.array(ss, np.float32),
                         np.ones(len(files)), {"source": "mpii-annotation", "sha256": sha256_file(self.source.ann_path)})

    def format_topdown(self, instances, preds, boxes_xywh=None) -> list:  # MPII's files hold coordinates only
        return preds.coords.tolist()

    def score(self, payload: Any, source: str) -> dict[str, float | None]:
        from ..metrics.pckh import pckh

        return pckh(self.gt, payload, one_based=False, source=source).metrics()

    def scorer_provenance(self) -> dict[str, Any]:
        return {"library": self.scorer, "annotations": {"path": str(self.gt_path), "sha256": self.gt_sha256}}
