"""COCO-style keypoint AP / AR through the reference ``COCOeval`` itself.

We never re-implement OKS matching: the numbers must be the ones pycocotools / xtcocotools print.
Which library scores which dataset is its card's ``scorer`` (``datasets/cards.py``; docs/results.md):

- ``pycocotools``: ``COCOeval(gt, dt, "keypoints")`` with ``params.kpt_oks_sigmas`` set to the card's
  sigmas, the official COCO keypoint evaluation that HRNet's ``coco.py`` calls. COCO-C, synth-C,
  OCHuman-C and a user's own COCO-format dataset. The shipped COCO card's sigmas are pycocotools'
  own floats, bit for bit, so COCO-C scores exactly as before.
- OCHuman: mmpose scores it with xtcocotools ``COCOeval(gt, dt, "keypoints", sigmas, use_area=True)``
  and ``params.useSegm = None``; with COCO's 17 sigmas (mmpose's OCHuman sigmas, from Pose2Seg, are the
  same numbers) and OCHuman's annotated areas, that computes exactly what pycocotools computes, and the
  test suite checks the two agree on the real OCHuman sample. ``library="xtcocotools"`` stays
  available for that cross-check. OCHuman's mask RLEs store ``size`` as a string; keypoint evaluation
  never decodes masks.
- ``xtcocotools-crowd`` (CrowdPose): xtcocotools ``COCOeval(gt, dt, "keypoints_crowd", sigmas,
  use_area=False)`` as mmpose's ``CocoMetric`` runs it, with AP easy / medium / hard from the images'
  ``crowdIndex``. xtcocotools 1.14.3's wheels are built against numpy 1.x: rebuild it from source
  (docs/results.md); without it the scorer says so in one line, never falls back.

Both libraries print to stdout; every call into them runs under ``redirect_stdout`` so library code
stays silent.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import UserError, shown
from ..jsonfile import read_json

# COCO-17 OKS sigmas (pycocotools ``Params.kpt_oks_sigmas``; mmpose's OCHuman sigmas are identical).
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
) / 10.0

# ``COCOeval.stats`` order for keypoints (pycocotools ``_summarizeKps``), named as in our rows.
STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
# xtcocotools ``_summarizeKps_crowd`` (CrowdPose's protocol; mmpose's names 'AP .5', 'AP(E)', ...).
CROWD_STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP(E)", "AP(M)", "AP(H)")
IOU_TYPES = ("keypoints", "keypoints_crowd")

LIBRARIES = ("pycocotools", "xtcocotools")


def _library_for_dataset() -> dict[str, str]:
    from ..datasets.cards import registry

    return {name: card.library for name, card in registry().items() if card.coco_format}


#: Which reference library scores each registered COCO-format dataset: its card's (the module docstring).
LIBRARY_FOR_DATASET: dict[str, str] = _library_for_dataset()


def _quiet():
    """Swallow the libraries' progress prints (no stdout noise from library code)."""
    return contextlib.redirect_stdout(io.StringIO())


def _library(library: str):
    """(COCO, COCOeval) classes of ``library``; a clear one-line error when it cannot load."""
    if library == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    elif library == "xtcocotools":
        try:
            from xtcocotools.coco import COCO
            from xtcocotools.cocoeval import COCOeval
        except ModuleNotFoundError as exc:
            raise UserError(
                f"xtcocotools is not installed ({exc}); this dataset is scored by it: pip install xtcocotools "
                "(built against the installed numpy: pip install --no-binary xtcocotools --no-build-isolation xtcocotools)"
            ) from exc
        except (ImportError, ValueError) as exc:  # ValueError: a wheel built against numpy 1.x
            raise UserError(
                f"xtcocotools cannot be imported ({exc}); rebuild it against the installed numpy: "
                "pip install --no-binary xtcocotools --no-build-isolation --force-reinstall xtcocotools"
            ) from exc
    else:
        raise UserError(f"unknown COCO library {library!r}; expected one of {', '.join(LIBRARIES)}")
    return COCO, COCOeval


def load_coco_gt(ann: str | os.PathLike | Mapping, library: str = "pycocotools"):
    """Load a COCO-format keypoint annotation file (or an already parsed dict) with ``library``.

    The JSON is parsed once here, checked for the fields keypoint evaluation needs, and handed to the
    library's own ``COCO`` index so it behaves exactly as ``COCO(annotation_file)`` would.
    """
    COCO, _ = _library(library)
    source = "annotations"
    if isinstance(ann, Mapping):
        data = dict(ann)
    else:
        source = str(ann)
        data = read_json(Path(ann), "annotation file")
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a COCO annotation object, got {type(data).__name__}")
    for field in ("images", "annotations", "categories"):
        if not isinstance(data.get(field), list):
            raise UserError(f"{source}: field '{field}' missing or not a list (not a COCO keypoint file)")
    with _quiet():
        if library == "xtcocotools":
            # xtcocotools' constructor also fills a missing 'iscrowd' with False; keep that behaviour.
            gt = COCO(annotation_file=source, ann_data=data)
        else:
            gt = COCO()
            gt.dataset = data
            gt.createIndex()
    return gt


def _num_keypoints(gt) -> int:
    """The ground truth's keypoint count: its category's keypoint names, else its first annotation's
    triples, else COCO's 17."""
    names = [c.get("keypoints") for c in gt.dataset["categories"] if c.get("keypoints")]
    if names:
        return len(names[0])
    kps = next((a["keypoints"] for a in gt.dataset["annotations"] if isinstance(a.get("keypoints"), list)), None)
    return len(kps) // 3 if kps else len(COCO_SIGMAS)


def validate_predictions(predictions: Any, gt, source: str = "predictions") -> list[dict]:
    """Check a COCO keypoint results list against ``gt``; return a deep copy safe for ``loadRes``.

    ``loadRes`` mutates its input (adds id/area/bbox) and only ``assert``s image ids; we give one-line
    errors instead: unknown image ids, unknown categories, wrong keypoint length, non-finite values.
    """
    if not isinstance(predictions, list):
        raise UserError(f"{source}: expected a JSON list of COCO keypoint results, got {type(predictions).__name__}")
    k = _num_keypoints(gt)
    img_ids = set(gt.getImgIds())
    cat_ids = set(gt.getCatIds())
    out: list[dict] = []
    unknown_imgs: set = set()
    for i, p in enumerate(predictions):
        if not isinstance(p, dict):
            raise UserError(f"{source}: entry {i} is not an object")
        for field in ("image_id", "category_id", "keypoints", "score"):
            if field not in p:
                raise UserError(f"{source}: entry {i} has no '{field}'")
        if isinstance(p["image_id"], bool) or not isinstance(p["image_id"], (int, str)):
            raise UserError(f"{source}: entry {i} has image_id {p['image_id']!r}; expected an integer id")
        if p["image_id"] not in img_ids:
            unknown_imgs.add(p["image_id"])
            continue
        if p["category_id"] not in cat_ids:
            raise UserError(f"{source}: entry {i} has category_id {p['category_id']!r}, not in the ground truth {sorted(cat_ids)}")
        kp = p["keypoints"]
        if not isinstance(kp, list) or len(kp) != 3 * k:
            raise UserError(f"{source}: entry {i} 'keypoints' must be a list of {3 * k} numbers (x, y, v per keypoint)")
        try:
            arr = np.asarray(kp, dtype=np.float64)
            score = float(p["score"])
        except (TypeError, ValueError) as exc:
            raise UserError(f"{source}: entry {i} has non-numeric keypoints or score") from exc
        if not np.all(np.isfinite(arr)) or not math.isfinite(score):
            raise UserError(f"{source}: entry {i} has NaN or infinite keypoints or score")
        q = dict(p)
        q["keypoints"] = [float(v) for v in kp]
        q["score"] = score
        if "bbox" in q:
            q["bbox"] = _check_bbox(q["bbox"], f"{source}: entry {i}")
        out.append(q)
    with_bbox = sum("bbox" in q for q in out)
    if 0 < with_bbox < len(out):
        # loadRes looks at the first entry only: a missing bbox later is a KeyError, an extra one is ignored
        first = next(i for i, q in enumerate(out) if ("bbox" in q) != ("bbox" in out[0]))
        raise UserError(f"{source}: entry {first} {'has no' if 'bbox' in out[0] else 'has a'} 'bbox' but entry 0 "
                        f"{'has one' if 'bbox' in out[0] else 'has none'}; give every entry a bbox, or none")
    if unknown_imgs:
        listed = ", ".join(repr(x) for x in sorted(unknown_imgs, key=str)[:10])
        more = f" (+{len(unknown_imgs) - 10} more)" if len(unknown_imgs) > 10 else ""
        raise UserError(
            f"{source}: {len(unknown_imgs)} image_id(s) not in the ground truth: {listed}{more}"
        )
    return out


def _check_bbox(bbox: Any, where: str) -> list[float]:
    """An optional prediction box: [x, y, width, height], four finite numbers (loadRes trusts it)."""
    ok = (isinstance(bbox, list) and len(bbox) == 4
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox))
    if not ok:
        raise UserError(f"{where} has 'bbox' {shown(bbox)}; expected [x, y, width, height], four finite numbers")
    return [float(v) for v in bbox]


def keypoint_image_ids(gt) -> list:
    """Ids of the images holding a person COCOeval scores (non-crowd, category 1, num_keypoints > 0),
    in ``getImgIds`` order: the 2,346 of val2017's 5,000 that ultralytics' coco-pose.yaml evaluates."""
    with_kp = {a["image_id"] for a in gt.dataset["annotations"]
               if not a.get("iscrowd", 0) and a.get("category_id", 1) == 1 and a.get("num_keypoints", 0) > 0}
    return [i for i in gt.getImgIds() if i in with_kp]


def keypoint_ap(
    ann,
    predictions: Sequence[Mapping] | Iterable[Mapping],
    library: str = "pycocotools",
    source: str = "predictions",
    img_ids: Sequence | None = None,
    sigmas: Sequence[float] | None = None,
    iou_type: str = "keypoints",
) -> dict[str, float]:
    """AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM, ARL of ``predictions`` against ``ann``.

    ``sigmas``: the dataset's OKS sigmas, one per keypoint (its card's), set as pycocotools'
    ``params.kpt_oks_sigmas`` / xtcocotools' ``sigmas``; default COCO's 17. ``iou_type``
    'keypoints_crowd' (xtcocotools only) is CrowdPose's protocol: ``use_area=False`` and the rows
    AP, AP50, AP75, AR, AR50, AR75, AP(E), AP(M), AP(H) (``CROWD_STAT_NAMES``); its ground truth must be
    loaded from its file (xtcocotools re-reads it for the crowd-index split).

    ``ann`` is an annotation path, a parsed dict, or a ``COCO`` object from :func:`load_coco_gt`
    (pass the object when scoring many conditions: the index is built once). Values are exactly
    ``COCOeval.stats`` (fractions in [0, 1]; -1 where the ground truth has no person in that area
    range, as the library reports). Empty predictions score 0 (the library cannot load an empty list,
    so an empty result set is built directly). ``img_ids``: score only these images
    (``params.imgIds``, as ultralytics does); default every ground-truth image, as HRNet and mmpose.
    A ``bbox`` on the predictions gives each person its area (``loadRes``), which decides APM and APL.
    """
    if iou_type not in IOU_TYPES or (iou_type == "keypoints_crowd" and library != "xtcocotools"):
        raise UserError(f"iou_type {iou_type!r}: expected 'keypoints', or 'keypoints_crowd' with xtcocotools")
    COCO, COCOeval = _library(library)
    gt = ann if hasattr(ann, "getImgIds") else load_coco_gt(ann, library)
    if isinstance(predictions, (tuple, Iterator)):
        predictions = list(predictions)  # anything else that is not a list is reported, not coerced
    preds = validate_predictions(predictions, gt, source)
    k = _num_keypoints(gt)
    sig = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    if len(sig) != k:
        raise UserError(f"{source}: the ground truth has {k} keypoints but {len(sig)} OKS sigmas were given")
    with _quiet():
        if preds:
            dt = gt.loadRes(preds)
        else:
            dt = COCO()
            dt.dataset = {
                "images": list(gt.dataset["images"]),
                "categories": list(gt.dataset["categories"]),
                "annotations": [],
            }
            dt.createIndex()
        if library == "xtcocotools":
            ev = COCOeval(gt, dt, iou_type, sig, use_area=iou_type == "keypoints")
            ev.params.useSegm = None
            if iou_type == "keypoints_crowd":
                # the crowd split reads (gt file, results) from here; loadRes appends the results to the
                # ground truth's own list once, which must not keep the first condition's predictions
                ev.anno_file = [gt.anno_file[0], None]
                del gt.anno_file[1:]
        else:
            ev = COCOeval(gt, dt, "keypoints")
            ev.params.kpt_oks_sigmas = sig
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = CROWD_STAT_NAMES if iou_type == "keypoints_crowd" else STAT_NAMES
    return {name: float(v) for name, v in zip(names, ev.stats)}
