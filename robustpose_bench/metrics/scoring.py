"""Score prediction files per condition into keyed rows: the engine behind ``score`` (and ``eval``).

Prediction layout (what ``eval`` writes and ``score`` reads)::

    PRED/clean/results.json
    PRED/<corruption>/<severity 1..5>/results.json

COCO, OCHuman and synth: COCO keypoint results JSON (a list of {image_id, category_id, keypoints,
score}). MPII: a JSON list with one 16x2 list per ground-truth person, in gt_valid.mat order, in
0-based pixel coordinates (HRNet's ``preds`` before its ``+ 1``); or ``pred.mat`` whose ``preds`` is
HRNet's saved (N, 16, 2) array, already 1-based.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..atomic import sha256_file
from ..errors import UserError
from ..jsonfile import read_json
from .coco import LIBRARY_FOR_DATASET, keypoint_ap, keypoint_image_ids, load_coco_gt
from .pckh import load_mpii_gt, pckh
from .robustness import CLEAN, CLEAN_SEVERITY, SEVERITIES, make_row

DATASETS: tuple[str, ...] = ("coco-c", "mpii-c", "ochuman-c", "synth-c")
# Standard ground-truth paths under --root (synth-c: what robustpose_bench.synth generates).
STANDARD_ANNOTATIONS: dict[str, str] = {
    "coco-c": "annotations/person_keypoints_val2017.json",
    "synth-c": "annotations/person_keypoints_synth.json",
    "ochuman-c": "annotations/ochuman_coco_format_val_range_0.00_1.00.json",
    "mpii-c": "annot/gt_valid.mat",
}
PREDICTION_FILE = "results.json"
MPII_MAT_FILE = "pred.mat"


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")


def resolve_annotations(dataset: str, root: str | os.PathLike | None = None,
                        ann: str | os.PathLike | None = None) -> Path:
    """The ground-truth file: ``ann`` if given, else the standard path under ``root``."""
    _check_dataset(dataset)
    if (root is None) == (ann is None):
        raise UserError("give exactly one of --root DIR or --ann FILE")
    path = Path(ann) if ann is not None else Path(root) / STANDARD_ANNOTATIONS[dataset]
    if not path.is_file():
        hint = "" if ann is not None else f" (the standard {dataset} layout; pass --ann FILE otherwise)"
        raise UserError(f"annotation file not found: {path}{hint}")
    return path


def load_ground_truth(dataset: str, ann: str | os.PathLike):
    """A pycocotools/xtcocotools ``COCO`` index, or an ``MPIIGroundTruth``."""
    _check_dataset(dataset)
    if dataset == "mpii-c":
        return load_mpii_gt(ann)
    return load_coco_gt(ann, LIBRARY_FOR_DATASET[dataset])


@lru_cache(maxsize=2)
def _cached_ground_truth(dataset: str, ann: str, mtime_ns: int, size: int):
    return load_ground_truth(dataset, ann)


def cached_ground_truth(dataset: str, ann: str | os.PathLike):
    """``load_ground_truth`` memoised per process (worker processes load it once each)."""
    st = os.stat(ann)
    return _cached_ground_truth(dataset, str(ann), st.st_mtime_ns, st.st_size)


def read_predictions(dataset: str, path: str | os.PathLike) -> tuple[Any, bool]:
    """(predictions, one_based) from a prediction file; one_based only matters for MPII."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prediction file not found: {path}")
    if dataset == "mpii-c" and path.suffix == ".mat":
        from scipy.io import loadmat

        try:
            mat = loadmat(str(path))
        except Exception as exc:
            raise UserError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
        if "preds" not in mat:
            raise UserError(f"{path}: field 'preds' missing (expected HRNet's pred.mat)")
        return np.asarray(mat["preds"], dtype=np.float64), True  # HRNet saves preds after its +1
    data = read_json(path, "predictions file")
    if dataset == "mpii-c" and not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of 16x2 joint lists, one per ground-truth person")
    return data, False


#: Which images are scored: every image (HRNet, mmpose, the paper) or ultralytics' images with keypoints.
IMAGE_SETS = ("all", "with-keypoints")


def scored_image_ids(dataset: str, gt, images: str = "all") -> list | None:
    """The image ids COCOeval scores: None for every image, or (``with-keypoints``, ultralytics'
    coco-pose protocol) those holding a scored person, by the rule ``eval --images-with-keypoints``
    uses (``coco.keypoint_image_ids``)."""
    check_image_set(dataset, images)
    return None if images == "all" else keypoint_image_ids(gt)


def check_image_set(dataset: str, images: str) -> None:
    """Refuse an unknown image set, and 'with-keypoints' where no image is scored as such (MPII)."""
    _check_dataset(dataset)
    if images not in IMAGE_SETS:
        raise UserError(f"images must be one of {', '.join(IMAGE_SETS)}, got {images!r}")
    if images != "all" and dataset == "mpii-c":
        raise UserError("mpii-c is scored per annotated person (hrnet-pckh); --images-with-keypoints applies to "
                        "COCO-format datasets only")


def score_predictions(dataset: str, gt, predictions: Any, one_based: bool = False,
                      source: str = "predictions", images: str = "all") -> dict[str, float | None]:
    """Every metric of one condition: AP..ARL for COCO-style sets, PCKh (+ groups, joints) for MPII.
    ``images``: 'all', or 'with-keypoints' (``scored_image_ids``)."""
    _check_dataset(dataset)
    img_ids = scored_image_ids(dataset, gt, images)
    if dataset == "mpii-c":
        return pckh(gt, predictions, one_based=one_based, source=source).metrics()
    return keypoint_ap(gt, predictions, library=LIBRARY_FOR_DATASET[dataset], source=source, img_ids=img_ids)


def condition_rows(dataset: str, corruption: str, severity: int, metrics: dict[str, float | None]) -> list[dict]:
    """Keyed rows of one condition (clean: corruption 'clean', severity 0)."""
    return [make_row(dataset, corruption, severity, m, v) for m, v in metrics.items()]


def _prediction_file(folder: Path, dataset: str) -> Path:
    js, mat = folder / PREDICTION_FILE, folder / MPII_MAT_FILE
    if dataset == "mpii-c" and mat.is_file():
        if js.is_file():
            raise UserError(f"{folder}: both {PREDICTION_FILE} and {MPII_MAT_FILE}; keep one")
        return mat
    if not js.is_file():
        extra = f" (or {MPII_MAT_FILE})" if dataset == "mpii-c" else ""
        raise UserError(f"prediction file missing: {js}{extra}")
    return js


def discover_conditions(pred_dir: str | os.PathLike, dataset: str) -> list[tuple[str, int, Path]]:
    """(corruption, severity, file) for every condition under ``pred_dir``, clean first.

    Folders must be ``clean`` or a corruption name holding severity folders ``1``..``5``; anything
    else is an error rather than silently skipped. Plain files at the top are ignored.
    """
    from corruptions import CORRUPTIONS

    root = Path(pred_dir)
    if not root.is_dir():
        raise UserError(f"predictions folder not found: {root}")
    found: list[tuple[str, int, Path]] = []
    order = {name: i for i, name in enumerate(CORRUPTIONS)}
    for entry in sorted(root.iterdir(), key=lambda p: (p.name != CLEAN, order.get(p.name, 99), p.name)):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        if entry.name == CLEAN:
            found.append((CLEAN, CLEAN_SEVERITY, _prediction_file(entry, dataset)))
            continue
        if entry.name not in CORRUPTIONS:
            raise UserError(f"{entry}: not 'clean' nor a corruption name (see `robustpose-bench list corruptions`)")
        for sev in sorted(entry.iterdir(), key=lambda p: p.name):
            if not sev.is_dir() or sev.name.startswith("."):
                continue
            if sev.name not in {str(s) for s in SEVERITIES}:
                raise UserError(f"{sev}: severity folders are 1..5 (an AdvMix-layout 0..4 tree must be renamed)")
            found.append((entry.name, int(sev.name), _prediction_file(sev, dataset)))
    if not found:
        raise UserError(f"{root}: no prediction folders (expected clean/{PREDICTION_FILE} and <corruption>/<severity>/{PREDICTION_FILE})")
    return found


def _score_one(dataset: str, ann: str, corruption: str, severity: int, path: str,
               images: str = "all") -> tuple[list[dict], str]:
    from ..determinism import inject_jitter

    inject_jitter()  # the determinism tests' delay hook; a no-op otherwise
    gt = cached_ground_truth(dataset, ann)
    preds, one_based = read_predictions(dataset, path)
    metrics = score_predictions(dataset, gt, preds, one_based=one_based, source=path, images=images)
    return condition_rows(dataset, corruption, severity, metrics), sha256_file(path)


def score_prediction_dir(dataset: str, pred_dir: str | os.PathLike, ann: str | os.PathLike,
                         jobs: int = 1, progress: bool = True,
                         images: str = "all") -> tuple[list[dict], dict[str, str]]:
    """Keyed rows for every condition under ``pred_dir`` and the sha256 of each prediction file.

    ``images``: 'all' (every ground-truth image) or 'with-keypoints' (``scored_image_ids``).

    ``jobs`` > 1 scores conditions in joblib worker processes (COCOeval is single-threaded Python);
    each worker loads the ground truth once. A tqdm bar with ETA goes to stderr.
    """
    from joblib import Parallel, delayed
    from ..progress import progress_bar

    from ..evaluation.store import check_single_run

    conditions = discover_conditions(pred_dir, dataset)
    # files of one run only: a folder that mixes two models' or box sources' predictions is refused
    check_single_run(pred_dir, [CLEAN if c == CLEAN else f"{c}/{s}" for c, s, _ in conditions])
    ann = str(ann)
    check_image_set(dataset, images)  # refused before any work
    tasks = (delayed(_score_one)(dataset, ann, c, s, str(p), images) for c, s, p in conditions)
    if jobs == 1:
        results: Iterator = (_score_one(dataset, ann, c, s, str(p), images) for c, s, p in conditions)
    else:
        results = Parallel(n_jobs=jobs, return_as="generator")(tasks)
    rows: list[dict] = []
    files: dict[str, str] = {}
    with progress_bar(total=len(conditions), desc=f"score {dataset}", unit="cond", enabled=progress) as bar:
        for (c, s, _), (cond_rows, sha) in zip(conditions, results):
            rows.extend(cond_rows)
            files[CLEAN if c == CLEAN else f"{c}/{s}"] = sha
            bar.update()
    return rows, files


def count_evaluated(dataset: str, gt) -> tuple[int | None, int]:
    """(num_images, num_persons) that scoring against ``gt`` covers: the sample size of a run.

    Recorded in results.json (``provenance.data``) so that a 4-image run is never mistaken for the
    5,000-image benchmark. COCO-style sets: every ground-truth image counts (the scorers evaluate all
    of them) and a person is a non-crowd annotation with at least one labelled keypoint (COCOeval
    ignores the others). MPII: the persons of ``gt_valid.mat``; it holds no image names, so the number
    of images is None.
    """
    _check_dataset(dataset)
    if dataset == "mpii-c":
        return None, int(gt.num_persons)
    # The same rule as the evaluator's datasets (``CocoDataset.counts``): a person is a non-crowd
    # annotation of category 1 with num_keypoints > 0, the ones COCOeval scores.
    persons = sum(1 for a in gt.dataset["annotations"]
                  if not a.get("iscrowd", 0) and a.get("category_id", 1) == 1 and a.get("num_keypoints", 0) > 0)
    return len(gt.getImgIds()), persons


def summary_line(summary: dict, percent_factor: float) -> str:
    """'AP clean 71.2  mPC 45.0  rPC 63.2': the one-line summary the CLI prints."""
    def f(v: float | None, k: float) -> str:
        return "n/a" if v is None else f"{v * k:.1f}"

    from ..vocabulary import partial_joints_text

    extra = " (partial)" if summary.get("partial") else ""
    if summary.get("joints"):  # PCKh over the joints the model has, never to be read as a full PCKh
        extra += f" ({partial_joints_text(summary['joints'])})"
    return (f"{summary['metric']} clean {f(summary['clean'], percent_factor)}  "
            f"mPC {f(summary['mPC'], percent_factor)}  rPC {f(summary['rPC'], 1)}{extra}")


__all__: Sequence[str] = (
    "DATASETS", "STANDARD_ANNOTATIONS", "IMAGE_SETS", "resolve_annotations", "load_ground_truth", "read_predictions",
    "scored_image_ids", "check_image_set",
    "score_predictions", "condition_rows", "discover_conditions", "score_prediction_dir", "count_evaluated",
    "summary_line",
)
