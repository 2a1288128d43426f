"""The evaluation driver: a model, a dataset and its built -C conditions -> predictions and results.json.

Phases, as COCOeval's: (1) open the dataset adapter and find the conditions; (2) load the model and
pick its family's predictor (top-down: boxes -> crops -> keypoints; one-stage: image -> persons);
(3) claim the predictions folder for this run; (4) per condition, predict, write the predictions
where ``score`` reads them (``PRED/clean/results.json``, ``PRED/<corruption>/<severity>/results.json``)
and score them with the dataset's scorer, skipping conditions this run already finished; (5) write
results.json with keyed rows, summary and provenance (``robustpose_bench.results``).

The driver never branches on the dataset: everything dataset-specific sits in its
``datasets.EvalDataset`` adapter, everything model-specific in the spec's codec.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import __version__
from ..atomic import sha256_file
from ..datasets import EvalDataset, Thresholds, open_dataset
from ..errors import UserError
from ..flag_values import parse_shard
from .backends import BACKENDS, PredictJob, connect, run_dask, run_local, worker_model
from .conditions import (CLEAN, Condition, RunOptions, check_condition_files, check_grid, find_conditions,
                         resolved_output)
from .store import PredictionStore

#: Default --batch per model family: crops for top-down models, whole images for one-stage ones.
DEFAULT_BATCH = {"topdown": 32, "onestage": 8}


@dataclass(kw_only=True)
class EvalOptions(RunOptions):
    """Everything ``robustpose-bench eval`` takes (see ``commands/eval_cmd.py`` for the meaning).

    ``boxes``, ``flip`` and ``batch`` default to the model family's: ground-truth boxes, the flip test
    and 32 crops per batch for top-down models; no boxes, no flip (unless the family's protocol has one,
    the codec's ``flip_test``: HigherHRNet) and 8 images for one-stage ones.
    """

    model: str | os.PathLike
    spec: str | os.PathLike | None = None
    boxes: str | None = None
    device: str = "auto"
    batch: int | None = None
    flip: bool | None = None
    post: str = "default"
    jobs: int | None = None
    det_thr: float = Thresholds.det
    in_vis_thr: float = Thresholds.in_vis
    oks_thr: float = Thresholds.oks_nms
    shard: str | None = None
    intra_op_threads: int | None = None
    backend: str = "local"
    scheduler: str | None = None
    images_with_keypoints: bool = False


def shard_slice(conds: Sequence[Condition], shard: tuple[int, int] | None) -> list[Condition]:
    """Shard I of N takes conditions I-1, I-1+N, I-1+2N, ... of the full list (clean first, then the grid
    in the build's order): deterministic, and every shard gets a mix of cheap and costly corruptions."""
    if shard is None:
        return list(conds)
    i, n = shard
    return [c for j, c in enumerate(conds) if j % n == i - 1]


def _check_counts(opts: EvalOptions) -> None:
    """Counts that must be positive integers (``--jobs -1`` reached a thread pool as a traceback)."""
    for flag, v in (("--jobs", opts.jobs), ("--batch", opts.batch), ("--intra-op-threads", opts.intra_op_threads)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise UserError(f"{flag} must be a positive integer, got {v!r}")


def _thresholds(opts: EvalOptions) -> Thresholds:
    for name, v in (("--det-thr", opts.det_thr), ("--in-vis-thr", opts.in_vis_thr), ("--oks-thr", opts.oks_thr)):
        if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise UserError(f"{name} must be a number in 0..1, got {v!r}")
    return Thresholds(det=float(opts.det_thr), in_vis=float(opts.in_vis_thr), oks_nms=float(opts.oks_thr))


#: Thresholds' fields -> their one name in results.json config (== the flags: --det-thr...)
THRESHOLD_KEYS = {"det": "det_thr", "in_vis": "in_vis_thr", "oks_nms": "oks_thr"}


def _check_outputs(opts: EvalOptions, ds: EvalDataset, pred_dir: Path, conds: Sequence[Condition],
                   keys: Sequence[str]) -> None:
    """No file this run writes may be one of its inputs or lie among them (``outputs.py``): a careless
    ``-o model.onnx`` must not destroy the model (10.3), nor ``-o`` a source image or the manifest (19)."""
    from .store import check_run_outputs

    inputs: list[tuple[str, Any]] = [("the model", opts.model), ("the annotation file", ds.source.ann_path)]
    if opts.spec is not None and Path(str(opts.spec)).is_file():
        inputs.append(("the spec file", Path(str(opts.spec))))
    if opts.boxes not in (None, "gt"):
        inputs.append(("the box file", Path(opts.boxes)))
    inputs += [("an input file", v) for v in ds.source.extra.values() if isinstance(v, Path)]
    check_run_outputs(pred_dir, keys, Path(opts.output), inputs, input_dirs(opts, ds, conds))


def input_dirs(opts: RunOptions, ds: EvalDataset, conds: Sequence[Condition]) -> list[tuple[str, Path]]:
    """The folders an eval run reads: the source images, the build, every condition's image folder."""
    dirs: list[tuple[str, Path]] = [("the image folder", ds.source.image_dir)]
    if opts.data is not None:
        dirs.append(("the build folder", Path(opts.data) / opts.dataset))
    dirs += [(f"the image folder of condition {c.key}", c.image_dir) for c in conds]
    return dirs


def protocol_of(spec: Any, ds: EvalDataset, boxes: str | None) -> dict:
    """The evaluation-protocol settings in which the peers differ (docs/results.md), as recorded in
    the run identity and results.json ``config.protocol``:

    - ``bbox``: the box each written person carries ('input', 'model', 'keypoints' or 'none';
      ``spec.default_bbox``),
      which sets the person's area in pycocotools and so APM and APL;
    - ``gt_box``: top-down with ground-truth boxes: HRNet's cleaned box or mmpose's clipped one
      (``crop: mmpose``);
    - ``images``: 'all' images scored (HRNet, mmpose) or 'with-keypoints' (ultralytics).
    """
    coco_style = ds.supports_boxes
    return {"bbox": spec.bbox_protocol if coco_style else "none",
            "gt_box": (spec.input.crop or "hrnet") if spec.pipeline == "topdown" and boxes == "gt" and coco_style
            else None,
            "images": getattr(ds, "images", "all")}


def _identity(opts: EvalOptions, model: Any, ds: EvalDataset, boxes: dict | None, manifest_sha: str | None,
              layout: str, flip: bool, post: str | None, thresholds: Thresholds, protocol: dict) -> dict:
    """Everything that decides this run's predictions (see ``store.py``)."""
    return {
        # the bbox written, the ground-truth box rule and the images predicted change the prediction files
        "protocol": protocol,
        "package": __version__, "dataset": opts.dataset, "model_sha256": model.sha256,
        # the card's keypoints, sigmas and scorer decide the written predictions and their scores
        "dataset_card": ds.card.identity(),
        "spec": model.spec.to_dict(), "annotations_sha256": sha256_file(ds.source.ann_path),
        # the clean condition reads this folder: another --images must not keep the old clean predictions
        "source_images": os.path.realpath(ds.source.image_dir),
        "boxes": boxes, "manifest_sha256": manifest_sha, "layout": layout,
        # int8 ONNX models give other outputs with another onnxruntime thread count (MoveNet int8 keypoints
        # moved by up to 16 px between 1 and 2 threads): the thread count is part of what decides them.
        # The thresholds keep their first keys here (det, in_vis, oks_nms): a run begun before the flags
        # were renamed still resumes.
        "options": {"flip": flip, "post": post, "intra_op_threads": opts.intra_op_threads,
                    "thresholds": {"det": thresholds.det, "in_vis": thresholds.in_vis, "oks_nms": thresholds.oks_nms}
                    if model.spec.pipeline == "topdown" and ds.supports_boxes else None},
    }


def run_eval(opts: EvalOptions) -> dict:
    """Evaluate ``opts.model`` on every condition; write predictions and results.json; return the results.

    Without ``opts.output`` (and ``predictions_out``) the run gets a new folder
    ``runs/<dataset>/<model>-N/`` (set into ``opts.output``); removed again if the run stops before
    writing into it. Give that folder's results.json as ``output`` to resume it."""
    with resolved_output(opts, Path(opts.model).stem):
        return _run_eval(opts)


def _run_eval(opts: EvalOptions) -> dict:
    from ..progress import progress_bar

    from ..determinism import eval_reproducibility
    from ..metrics.scoring import condition_rows
    from ..models.keypoint_map import dataset_indices
    from ..models.loader import check_model_file, load_model
    from ..results import make_results, write_results

    check_model_file(opts.model)  # before anything slow: a missing model or a training checkpoint
    if opts.backend not in BACKENDS:
        raise UserError(f"--backend must be one of {', '.join(BACKENDS)}, got {opts.backend!r}")
    _check_counts(opts)
    thresholds = _thresholds(opts)
    shard = parse_shard(opts.shard)
    if opts.batch is not None and opts.batch < 1:
        raise UserError(f"--batch must be at least 1, got {opts.batch}")
    # (1) the dataset and its conditions
    ds = open_dataset(opts.card, root=opts.root, images=opts.images, ann=opts.ann, gt_mat=opts.gt_mat,
                      data=opts.data, thresholds=thresholds)
    ds.use_images("with-keypoints" if opts.images_with_keypoints else "all")
    conds, manifest, manifest_sha, skipped = find_conditions(
        opts.data, opts.dataset, ds.source.image_dir, opts.corruptions, opts.severities, opts.partial,
        layout=opts.layout)
    check_grid(conds, opts.partial)
    layout = (manifest or {}).get("layout") or ("advmix" if opts.layout == "advmix" else "default")

    # (2) the model and its family
    model = load_model(opts.model, spec=opts.spec, device=opts.device, post=opts.post,
                       intra_op_threads=opts.intra_op_threads)
    spec = model.spec
    family = spec.pipeline
    if family == "onestage" and not ds.supports_onestage:
        ds.onestage_images()  # raises the dataset's reason
    kp_indices = dataset_indices(spec, ds.card)  # fail now if the model cannot be scored on this dataset
    if opts.post != "default" and spec.output.kind != "heatmaps":
        raise UserError(f"--post {opts.post} applies to heatmap models; {Path(opts.model).name} outputs "
                        f"{spec.output.kind}")
    if family == "onestage":
        if opts.boxes is not None:
            raise UserError(f"{Path(opts.model).name} is a one-stage model (it finds the persons itself): --boxes "
                            "applies to top-down models only")
        if opts.flip and not model.codec.flip_test:
            raise UserError(f"--flip: {Path(opts.model).name} is a one-stage model whose family has no flip test "
                            "(run with --no-flip or without --flip)")
        default_flip = model.codec.flip_test if spec.flip_test is None else spec.flip_test
        flip = default_flip if opts.flip is None else bool(opts.flip)
        files = ds.onestage_images()
        instances = None
        boxes = boxes_prov = None
    else:
        if opts.boxes not in (None, "gt") and not ds.supports_boxes:
            ds.topdown_instances(1.0, opts.boxes)  # raises the dataset's reason
        # the model's own protocol (spec.flip_test: MoveNet and BlazePose off), else HRNet's: on
        flip = (True if spec.flip_test is None else spec.flip_test) if opts.flip is None else bool(opts.flip)
        instances = ds.topdown_instances(spec.input.width / spec.input.height, opts.boxes or "gt")
        files = instances.groups()[0]
        boxes = {k: instances.source[k] for k in ("source", "sha256")}
        boxes_prov = dict(instances.source)
    batch = opts.batch or DEFAULT_BATCH[family]
    all_keys = [c.key for c in conds]
    conds = shard_slice(conds, shard)
    for cond in conds:  # check every condition up front: fail before hours of inference, not after
        check_condition_files(cond, files)

    # (3) the predictions folder
    pred_dir = opts.prediction_dir
    _check_outputs(opts, ds, pred_dir, conds, all_keys)
    post = opts.post if spec.output.kind == "heatmaps" else None
    protocol = protocol_of(spec, ds, None if family == "onestage" else (opts.boxes or "gt"))
    store = PredictionStore(pred_dir, _identity(opts, model, ds, boxes, manifest_sha, layout, flip, post, thresholds,
                                                protocol))
    input_boxes = (instances.input_boxes_xywh(spec.input.crop or "hrnet")
                   if instances is not None and protocol["bbox"] == "input" else None)
    bbox_writer = ({"model": model.codec.bbox_writer, "keypoints": "keypoints"}.get(protocol["bbox"])
                   if family == "onestage" else None)
    store.claim(overwrite=opts.overwrite)
    try:

        # (4) every condition: finished ones are kept, the rest predicted here or on dask workers; the
        # driver formats, scores and saves each as it arrives
        job = PredictJob(model=str(Path(opts.model).resolve()), spec=spec.to_json(), device=opts.device, post=opts.post,
                         intra_op_threads=opts.intra_op_threads, family=family, kp_set=kp_indices, flip=flip,
                         batch=batch, workers=opts.jobs, instances=instances,
                         files=tuple(files) if family == "onestage" else ())
        worker_model(job, loaded=model)
        rows_by_key: dict[str, list[dict]] = {}
        pred_files: dict[str, str] = {}
        pending: list[Condition] = []
        for cond in conds:
            done = store.done(cond.key)
            if done is None:
                pending.append(cond)
            else:
                rows_by_key[cond.key] = done
                pred_files[cond.key] = sha256_file(store.prediction_path(cond.key))
        devices = {(model.device, model.provider)}
        client = connect(opts.scheduler) if opts.backend == "dask" and pending else None
        unit_name = "crops" if family == "topdown" else "images"
        per_condition = len(instances) if instances is not None else len(files)
        desc = "conditions" if shard is None else f"shard {shard[0]}/{shard[1]}"
        t_start, computed = time.perf_counter(), 0
        with progress_bar(total=len(conds), initial=len(conds) - len(pending), desc=desc, unit="cond",
                          enabled=opts.progress) as outer:
            try:
                source = (run_dask(job, pending, client, store.run_id) if client is not None
                          else run_local(job, pending, opts.progress))
                for cond, (raw, device, provider) in source:
                    payload = (ds.format_topdown(instances, raw, input_boxes) if family == "topdown"
                               else ds.format_onestage(files, raw, bbox_writer))
                    path = store.prediction_path(cond.key)
                    cond_rows = condition_rows(opts.dataset, cond.corruption, cond.severity,
                                               ds.score(payload, source=str(path)))
                    pred_files[cond.key] = store.save(cond.key, payload, cond_rows)
                    rows_by_key[cond.key] = cond_rows
                    devices.add((device, provider))
                    computed += 1
                    rate = computed * per_condition / max(time.perf_counter() - t_start, 1e-9)
                    outer.set_postfix_str(f"{cond.key}, {rate:.0f} {unit_name}/s")
                    outer.update()
            finally:
                if client is not None:
                    client.close()
        rows = [r for c in conds for r in rows_by_key[c.key]]

        # (5) results.json
        non_standard = ([THRESHOLD_KEYS[k] for k in thresholds.changed()]
                        if family == "topdown" and ds.supports_boxes else [])
        if protocol["images"] != "all":
            non_standard.append("images")  # not every image of the split scored (ultralytics' protocol)
        provenance = {
            "model": model.provenance(),
            "manifest_sha256": manifest_sha,
            "boxes": boxes_prov if boxes_prov is not None else {"source": "model", "sha256": None},
            "device": model.device,
            "execution_provider": model.provider,
            "flip": flip,
            "reproducibility": eval_reproducibility({p for _, p in devices}),
            "seeds": ({"master_seed": manifest.get("master_seed"), "seed_rule": manifest.get("seed_rule")}
                      if manifest else None),
            "scorer": ds.scorer_provenance(),
            **({"devices": [{"device": d, "execution_provider": p} for d, p in sorted(devices)]}
               if len(devices) > 1 else {}),
            **({"backend": {"kind": "dask", "scheduler": opts.scheduler}} if opts.backend == "dask" else {}),
            "predictions": {"dir": str(pred_dir), "files": pred_files, "run_id": store.run_id},
            "data": {"dir": str(opts.data) if opts.data else None, "source_images": str(ds.source.image_dir),
                     "annotations": str(ds.source.ann_path), "annotations_sha256": store.identity["annotations_sha256"],
                     "skipped_conditions": skipped, "layout": layout,
                     "num_images": ds.counts()["images"], "num_persons": ds.counts()["persons"]},
        }
        config = {
            "method": opts.method or spec.name,
            "backbone": opts.backbone,
            "pipeline": family,
            "input_size": f"{spec.input.height}x{spec.input.width}",
            "batch": batch, "flip": flip,
            "post_processing": post,
            "boxes": "model" if family == "onestage" else ("gt" if opts.boxes in (None, "gt") else boxes["source"]),
            **{key: getattr(thresholds, field) if family == "topdown" and ds.supports_boxes else None
               for field, key in THRESHOLD_KEYS.items()},
            "non_standard": non_standard,
            "protocol": protocol,
            "device_requested": opts.device,
            "conditions": [c.key for c in conds],
        }
        if shard is not None:  # `merge` checks and joins shards into the single-process results
            config["shard"] = {"index": shard[0], "count": shard[1], "conditions": all_keys}
        results = make_results(ds.card, rows, partial=opts.partial or shard is not None,
                               provenance=provenance, config=config)
        write_results(opts.output, results)
    finally:
        store.close()  # the folder's lock (`store.py`)
    return results


__all__ = ["CLEAN", "DEFAULT_BATCH", "EvalOptions", "run_eval"]
