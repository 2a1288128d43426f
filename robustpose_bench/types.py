"""The data types that datasets, evaluation, codecs, builder and metrics share, in one leaf module.

They sit here, importing nothing of the package but ``topdown``'s geometry constants, so that
``datasets`` (which makes ``Instances`` and formats ``Predictions`` / ``Persons``) and
``evaluation`` / ``codecs`` (which fill them) no longer import each other in circles.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import topdown


@dataclass
class Instances:
    """The person crops to predict, in a fixed order that every condition shares.

    ``files`` are the source image file names (relative to the image folder).
    """

    files: list[str]
    image_ids: list[Any]
    centers: np.ndarray           # (N, 2) float32
    scales: np.ndarray            # (N, 2) float32, units of 200 px
    box_scores: np.ndarray        # (N,) float64
    source: dict[str, Any] = field(default_factory=dict)  # box provenance: {"source", "sha256", ...}
    boxes: np.ndarray | None = None  # (N, 4) the xywh boxes (float64) the centres came from; None for MPII
    #: (N, 4) float32 corners of each box as mmpose holds it (``gt_instances.bboxes``): ground truth
    #: clipped by mmpose's rule, detections through ``bbox_xywh2xyxy``; None for MPII
    mmpose_boxes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.files)

    @property
    def areas(self) -> np.ndarray:
        """HRNet's ``np.prod(s * 200, 1)``: the padded box area, used by OKS-NMS."""
        return np.prod(self.scales.astype(np.float64) * topdown.PIXEL_STD, axis=1)

    @property
    def from_gt(self) -> bool:
        return self.source.get("source") == "gt"

    def input_boxes_xywh(self, crop: str) -> np.ndarray:
        """The box each crop was made from, as the crop's reference writes it into its results.

        mmpose (``crop: mmpose``): ``bbox_xyxy2xywh`` of its float32 corners; HRNet's crop: the
        (cleaned) xywh box. Only COCO-style instances have boxes.
        """
        if crop == "mmpose" and self.mmpose_boxes is not None:
            return topdown.xyxy_to_xywh(self.mmpose_boxes)
        if self.boxes is None:
            raise ValueError("these instances have no boxes (annotated centres and scales)")
        return self.boxes

    def take(self, idx) -> "Instances":
        """The instances at ``idx``, in that order (the box provenance is kept)."""
        i = np.asarray(idx, dtype=np.int64)
        pick = (lambda a: None if a is None else a[i])
        return Instances([self.files[j] for j in i], [self.image_ids[j] for j in i], self.centers[i],
                         self.scales[i], self.box_scores[i], dict(self.source), pick(self.boxes),
                         pick(self.mmpose_boxes))

    def groups(self) -> tuple[list[str], list[np.ndarray]]:
        """Distinct image files in first-appearance order, and the instance indices of each."""
        order: dict[str, list[int]] = {}
        for i, f in enumerate(self.files):
            order.setdefault(f, []).append(i)
        return list(order), [np.asarray(v, dtype=np.int64) for v in order.values()]


@dataclass
class Predictions:
    """Per instance: (N, K, 2) image coordinates and (N, K) scores, in the dataset's keypoints."""

    coords: np.ndarray
    scores: np.ndarray



@dataclass
class Persons:
    """One image's predicted persons, in image pixels and the model's keypoint order."""

    boxes: np.ndarray            # (P, 4) x1, y1, x2, y2 (NaN when the model gives none)
    scores: np.ndarray           # (P,) person score
    keypoints: np.ndarray        # (P, K, 2)
    keypoint_scores: np.ndarray  # (P, K)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, num_keypoints: int) -> "Persons":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, num_keypoints, 2), np.float32), np.zeros((0, num_keypoints), np.float32))

    def take(self, idx: np.ndarray) -> "Persons":
        return Persons(self.boxes[idx], self.scores[idx], self.keypoints[idx], self.keypoint_scores[idx])
