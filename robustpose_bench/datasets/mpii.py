"""MPII in HRNet's layout (card format ``mpii-hrnet``): ``ROOT/images`` + ``ROOT/annot/valid.json``
(+ ``gt_valid.mat`` for PCKh); the paths are the card's (``dataset_cards/mpii-c.json``).

``valid.json`` is a list of person entries (``image``, ``center``, ``scale``, ``joints``,
``joints_vis``); several persons share an image, so the image list is the distinct ``image`` names.
Prediction files: a JSON list of 16x2 0-based pixel coordinates per ground-truth person, in
gt_valid.mat order (HRNet's ``preds`` before its ``+ 1``), or ``pred.mat`` whose ``preds`` is HRNet's
saved (N, 16, 2) array, already 1-based.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import topdown
from ..atomic import sha256_file
from ..errors import UserError
from ..jsonfile import read_json
from ..types import Instances
from .base import EvalDataset, EvalSource, Thresholds
from .coco import load_json

if TYPE_CHECKING:  # pragma: no cover
    from .cards import DatasetCard

#: HRNet's pred.mat: the one prediction file that is not JSON
MAT_FILE = "pred.mat"


@dataclass(frozen=True)
class MatPredictions:
    """``preds`` of HRNet's pred.mat: (N, 16, 2), 1-based (saved after HRNet's ``+ 1``)."""

    preds: np.ndarray


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

    prediction_files = ("results.json", MAT_FILE)

    def __init__(self, card: "DatasetCard", source: EvalSource, thresholds: Thresholds = Thresholds(),
                 entries: list | None = None) -> None:
        from ..metrics.pckh import load_mpii_gt

        super().__init__(card, source, thresholds)
        gt_path = Path(source.extra["gt_mat"])
        self.gt = load_mpii_gt(gt_path)
        self.entries = entries
        if entries is None and source.ann_path != gt_path:
            entries = load_json(source.ann_path)
            if not isinstance(entries, list):
                raise UserError(f"{source.ann_path}: expected HRNet's MPII valid.json (a list of person entries)")
            if self.gt.num_persons != len(entries):
                raise UserError(f"{gt_path} has {self.gt.num_persons} persons but {source.ann_path} has {len(entries)} "
                                "entries; they must be the same persons in the same order")
            self.entries = entries
        self.gt_path, self.gt_sha256 = gt_path, sha256_file(gt_path)

    @classmethod
    def for_scoring(cls, card: "DatasetCard", ann: Path) -> "MpiiEval":
        return cls(card, EvalSource(ann.parent, ann, {"gt_mat": ann}))

    @staticmethod
    def count_gt(gt) -> tuple[int | None, int]:
        """The persons of ``gt_valid.mat``; it holds no image names, so the number of images is None."""
        return None, int(gt.num_persons)

    @classmethod
    def open(cls, card: "DatasetCard", root=None, images=None, ann=None, gt_mat=None,
             thresholds: Thresholds = Thresholds(), **_: Any) -> "MpiiEval":
        from .sources import resolve_sources

        src = resolve_sources(card, root=root, images=images, ann=ann)
        if gt_mat is None:
            gt_mat = src.ann_path.parent / "gt_valid.mat"
            if not gt_mat.is_file():
                raise UserError(f"{card.name}: no gt_valid.mat beside {src.ann_path}; pass --gt-mat FILE (HRNet's "
                                "annot/gt_valid.mat or a subset with the same columns as the annotation entries)")
        return cls(card, EvalSource(src.image_dir, src.ann_path, {"gt_mat": Path(gt_mat)}), thresholds)

    def topdown_instances(self, aspect_ratio: float, boxes: str):
        if self.entries is None:
            raise UserError(f"{self.name}: opened for scoring only (no annotation entries to crop)")
        if boxes != "gt":
            raise UserError(f"{self.name} uses the annotated centre and scale of each person (as HRNet); "
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

    def format_topdown(self, instances, preds, boxes_xywh=None) -> list:
        """MPII's files hold coordinates only; a joint the model lacks (NaN) is written null."""
        absent = np.isnan(preds.coords).any(axis=2)
        return [[None if a else xy for xy, a in zip(person, miss)]
                for person, miss in zip(preds.coords.tolist(), absent.tolist())]

    def read_predictions(self, path: Path) -> Any:
        if path.suffix == ".mat":
            from scipy.io import loadmat

            try:
                mat = loadmat(str(path))
            except Exception as exc:
                raise UserError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
            if "preds" not in mat:
                raise UserError(f"{path}: field 'preds' missing (expected HRNet's pred.mat)")
            return MatPredictions(np.asarray(mat["preds"], dtype=np.float64))
        data = read_json(path, "predictions file")
        if not isinstance(data, list):
            raise UserError(f"{path}: expected a JSON list of 16x2 joint lists, one per ground-truth person")
        return data

    def score(self, payload: Any, source: str) -> dict[str, float | None]:
        from ..metrics.pckh import pckh

        if isinstance(payload, MatPredictions):  # HRNet saves preds after its +1
            return pckh(self.gt, payload.preds, one_based=True, source=source).metrics()
        return pckh(self.gt, payload, one_based=False, source=source).metrics()

    def scorer_provenance(self) -> dict[str, Any]:
        return {"library": self.scorer, "annotations": {"path": str(self.gt_path), "sha256": self.gt_sha256}}
