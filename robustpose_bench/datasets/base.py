"""What the evaluator needs from a dataset, and nothing about models.

An ``EvalDataset`` owns its ground truth and scorer, the person instances a top-down model crops
(ground-truth boxes, detections, or annotated centres), the images a one-stage model runs on, and
the prediction file format ``score`` reads back. The evaluator (``robustpose_bench.evaluation``)
and ``score`` never branch on the dataset's name: what makes a dataset is its card (``cards.py``),
and each card ``format`` has one adapter class (``sources.ADAPTERS``). Adding a dataset in a known
format is one card file and a manifest; a new format is one class in one file of this package.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from ..errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from ..types import Instances, Persons, Predictions
    from .cards import DatasetCard


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

    supports_onestage: ClassVar[bool] = False
    supports_boxes: ClassVar[bool] = False
    #: the prediction file names a condition folder may hold (``score``), the first preferred
    prediction_files: ClassVar[tuple[str, ...]] = ("results.json",)

    def __init__(self, card: "DatasetCard", source: EvalSource, thresholds: Thresholds = Thresholds()) -> None:
        self.card = card
        self.source = source
        self.thresholds = thresholds

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def keypoint_set(self) -> str:
        """The keypoint set's name: the model spec's ``keypoints.dataset_map`` key."""
        return self.card.keypoint_set

    @property
    def scorer(self) -> str:
        """The reference library (or formula) that scores it, as results.json records it."""
        return self.card.library

    @classmethod
    @abstractmethod
    def open(cls, card: "DatasetCard", thresholds: Thresholds = Thresholds(), **source: Any) -> "EvalDataset":
        """The adapter on the clean source (``root``, ``images``, ``ann``, ``gt_mat``, ``data``)."""

    @classmethod
    @abstractmethod
    def for_scoring(cls, card: "DatasetCard", ann: Path) -> "EvalDataset":
        """The adapter holding only the ground truth ``ann`` (``score``: no images needed)."""

    @staticmethod
    @abstractmethod
    def count_gt(gt: Any) -> tuple[int | None, int]:
        """(images, persons) the scorer covers in ``gt``: the sample size of a run."""

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
    def read_predictions(self, path: Path) -> Any:
        """A prediction file (one of ``prediction_files``) as the payload ``score`` takes."""

    @abstractmethod
    def score(self, payload: Any, source: str) -> dict[str, float | None]:
        ...

    @abstractmethod
    def scorer_provenance(self) -> dict[str, Any]:
        ...

    def counts(self) -> dict[str, int | None]:
        """How many images and annotated persons the scorer covers (the sample size), by the rule
        ``score`` records too (``count_gt``)."""
        images, persons = self.count_gt(self.gt)
        return {"images": images, "persons": persons}
