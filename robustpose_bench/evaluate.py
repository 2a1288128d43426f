"""The evaluation driver: a model, a dataset and its built -C conditions -> predictions and results.json.

For every condition (clean, then each built corruption x severity) the same person instances are
predicted: ground-truth boxes or detections made on the *clean* images (reused for every corrupted
condition, as in the paper), or MPII's annotated centre and scale. Per condition the predictions are
written where ``score`` reads them (``PRED/clean/results.json``, ``PRED/<corruption>/<severity>/results.json``)
and scored by ``robustpose_bench.metrics``; the keyed rows go into ``results.json`` through
``robustpose_bench.results.make_results``.

Throughput: image decoding, warping and preprocessing of upcoming images run in a thread pool
(OpenCV and numpy release the GIL) while the model runs on the current batch, and the decoding of
finished batches goes back to the pool. Models with a fixed batch size are fed one crop at a time by
``LoadedModel.infer``; the overlap still hides the image work.
"""
from __future__ import annotations

import os
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from .atomic import atomic_write_json, sha256_file
from .errors import UserError
from .jsonfile import read_json
from .models.loader import LoadedModel
from . import topdown

#: Which keypoint set each dataset is scored on (OCHuman and synth use the COCO-17 keypoints).
KEYPOINT_SET: dict[str, str] = {"coco-c": "coco", "ochuman-c": "coco", "synth-c": "coco", "mpii-c": "mpii"}
CLEAN = "clean"
SEVERITIES = (1, 2, 3, 4, 5)
POST_PROCESSING = ("default", "dark", "none")
_SWAP = {"RGB": "BGR", "BGR": "RGB"}  # preprocess() reads crops as RGB; ours are BGR


# ----------------------------------------------------------------------------------------------
# person instances


@dataclass
class Instances:
    """The person crops to predict, in a fixed order that every condition shares.

    ``files`` are the source image file names (relative to the image folder); ``groups`` lists the
    instance indices of each distinct image, in first-appearance order.
    """

    files: list[str]
    image_ids: list[Any]
    centers: np.ndarray           # (N, 2) float32
    scales: np.ndarray            # (N, 2) float32, units of 200 px
    box_scores: np.ndarray        # (N,) float64
    source: dict[str, Any] = field(default_factory=dict)  # box provenance: {"source", "sha256", ...}

    def __len__(self) -> int:
        return len(self.files)

    @property
    def areas(self) -> np.ndarray:
        """HRNet's ``np.prod(s * 200, 1)``: the padded box area, used by OKS-NMS."""
        return np.prod(self.scales.astype(np.float64) * topdown.PIXEL_STD, axis=1)

    def groups(self) -> tuple[list[str], list[np.ndarray]]:
        order: dict[str, list[int]] = {}
        for i, f in enumerate(self.files):
            order.setdefault(f, []).append(i)
        return list(order), [np.asarray(v, dtype=np.int64) for v in order.values()]


def _coco_images(ann: dict) -> dict[Any, dict]:
    return {img["id"]: img for img in ann["images"]}


def coco_gt_instances(ann: dict, aspect_ratio: float) -> Instances:
    """HRNet's GT boxes (coco.py ``_load_coco_keypoint_annotation_kernal``).

    Per image, in the annotation's image order: non-crowd person annotations with at least one
    labelled keypoint, boxes clipped to the image and dropped when empty; box score 1.
    """
    by_img: dict[Any, list[dict]] = {}
    for a in ann["annotations"]:
        by_img.setdefault(a["image_id"], []).append(a)
    files, ids, cs, ss = [], [], [], []
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
            files.append(img["file_name"]); ids.append(img["id"]); cs.append(c); ss.append(s)
    if not files:
        raise UserError("the annotation file has no person with labelled keypoints: nothing to evaluate")
    return Instances(files, ids, np.array(cs, np.float32), np.array(ss, np.float32),
                     np.ones(len(files)), {"source": "gt", "sha256": None})


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
        if not isinstance(b, list) or len(b) != 4 or not all(isinstance(v, (int, float)) for v in b):
            raise UserError(f"{p}: entry {i} bbox must be [x, y, w, h] numbers, got {b!r}")
    return dets


def coco_det_instances(ann: dict, det_path: str | os.PathLike, aspect_ratio: float,
                       image_thre: float = 0.0) -> Instances:
    """HRNet's ``_load_coco_person_detection_results``: person detections with score >= image_thre (0.0).

    Detections of images that are not in the annotation file are skipped (a full val2017 detection
    file can score a subset); if none is left that is an error.
    """
    images = _coco_images(ann)
    dets = load_detections(det_path)
    files, ids, cs, ss, sc = [], [], [], [], []
    skipped = 0
    for d in dets:
        if d["category_id"] != 1:
            continue
        if d["score"] < image_thre:
            continue
        img = images.get(d["image_id"])
        if img is None:
            skipped += 1
            continue
        c, s = topdown.box_to_center_scale(d["bbox"], aspect_ratio)
        files.append(img["file_name"]); ids.append(d["image_id"]); cs.append(c); ss.append(s)
        sc.append(float(d["score"]))
    if not files:
        raise UserError(f"{det_path}: no person detection (category_id 1) for any image of the annotation file")
    return Instances(files, ids, np.array(cs, np.float32), np.array(ss, np.float32), np.array(sc),
                     {"source": str(det_path), "sha256": sha256_file(det_path), "detections": len(files),
                      "skipped_other_images": skipped, "image_thre": image_thre})


def mpii_instances(entries: list[dict], aspect_ratio: float) -> Instances:
    """One instance per entry of HRNet's ``valid.json``, in its order (= gt_valid.mat's columns)."""
    files, cs, ss = [], [], []
    for i, e in enumerate(entries):
        try:
            c, s = topdown.mpii_center_scale(e["center"], float(e["scale"]), aspect_ratio)
        except (KeyError, TypeError, ValueError):
            raise UserError(f"MPII annotation entry {i} needs 'image', 'center' [x, y] and 'scale'") from None
        files.append(e["image"]); cs.append(c); ss.append(s)
    return Instances(files, [None] * len(files), np.array(cs, np.float32), np.array(ss, np.float32),
                     np.ones(len(files)), {"source": "mpii-annotation", "sha256": None})


# ----------------------------------------------------------------------------------------------
# prediction pipeline


def read_image_bgr(path: Path) -> np.ndarray:
    """cv2 decode as HRNet does (EXIF orientation ignored: annotations use the stored pixel grid).

    Kept in OpenCV's BGR order: the warp is per channel, so the channel order is fixed on the small
    crop (``preprocess``) instead of converting the whole image.
    """
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise UserError(f"cannot read image {path} (missing or not an image)")
    return img


def read_image_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(read_image_bgr(path), cv2.COLOR_BGR2RGB)


def flip_input(x: np.ndarray, layout: str) -> np.ndarray:
    """Mirror preprocessed inputs left-right (HRNet flips the normalised tensor, np.flip(x, 3))."""
    return np.ascontiguousarray(x[..., ::-1] if layout == "NCHW" else x[:, :, ::-1])


@dataclass
class Predictions:
    """Per instance: (N, K, 2) image coordinates and (N, K) scores, in the dataset's keypoints."""

    coords: np.ndarray
    scores: np.ndarray


def predict(
    model: LoadedModel,
    instances: Instances,
    image_path: Callable[[str], Path],
    kp_set: str,
    *,
    flip: bool = True,
    batch: int = 32,
    post: str = "default",
    workers: int | None = None,
    prefetch: int | None = None,
    progress: bool | str = False,
) -> Predictions:
    """Predict every instance, reading image ``f`` from ``image_path(f)``.

    Images are loaded, warped and preprocessed in ``workers`` threads, up to ``prefetch`` images ahead
    of the model; finished batches are decoded in the same pool.
    """
    spec = model.spec
    if post not in POST_PROCESSING:
        raise UserError(f"post-processing must be one of {', '.join(POST_PROCESSING)}, got {post!r}")
    if batch < 1:
        raise UserError(f"--batch must be at least 1, got {batch}")
    ds_idx = np.asarray(spec.dataset_indices(kp_set), dtype=np.int64)
    perm = spec.flip_permutation()
    W, H = spec.input.width, spec.input.height
    inp, out_spec = spec.input, spec.output
    n = len(instances)
    # float32 like HRNet's all_preds: the written coordinates are the float32 values HRNet would write
    coords = np.zeros((n, spec.keypoints.num, 2), np.float32)
    scores = np.zeros((n, spec.keypoints.num), np.float32)
    files, groups = instances.groups()
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    prefetch = prefetch or max(4, 2 * workers)

    def load(gi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        idx = groups[gi]
        img = read_image_bgr(image_path(files[gi]))
        crops = np.stack([topdown.warp_crop(img, instances.centers[j], instances.scales[j], (W, H)) for j in idx])
        # crops are BGR: preprocess with the order reversed gives the model's channel order
        x = topdown.preprocess(crops, inp.layout, inp.dtype, _SWAP[inp.channel_order], inp.mean, inp.std)
        return idx, x, (flip_input(x, inp.layout) if flip else None)

    def decode(idx: np.ndarray, out: np.ndarray, out_f: np.ndarray | None) -> None:
        if out_spec.kind == "heatmaps":
            hm = topdown.to_nkhw(out, out_spec.layout)
            if out_f is not None:
                hm = (hm + topdown.flip_back(topdown.to_nkhw(out_f, out_spec.layout), perm)) * 0.5
            xy, sc = topdown.decode_heatmaps(hm, post)
            size = (hm.shape[3], hm.shape[2])
        else:
            args = (spec.keypoints.num, out_spec.values_per_keypoint, out_spec.coords, out_spec.order,
                    out_spec.score_index, out_spec.score_activation, (W, H))
            xy, sc = topdown.decode_keypoint_output(out, *args)
            if out_f is not None:
                xyf, scf = topdown.unflip_keypoints(*topdown.decode_keypoint_output(out_f, *args), perm, W)
                xy, sc = (xy + xyf) * 0.5, (sc + scf) * 0.5
            size = (W, H)
        for r, j in enumerate(idx):
            coords[j] = topdown.transform_preds(xy[r], instances.centers[j], instances.scales[j], size)
        scores[idx] = sc

    from tqdm import tqdm

    desc = progress if isinstance(progress, str) else "predict"
    bar = tqdm(total=n, desc=desc, unit="crop", file=sys.stderr, disable=not progress, leave=False)
    decodes: list[Future] = []
    buf: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    buffered = 0

    def flush(final: bool = False) -> None:
        """Run full batches from the buffer (and the rest when ``final``); keep a partial batch for later."""
        nonlocal buf, buffered
        if not buf:
            return
        idx_all = np.concatenate([b[0] for b in buf])
        x_all = np.concatenate([b[1] for b in buf])
        xf_all = np.concatenate([b[2] for b in buf]) if flip else None
        k = 0
        while k < len(idx_all) and (final or len(idx_all) - k >= batch):
            idx, x = idx_all[k:k + batch], x_all[k:k + batch]
            if flip:
                xf = xf_all[k:k + batch]
                if model.max_batch is None:  # one call for both halves: fewer, larger batches
                    both = model.infer(np.concatenate([x, xf]))
                    out, out_f = both[: len(idx)], both[len(idx):]
                else:
                    out, out_f = model.infer(x), model.infer(xf)
            else:
                out, out_f = model.infer(x), None
            decodes.append(pool.submit(decode, idx, out, out_f))
            bar.update(len(idx))
            k += len(idx)
        rest = len(idx_all) - k
        buf = [(idx_all[k:], x_all[k:], xf_all[k:] if flip else None)] if rest else []
        buffered = rest

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpb-eval") as pool:
        try:
            pending: deque[Future] = deque()
            nxt = 0
            while nxt < len(groups) and len(pending) < prefetch:
                pending.append(pool.submit(load, nxt)); nxt += 1
            while pending:
                item = pending.popleft().result()
                if nxt < len(groups):
                    pending.append(pool.submit(load, nxt)); nxt += 1
                buf.append(item)
                buffered += len(item[0])
                if buffered >= batch:
                    flush()
            flush(final=True)
            for f in decodes:
                f.result()
        except BaseException:
            for f in list(pending) + decodes:
                f.cancel()
            raise
        finally:
            bar.close()
    return Predictions(coords[:, ds_idx], scores[:, ds_idx])


# ----------------------------------------------------------------------------------------------
# output formats


def coco_results(instances: Instances, preds: Predictions, oks_thre: float = topdown.OKS_THRE,
                 in_vis_thre: float = topdown.IN_VIS_THRE, category_id: int = 1) -> list[dict]:
    """HRNet's COCO post-processing: rescoring, per-image OKS-NMS, then COCO results entries."""
    n = len(instances)
    kpts = np.concatenate([preds.coords, preds.scores[..., None]], axis=2)  # (N, K, 3)
    new_scores = topdown.rescore(instances.box_scores, preds.scores, in_vis_thre)
    areas = instances.areas
    by_img: dict[Any, list[int]] = {}
    for i in range(n):
        by_img.setdefault(instances.image_ids[i], []).append(i)
    out: list[dict] = []
    for img_id, idx in by_img.items():
        ia = np.asarray(idx)
        keep = topdown.oks_nms(kpts[ia], new_scores[ia], areas[ia], oks_thre)
        chosen = ia[keep] if keep else ia
        for j in chosen:
            out.append({"image_id": img_id, "category_id": category_id,
                        "keypoints": [float(v) for v in kpts[j].reshape(-1)],
                        "score": float(new_scores[j])})
    return out


def mpii_results(preds: Predictions) -> list[list[list[float]]]:
    """(N, 16, 2) 0-based pixel predictions in ground-truth order, as ``score`` reads them."""
    return preds.coords.tolist()


# ----------------------------------------------------------------------------------------------
# conditions


@dataclass(frozen=True)
class Condition:
    corruption: str            # "clean" or a corruption name
    severity: int              # 0 for clean
    image_dir: Path
    names: dict[str, str] | None = None  # source file name -> file under image_dir, when they differ

    @property
    def key(self) -> str:
        return CLEAN if self.corruption == CLEAN else f"{self.corruption}/{self.severity}"

    def path(self, file_name: str) -> Path:
        return self.image_dir / (self.names.get(file_name, file_name) if self.names else file_name)


def _read_manifest(ds_dir: Path) -> tuple[dict | None, str | None]:
    p = ds_dir / "manifest.json"
    if not p.is_file():
        return None, None
    return read_json(p, "build manifest"), sha256_file(p)


def find_conditions(
    data: Path | None,
    dataset: str,
    source_image_dir: Path,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    partial: bool = False,
    include_clean: bool = True,
) -> tuple[list[Condition], dict | None, str | None, list[str]]:
    """Clean + the built corrupted conditions under ``data/<dataset>`` (builder layout).

    Which conditions: ``corruptions`` x ``severities`` when given; otherwise those the build's
    manifest lists; otherwise the corruption folders found on disk. A requested or manifest-listed
    condition whose folder is missing is an error (skipped with ``partial``). Returns the conditions,
    the manifest, its sha256 and the keys of skipped conditions.
    """
    from corruptions import CORRUPTIONS

    conds = [Condition(CLEAN, 0, source_image_dir)] if include_clean else []
    if data is None:
        if corruptions:
            raise UserError("--corruptions needs --data OUT (the folder the builder wrote)")
        return conds, None, None, []
    ds_dir = Path(data) / dataset
    if not ds_dir.is_dir():
        raise UserError(f"{dataset} was never built under {data}: no folder {ds_dir} "
                        f"(run `robustpose-bench build {dataset} --out {data}`)")
    manifest, msha = _read_manifest(ds_dir)
    layout = (manifest or {}).get("layout", "default")
    for c in corruptions or ():
        if c not in CORRUPTIONS:
            raise UserError(f"--corruptions: unknown corruption {c!r} (see `robustpose-bench list corruptions`)")
    for s in severities or ():
        if s not in SEVERITIES:
            raise UserError(f"--severities: severity must be 1..5, got {s}")
    explicit = bool(corruptions)
    if corruptions:
        names = list(corruptions)
    elif manifest is not None:
        names = list(manifest.get("corruptions", []))
    else:
        names = sorted(d.name for d in ds_dir.iterdir() if d.is_dir() and d.name in CORRUPTIONS)
        if not names:
            raise UserError(f"{ds_dir} holds no built corruption folders (and no manifest.json); "
                            f"run `robustpose-bench build {dataset} --out {data}`")
    sevs = list(severities) if severities else list((manifest or {}).get("severities", SEVERITIES))
    # source file -> output file for each condition, from the manifest (names change with --format png)
    rename: dict[tuple[str, int], dict[str, str]] = {}
    if manifest is not None:
        for it in manifest.get("items", []):
            key = (it.get("corruption"), it.get("severity"))
            rel = it.get("output", "")
            base = rel.split("/", 2)[-1] if rel.count("/") >= 2 else rel
            if base != it.get("source"):
                rename.setdefault(key, {})[it["source"]] = base
    skipped: list[str] = []
    missing: list[str] = []
    for c in names:
        for s in sevs:
            folder = ds_dir / c / str(s - 1 if layout == "advmix" else s)
            if folder.is_dir():
                conds.append(Condition(c, s, folder, rename.get((c, s))))
            elif explicit or manifest is not None or (ds_dir / c).is_dir():
                missing.append(f"{c}/{s}")
    if missing:
        if not partial:
            shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
            raise UserError(f"missing built condition(s) under {ds_dir}: {shown} "
                            "(build them, choose --corruptions/--severities, or pass --partial)")
        skipped = missing
    return conds, manifest, msha, skipped


def check_condition_files(cond: Condition, files: Sequence[str]) -> None:
    """Every image of the condition must exist: a half-built condition would give a wrong score."""
    absent = [f for f in files if not cond.path(f).is_file()]
    if absent:
        raise UserError(f"condition {cond.key}: {len(absent)} of {len(files)} images missing under "
                        f"{cond.image_dir}, e.g. {cond.path(absent[0]).name} (incomplete build: rerun "
                        "`robustpose-bench build`, or check with `robustpose-bench verify`)")


# ----------------------------------------------------------------------------------------------
# the whole evaluation


@dataclass
class EvalOptions:
    """Everything ``robustpose-bench eval`` takes (see ``commands/eval_cmd.py`` for the meaning)."""

    model: str | os.PathLike
    dataset: str
    data: Path | None = None
    root: Path | None = None
    images: Path | None = None
    ann: Path | None = None
    gt_mat: Path | None = None
    spec: str | os.PathLike | None = None
    boxes: str = "gt"
    device: str = "auto"
    batch: int = 32
    flip: bool = True
    post: str = "default"
    corruptions: Sequence[str] | None = None
    severities: Sequence[int] | None = None
    partial: bool = False
    output: Path = Path("results.json")
    predictions_out: Path | None = None
    workers: int | None = None
    progress: bool = True
    method: str | None = None
    backbone: str | None = None


def _mpii_gt_path(opts: EvalOptions, ann_path: Path) -> Path:
    if opts.gt_mat is not None:
        return Path(opts.gt_mat)
    cand = ann_path.parent / "gt_valid.mat"
    if cand.is_file():
        return cand
    raise UserError(f"mpii-c: no gt_valid.mat beside {ann_path}; pass --gt-mat FILE (HRNet's annot/gt_valid.mat "
                    "or a subset with the same columns as the annotation entries)")


def _check_grid(conds: list[Condition], partial: bool) -> list[str]:
    """Fail before any inference when the 15 x 5 grid cannot be complete (unless partial)."""
    from corruptions import BENCHMARK_CORRUPTIONS

    from .metrics.robustness import describe_missing

    have = {c.key for c in conds}
    missing = ([] if CLEAN in have else [CLEAN]) + [
        f"{c}/{s}" for c in BENCHMARK_CORRUPTIONS for s in SEVERITIES if f"{c}/{s}" not in have]
    if missing and not partial:
        raise UserError(f"the benchmark needs clean + 15 corruptions x 5 severities; missing "
                        f"{describe_missing(missing)} (build them, or pass --partial to evaluate what exists)")
    return missing


def run_eval(opts: EvalOptions) -> dict:
    """Evaluate ``opts.model`` on every condition; write predictions and results.json; return the results."""
    from .datasets import resolve_sources
    from .models.loader import load_model
    from .results import make_results, write_results

    if opts.dataset not in KEYPOINT_SET:
        raise UserError(f"unknown dataset {opts.dataset!r}; expected one of {', '.join(KEYPOINT_SET)}")
    kp_set = KEYPOINT_SET[opts.dataset]
    if opts.batch < 1:
        raise UserError(f"--batch must be at least 1, got {opts.batch}")
    src = _resolve_source(opts, resolve_sources)
    conds, manifest, manifest_sha, skipped = find_conditions(
        opts.data, opts.dataset, src.image_dir, opts.corruptions, opts.severities, opts.partial)
    _check_grid(conds, opts.partial)

    model = load_model(opts.model, spec=opts.spec, device=opts.device)
    model.spec.dataset_indices(kp_set)  # fail now if the model cannot be scored on this dataset
    if opts.post != "default" and model.spec.output.kind != "heatmaps":
        raise UserError(f"--post {opts.post} applies to heatmap models; {Path(opts.model).name} outputs keypoints")
    aspect = model.spec.input.width / model.spec.input.height

    ann_data = read_json(src.ann_path, "annotation file")
    if kp_set == "mpii":
        if opts.boxes != "gt":
            raise UserError("mpii-c uses the annotated centre and scale of each person (as HRNet); "
                            "--boxes applies to COCO-format datasets only")
        if not isinstance(ann_data, list):
            raise UserError(f"{src.ann_path}: expected HRNet's MPII valid.json (a list of person entries)")
        from .metrics.pckh import load_mpii_gt

        instances = mpii_instances(ann_data, aspect)
        gt_path = _mpii_gt_path(opts, src.ann_path)
        gt = load_mpii_gt(gt_path)
        if gt.num_persons != len(instances):
            raise UserError(f"{gt_path} has {gt.num_persons} persons but {src.ann_path} has {len(instances)} "
                            "entries; they must be the same persons in the same order")
        scorer_ann = {"path": str(gt_path), "sha256": sha256_file(gt_path)}
    else:
        from .metrics.coco import LIBRARY_FOR_DATASET, load_coco_gt

        if not isinstance(ann_data, dict) or "annotations" not in ann_data:
            raise UserError(f"{src.ann_path}: expected a COCO-format keypoint annotation object")
        instances = (coco_gt_instances(ann_data, aspect) if opts.boxes == "gt"
                     else coco_det_instances(ann_data, opts.boxes, aspect))
        gt = load_coco_gt(ann_data, LIBRARY_FOR_DATASET[opts.dataset])
        scorer_ann = {"path": str(src.ann_path), "sha256": sha256_file(src.ann_path)}

    files, _ = instances.groups()
    for cond in conds:  # check every condition up front: fail before hours of inference, not after
        check_condition_files(cond, files)

    pred_dir = Path(opts.predictions_out) if opts.predictions_out else Path(opts.output).parent / "predictions"
    from .metrics.scoring import condition_rows, score_predictions

    rows: list[dict] = []
    pred_files: dict[str, str] = {}
    from tqdm import tqdm

    outer = tqdm(conds, desc="conditions", unit="cond", file=sys.stderr, disable=not opts.progress)
    for cond in outer:
        outer.set_postfix_str(cond.key)
        preds = predict(model, instances, cond.path, kp_set, flip=opts.flip, batch=opts.batch, post=opts.post,
                        workers=opts.workers, progress=cond.key if opts.progress else False)
        payload = mpii_results(preds) if kp_set == "mpii" else coco_results(instances, preds)
        path = pred_dir / cond.key / "results.json"
        atomic_write_json(path, payload, indent=None)
        pred_files[cond.key] = sha256_file(path)
        metrics = score_predictions(opts.dataset, gt, payload, one_based=False, source=str(path))
        rows.extend(condition_rows(opts.dataset, cond.corruption, cond.severity, metrics))

    ann_sha = scorer_ann["sha256"] if scorer_ann["path"] == str(src.ann_path) else sha256_file(src.ann_path)
    boxes = dict(instances.source)
    if boxes.get("sha256") is None:  # ground-truth boxes: they come from the annotation file
        boxes["sha256"] = ann_sha
    provenance = {
        "model": model.provenance(),
        "manifest_sha256": manifest_sha,
        "boxes": boxes,
        "device": model.device,
        "execution_provider": model.provider,
        "flip": bool(opts.flip),
        "seeds": ({"master_seed": manifest.get("master_seed"), "seed_rule": manifest.get("seed_rule")}
                  if manifest else None),
        "scorer": {"library": _scorer_library(opts.dataset), "annotations": scorer_ann},
        "predictions": {"dir": str(pred_dir), "files": pred_files},
        "data": {"dir": str(opts.data) if opts.data else None, "source_images": str(src.image_dir),
                 "annotations": str(src.ann_path), "annotations_sha256": ann_sha,
                 "skipped_conditions": skipped},
    }
    config = {
        "method": opts.method or model.spec.name,
        "backbone": opts.backbone,
        "input_size": f"{model.spec.input.height}x{model.spec.input.width}",
        "batch": opts.batch, "flip": bool(opts.flip),
        "post_processing": opts.post if model.spec.output.kind == "heatmaps" else None,
        "boxes": "gt" if opts.boxes == "gt" else str(opts.boxes),
        "oks_nms": topdown.OKS_THRE if kp_set == "coco" else None,
        "in_vis_thre": topdown.IN_VIS_THRE if kp_set == "coco" else None,
        "device_requested": opts.device,
        "conditions": [c.key for c in conds],
    }
    results = make_results(opts.dataset, rows, partial=opts.partial, provenance=provenance, config=config)
    write_results(opts.output, results)
    return results


def _scorer_library(dataset: str) -> str:
    from .results import SCORER_FOR_DATASET

    return SCORER_FOR_DATASET[dataset]


def _resolve_source(opts: EvalOptions, resolve_sources: Callable) -> Any:
    """The clean images and annotations, through the builder's dataset adapters (same layouts)."""
    if opts.dataset == "synth-c":
        # Read the generated source as it is: never regenerate it (resolve_sources would, for another
        # --synth-count), since the built conditions were made from exactly these images.
        from types import SimpleNamespace

        from .synth import ANNOTATION_NAME

        if opts.images is not None or opts.ann is not None:
            if opts.images is None or opts.ann is None:
                raise UserError("synth-c: give both --images DIR and --ann FILE, or --root DIR")
            image_dir, ann_path = Path(opts.images), Path(opts.ann)
        else:
            if opts.root is None and opts.data is None:
                raise UserError("synth-c: pass --data OUT (where `robustpose-bench build synth-c` wrote it) or --root")
            root = Path(opts.root) if opts.root is not None else Path(opts.data) / "synth"
            image_dir, ann_path = root / "images", root / "annotations" / ANNOTATION_NAME
        if not ann_path.is_file() or not image_dir.is_dir():
            raise UserError(f"synth-c: no generated source at {image_dir} + {ann_path} "
                            "(run `robustpose-bench build synth-c --out OUT`, or pass --root)")
        return SimpleNamespace(image_dir=image_dir, ann_path=ann_path)
    return resolve_sources(opts.dataset, root=opts.root, images=opts.images, ann=opts.ann)
