"""COCO-format keypoint datasets: COCO val2017, OCHuman, CrowdPose, synth, and any user's own.

The layout, keypoints, sigmas and scorer come from the dataset's card (``cards.py``); this adapter
only knows the COCO annotation format.

Building: the image list is every image the annotation file lists (all 5,000 val2017 images, as in
the paper), not only those with people: the -C sets are built from the full split.

Evaluating (``CocoEval``): HRNet's ground-truth boxes or person detections for top-down models
(rescoring and OKS-NMS with the card's sigmas, as HRNet's ``coco.py``), every image for one-stage
models, COCO keypoint results JSON, and the card's scorer: pycocotools' ``COCOeval`` with the card's
sigmas, or xtcocotools' ``COCOeval(..., 'keypoints_crowd')`` as mmpose scores CrowdPose.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .. import topdown
from ..boxes import ultralytics_json_bbox
from ..atomic import sha256_file
from ..errors import UserError
from ..jsonfile import read_json
from ..types import Instances
from .base import EvalDataset, EvalSource, Thresholds

if TYPE_CHECKING:  # pragma: no cover
    from .cards import DatasetCard

#: Which images are scored (``CocoEval.use_images``).
IMAGE_SETS = ("all", "with-keypoints")


def load_json(path: Path) -> object:
    """Parse an annotation file, turning a malformed file into a one-line UserError."""
    return read_json(path, "annotation file")


def coco_image_files(ann_path: Path, data: Any = None) -> list[str]:
    """``file_name`` of every entry in a COCO-format ``images`` list (``data``: the file, already parsed)."""
    data = load_json(ann_path) if data is None else data
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise UserError(f"{ann_path}: expected a COCO-format object with an 'images' list")
    names = []
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
            raise UserError(f"{ann_path}: images[{i}] has no string 'file_name'")
        names.append(img["file_name"])
    return names



# ----------------------------------------------------------------------------------------------
# evaluation: COCO-format keypoint datasets (COCO, OCHuman, CrowdPose, a user's own; synth subclasses it)

def _gt_instances(ann: dict, aspect_ratio: float):
    """HRNet's GT boxes (coco.py ``_load_coco_keypoint_annotation_kernal``).

    Per image, in the annotation's image order: non-crowd person annotations with at least one
    labelled keypoint, boxes clipped to the image and dropped when empty; box score 1.
    """
    by_img: dict[Any, list[dict]] = {}
    for a in ann["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    files, ids, cs, ss, bs, ms = [], [], [], [], [], []
    for img in ann["images"]:
        for a in by_img.get(img["id"], []):
            if a.get("iscrowd", 0) or a.get("category_id", 1) != 1:
                continue
            if not a.get("keypoints") or max(a["keypoints"]) == 0:
                continue
            box = topdown.clean_gt_box(a["bbox"], a.get("area", 1.0), img["width"], img["height"])
            if box is None:
                continue
            c, s = topdown.box_to_center_scale(box, aspect_ratio)
            files.append(img["file_name"]); ids.append(img["id"]); cs.append(c); ss.append(s); bs.append(box)
            ms.append(topdown.mmpose_gt_box(a["bbox"], img["width"], img["height"]))
    if not files:
        raise UserError("the annotation file has no person with labelled keypoints: nothing to evaluate")
    return Instances(files, ids, np.array(cs, np.float32), np.array(ss, np.float32),
                     np.ones(len(files)), {"source": "gt", "sha256": None}, np.array(bs, np.float64),
                     np.array(ms, np.float32).reshape(-1, 4))


coco_gt_instances = _gt_instances


def load_detections(path: str | os.PathLike) -> list[dict]:
    """A detection file in the format of HRNet's ``COCO_val2017_detections_AP_H_56_person.json``."""
    p = Path(path)
    dets = read_json(p, "detection file")
    if not isinstance(dets, list):
        raise UserError(f"{p}: expected a JSON list of detections (image_id, category_id, bbox, score)")
    for i, d in enumerate(dets):
        if not isinstance(d, dict) or not all(k in d for k in ("image_id", "category_id", "bbox", "score")):
            raise UserError(f"{p}: entry {i} needs image_id, category_id, bbox [x,y,w,h] and score")
        b = d["bbox"]
        if not isinstance(b, list) or len(b) != 4 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in b):
            raise UserError(f"{p}: entry {i} bbox must be [x, y, w, h] numbers, got {b!r}")
        if isinstance(d["score"], bool) or not isinstance(d["score"], (int, float)):
            raise UserError(f"{p}: entry {i} score must be a number, got {d['score']!r}")
    return dets


def coco_det_instances(ann: dict, det_path: str | os.PathLike, aspect_ratio: float, image_thre: float = 0.0):
    """HRNet's ``_load_coco_person_detection_results``: person detections with score >= image_thre (0.0).

    Detections of images that are not in the annotation file are skipped (a full val2017 detection
    file can score a subset); if none is left that is an error. The box source is recorded by file
    name and sha256, never by absolute path.
    """
    images = {img["id"]: img for img in ann["images"]}
    dets = load_detections(det_path)
    files, ids, cs, ss, sc, bs, ms = [], [], [], [], [], [], []
    skipped = 0
    for d in dets:
        if d["category_id"] != 1 or d["score"] < image_thre:
            continue
        img = images.get(d["image_id"])
        if img is None:
            skipped += 1
            continue
        c, s = topdown.box_to_center_scale(d["bbox"], aspect_ratio)
        files.append(img["file_name"]); ids.append(d["image_id"]); cs.append(c); ss.append(s)
        sc.append(float(d["score"])); bs.append(d["bbox"]); ms.append(topdown.mmpose_detection_box(d["bbox"]))
    if not files:
        raise UserError(f"{det_path}: no person detection (category_id 1) for any image of the annotation file")
    return Instances(files, ids, np.array(cs, np.float32), np.array(ss, np.float32), np.array(sc),
                     {"source": Path(det_path).name, "sha256": sha256_file(det_path), "detections": len(files),
                      "skipped_other_images": skipped, "image_thre": image_thre}, np.array(bs, np.float64),
                     np.array(ms, np.float32).reshape(-1, 4))


def topdown_results(instances, preds, oks_thre: float = topdown.OKS_THRE, in_vis_thre: float = topdown.IN_VIS_THRE,
                    category_id: int = 1, boxes_xywh: np.ndarray | None = None,
                    sigmas: Sequence[float] | None = None) -> list[dict]:
    """HRNet's COCO post-processing: rescoring, per-image OKS-NMS, then COCO results entries.

    ``sigmas``: the dataset's OKS sigmas for the NMS (its card's; default COCO's 17).

    ``boxes_xywh``: each instance's input box, written as ``bbox`` (mmpose's protocol): pycocotools'
    ``loadRes`` then takes the person's area (APM, APL) from it instead of from the keypoints' extent.
    """
    n = len(instances)
    kpts = np.concatenate([preds.coords, preds.scores[..., None]], axis=2)  # (N, K, 3)
    new_scores = topdown.rescore(instances.box_scores, preds.scores, in_vis_thre)
    areas = instances.areas
    nms_sigmas = topdown.COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    by_img: dict[Any, list[int]] = {}
    for i in range(n):
        by_img.setdefault(instances.image_ids[i], []).append(i)
    out: list[dict] = []
    for img_id, idx in by_img.items():
        ia = np.asarray(idx)
        keep = topdown.oks_nms(kpts[ia], new_scores[ia], areas[ia], oks_thre, sigmas=nms_sigmas)
        chosen = ia[keep] if keep else ia
        for j in chosen:
            entry = {"image_id": img_id, "category_id": category_id,
                     "keypoints": [float(v) for v in kpts[j].reshape(-1)],
                     "score": float(new_scores[j])}
            if boxes_xywh is not None:
                entry["bbox"] = [float(v) for v in boxes_xywh[j]]
            out.append(entry)
    return out


#: How each one-stage reference writes a person's box into its COCO results (``bbox`` protocol 'model').
BBOX_WRITERS = {
    # ultralytics PoseValidator.pred_to_json: float32 xyxy2xywh, centre to corner, round(x, 3)
    "ultralytics": ultralytics_json_bbox,
    # mmpose CocoMetric: bbox_xyxy2xywh of the back-mapped box, in its dtype, ``.tolist()``
    "mmpose": lambda b: topdown.xyxy_to_xywh(np.asarray(b).reshape(-1, 4)).tolist(),
}


def keypoint_extent_bbox(keypoints: np.ndarray) -> list[list[float]]:
    """HigherHRNet's ``bbox`` (``COCODataset._coco_keypoint_results_one_category_kernel``): the extent
    of all the person's keypoints, ``[min x, min y, max x - min x, max y - min y]`` in float64."""
    k = np.asarray(keypoints, dtype=np.float64)
    lo, hi = k.min(axis=1), k.max(axis=1)
    return np.concatenate([lo, hi - lo], axis=1).tolist()


def onestage_results(image_ids: Sequence[Any], persons: Sequence[Any], category_id: int = 1,
                     bbox: str | None = None) -> list[dict]:
    """Every predicted person of every image as a COCO result: keypoints (x, y, keypoint score) and
    the person score. No rescoring and no OKS-NMS: one-stage models are scored as they are (mmpose's
    ``score_mode='bbox'``, ``nms_mode='none'`` for RTMO; ultralytics' COCO JSON for YOLO-pose).

    ``bbox``: write the model's box as that reference does (a key of ``BBOX_WRITERS``), the keypoints'
    extent (``"keypoints"``, HigherHRNet), or none."""
    out: list[dict] = []
    for img_id, p in zip(image_ids, persons):
        kpts = np.concatenate([p.keypoints, p.keypoint_scores[..., None]], axis=2)
        boxes = None
        if bbox is not None and len(p):
            boxes = keypoint_extent_bbox(p.keypoints) if bbox == "keypoints" else BBOX_WRITERS[bbox](p.boxes)
        for j in range(len(p)):
            entry = {"image_id": img_id, "category_id": category_id,
                     "keypoints": [float(v) for v in kpts[j].reshape(-1)], "score": float(p.scores[j])}
            if boxes is not None:
                entry["bbox"] = [float(v) for v in boxes[j]]
            out.append(entry)
    return out


class CocoEval(EvalDataset):
    """A COCO-format keypoint dataset, scored by its card's scorer (pycocotools ``COCOeval(gt, dt,
    "keypoints")`` with the card's sigmas, or xtcocotools ``keypoints_crowd``)."""

    supports_onestage = True
    supports_boxes = True

    def __init__(self, card: "DatasetCard", source: EvalSource, thresholds: Thresholds = Thresholds()) -> None:
        from ..metrics.coco import load_coco_gt
        from .cards import check_annotation_keypoints

        super().__init__(card, source, thresholds)
        ann = load_json(source.ann_path)
        if not isinstance(ann, dict) or not isinstance(ann.get("annotations"), list) \
                or not isinstance(ann.get("images"), list):
            raise UserError(f"{source.ann_path}: expected a COCO-format keypoint annotation object")
        check_annotation_keypoints(card, ann, str(source.ann_path))
        self.ann = ann
        self.library = card.library
        self.iou_type = "keypoints_crowd" if card.scorer == "xtcocotools-crowd" else "keypoints"
        if self.iou_type == "keypoints_crowd":
            _check_crowd_fields(ann, source.ann_path)
            # xtcocotools splits the images by crowdIndex re-reading the file it was loaded from
            self.gt = load_coco_gt(source.ann_path, self.library)
        else:
            self.gt = load_coco_gt(ann, self.library)
        self.ann_sha256 = sha256_file(source.ann_path)
        self.images = "all"
        self.img_ids: list | None = None  # None: every image of the annotation file is scored

    @classmethod
    def for_scoring(cls, card: "DatasetCard", ann: Path) -> "CocoEval":
        return cls(card, EvalSource(ann.parent, ann))

    def use_images(self, images: str) -> None:
        """Which images are predicted and scored: 'all' (HRNet, mmpose, the paper) or 'with-keypoints'
        (ultralytics' coco-pose.yaml: only images holding a person with keypoints)."""
        from ..metrics.coco import keypoint_image_ids  # the rule `score --images-with-keypoints` uses too

        if images not in IMAGE_SETS:
            raise UserError(f"images must be one of {', '.join(IMAGE_SETS)}, got {images!r}")
        if images != "all" and self.iou_type == "keypoints_crowd":
            raise UserError(f"--images-with-keypoints: {self.name} is scored by xtcocotools keypoints_crowd, whose "
                            "easy / medium / hard split covers every image; it applies to COCOeval 'keypoints' only")
        self.images = images
        self.img_ids = keypoint_image_ids(self.gt) if images == "with-keypoints" else None
        self._img_set = set(self.img_ids or ())

    def _scored(self, image_id: Any) -> bool:
        return self.img_ids is None or image_id in self._img_set

    @staticmethod
    def count_gt(gt) -> tuple[int | None, int]:
        """Every ground-truth image counts (the scorers evaluate all of them) and a person is a non-crowd
        annotation of category 1 with num_keypoints > 0, the ones COCOeval scores."""
        persons = sum(1 for a in gt.dataset["annotations"]
                      if not a.get("iscrowd", 0) and a.get("category_id", 1) == 1 and a.get("num_keypoints", 0) > 0)
        return len(gt.getImgIds()), persons

    def counts(self) -> dict[str, int | None]:
        counts = super().counts()
        if self.img_ids is not None:
            counts["images"] = len(self.img_ids)  # every scored person lies in one of these images
        return counts

    @classmethod
    def open(cls, card: "DatasetCard", root=None, images=None, ann=None, thresholds: Thresholds = Thresholds(),
             **_: Any) -> "CocoEval":
        from .sources import resolve_sources

        src = resolve_sources(card, root=root, images=images, ann=ann)
        return cls(card, EvalSource(src.image_dir, src.ann_path), thresholds)

    def topdown_instances(self, aspect_ratio: float, boxes: str):
        if boxes == "gt":
            inst = _gt_instances(self.ann, aspect_ratio)
            inst.source = {"source": "gt", "sha256": self.ann_sha256}
        else:
            inst = coco_det_instances(self.ann, boxes, aspect_ratio, self.thresholds.det)
        if self.img_ids is not None:
            inst = inst.take([i for i, img in enumerate(inst.image_ids) if self._scored(img)])
        return inst

    def onestage_images(self) -> list[str]:
        return [img["file_name"] for img in self.ann["images"] if self._scored(img["id"])]

    def format_topdown(self, instances, preds, boxes_xywh: np.ndarray | None = None) -> list[dict]:
        return topdown_results(instances, preds, self.thresholds.oks_nms, self.thresholds.in_vis,
                               boxes_xywh=boxes_xywh, sigmas=self.card.sigmas)

    def format_onestage(self, files: Sequence[str], persons: Sequence[Any], bbox: str | None = None) -> list[dict]:
        by_name = {img["file_name"]: img["id"] for img in self.ann["images"]}
        return onestage_results([by_name[f] for f in files], persons, bbox=bbox)

    def read_predictions(self, path: Path) -> Any:
        return read_json(path, "predictions file")

    def score(self, payload: Any, source: str) -> dict[str, float | None]:
        from ..metrics.coco import keypoint_ap

        return keypoint_ap(self.gt, payload, library=self.library, source=source, img_ids=self.img_ids,
                           sigmas=self.card.sigmas, iou_type=self.iou_type)

    def scorer_provenance(self) -> dict[str, Any]:
        prov: dict[str, Any] = {"library": self.scorer,
                                "annotations": {"path": str(self.source.ann_path), "sha256": self.ann_sha256}}
        if self.iou_type != "keypoints":
            prov["iou_type"] = self.iou_type
        return prov


def _check_crowd_fields(ann: Mapping, path: Path) -> None:
    """xtcocotools' keypoints_crowd reads each image's ``crowdIndex`` and each person's ``num_keypoints``
    without checking them: a missing one is a one-line error here, not a KeyError there."""
    for i, img in enumerate(ann["images"]):
        v = img.get("crowdIndex") if isinstance(img, Mapping) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UserError(f"{path}: field images[{i}].crowdIndex: missing or not a number (CrowdPose's crowd "
                            "index decides the easy / medium / hard split)")
    for i, a in enumerate(ann["annotations"]):
        v = a.get("num_keypoints") if isinstance(a, Mapping) else None
        if isinstance(v, bool) or not isinstance(v, int):
            raise UserError(f"{path}: field annotations[{i}].num_keypoints: missing or not an integer "
                            "(keypoints_crowd ignores persons with none)")
