"""What the evaluator needs from a dataset, and nothing about models.

An ``EvalDataset`` owns its ground truth and scorer, the person instances a top-down model crops
(ground-truth boxes, detections, or annotated centres), the images a one-stage model runs on, and
the prediction file format ``score`` reads back. The evaluator (``robustpose_bench.evaluation``)
never branches on the dataset's name: adding a dataset is one class in one file of this package
plus its row in ``sources.DATASETS``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from ..errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from ..types import Instances, Persons, Predictions


@dataclass(frozen=True)
class Thresholds:
    """The post-processing thresholds of top-down COCO-style evaluation (HRNet's defaults)."""

    det: float = 0.0        # TEST.IMAGE_THRE: detections scoring below are not evaluated
    in_vis: float = 0.2     # TEST.IN_VIS_THRE: keypoints above it count in the rescoring
    oks_nms: float = 0.9    # TEST.OKS_THRE: per-image OKS-NMS

    def changed(self) -> list[str]:
        """Names of the thresholds that differ from HRNet's defaults (a non-standard run)."""
        d = Thresholds()
        return [k for k in ("det", "in_vis", "oks_nms") if getattr(self, k) != getattr(d, k)]


@dataclass
class EvalSource:
    """The clean images and the annotation file of one evaluation."""

    image_dir: Path
    ann_path: Path
    extra: dict[str, Any] = field(default_factory=dict)


class EvalDataset(ABC):
    """Base class: the dataset side of one evaluation (see the module docstring)."""

    name: ClassVar[str]
    keypoint_set: ClassVar[str]       # "coco" or "mpii": the spec's dataset_map entry
    scorer: ClassVar[str]             # the library / formula that scores it
    supports_onestage: ClassVar[bool] = False
    supports_boxes: ClassVar[bool] = False

    def __init__(self, source: EvalSource, thresholds: Thresholds = Thresholds()) -> None:
        self.source = source
        self.thresholds = thresholds

    # -- what to run
    @abstractmethod
    def topdown_instances(self, aspect_ratio: float, boxes: str) -> "Instances":
        ...

    def onestage_images(self) -> list[str]:
        raise UserError(f"{self.name} is scored per annotated person ({self.scorer}); one-stage models, which "
                        "find the persons themselves, can be evaluated on COCO-format datasets only")

    def use_images(self, images: str) -> None:
        """Score only some images ('with-keypoints', ultralytics' protocol); COCO-format sets only."""
        if images != "all":
            raise UserError(f"{self.name} is scored per annotated person ({self.scorer}); --images-with-keypoints "
                            "applies to COCO-format datasets only")

    # -- what to write and how to score it
    @abstractmethod
    def format_topdown(self, instances: "Instances", preds: "Predictions", boxes_xywh: Any = None) -> Any:
        """The prediction file's content; ``boxes_xywh`` (one per instance) are written as ``bbox``
        where the format has one."""

    def format_onestage(self, files: Sequence[str], persons: Sequence["Persons"], bbox: str | None = None) -> Any:
        raise UserError(f"{self.name} has no one-stage result format")

    @abstractmethod
    def score(self, payload: Any, source: str) -> dict[str, float | None]:
        ...

    @abstractmethod
    def scorer_provenance(self) -> dict[str, Any]:
        ...

    def counts(self) -> dict[str, int | None]:
        """How many images and annotated persons the scorer covers (the sample size), by the rule
        ``score`` records too (``metrics.scoring.count_evaluated``)."""
        from ..metrics.scoring import count_evaluated

        images, persons = count_evaluated(self.name, self.gt)
        return {"images": images, "persons": persons}
