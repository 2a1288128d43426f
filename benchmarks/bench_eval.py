"""Evaluator throughput: end-to-end pipeline vs model-only vs a naive one-crop-at-a-time loop.

On the real COCO samples in ../shared (coco_sample + coco_mini, ground-truth boxes of the people with
keypoints), repeated to a few hundred crops (each repeat reads its image again, through its own file
name, so JPEG decoding is paid as in a real condition):

- **model-only**: the same crops, already warped and preprocessed in memory, through ``LoadedModel.infer``
  in batches: the ceiling for the pipeline;
- **end-to-end**: ``robustpose_bench.evaluation.predict_topdown`` (decode + warp + preprocess in a thread pool,
  overlapping inference, decoding + back-projection of the outputs);
- **naive**: for each crop, decode its image, warp, preprocess, run the model on that one crop, decode.

Models: the shared MoveNet Lightning int8 ONNX (fixed batch 1), and a small heatmap network (a
SimpleBaseline-like conv net, random weights, 256x192 input, 17 x 64 x 48 heatmaps) exported to ONNX
with a dynamic batch dimension inside this script, for the batched case.

Targets (issue 4): end-to-end >= 80 % of model-only; end-to-end >= 2x naive with a batch-able model.

    python benchmarks/bench_eval.py [--crops 300] [--batch 32] [--device auto] [--flip] [--json OUT]
        [--shared ../shared] [--models movenet,heatmap] [--heatmap-format onnx|torchscript]

``--heatmap-format torchscript`` runs the heatmap net through torch (``torch-cuda`` on a GPU) instead of
onnxruntime, for machines whose onnxruntime has no CUDA provider.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

from robustpose_bench import topdown as td  # noqa: E402
from robustpose_bench.datasets.coco import coco_gt_instances  # noqa: E402
from robustpose_bench.evaluation import Instances, read_image_rgb  # noqa: E402
from robustpose_bench.evaluation import predict_topdown as predict  # noqa: E402
from robustpose_bench.models.loader import LoadedModel, load_model  # noqa: E402
from robustpose_bench.models.spec import heatmap_model_spec, parse_spec  # noqa: E402

MOVENET_SPEC = {
    "format": "robustpose-model-spec/1", "name": "movenet_lightning_int8",
    "input": {"name": "serving_default_input:0", "height": 192, "width": 192, "layout": "NHWC",
              "dtype": "uint8", "channel_order": "RGB", "mean": [0, 0, 0], "std": [1, 1, 1]},
    "output": {"name": "StatefulPartitionedCall:0", "kind": "keypoints", "coords": "normalized", "order": "yx",
               "values_per_keypoint": 3, "score_index": 2, "score_activation": "none"},
    "keypoints": {"num": 17, "names": None, "dataset_map": {"coco": list(range(17))}},
    "flip_pairs": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]],
}


def sample_instances(tmp: Path, crops: int, aspect: float, shared: Path = SHARED) -> tuple[Instances, Path]:
    """GT-box instances of the shared COCO samples, repeated under distinct (symlinked) file names."""
    sets = [(shared / "data/coco_sample", shared / "data/coco_sample/test_coco.json"),
            (shared / "data/coco_mini/val2017", shared / "data/coco_mini/annotations/person_keypoints_val2017.json")]
    base: list[tuple[Path, np.ndarray, np.ndarray]] = []
    for img_dir, ann_path in sets:
        ann = json.loads(ann_path.read_text())
        inst = coco_gt_instances(ann, aspect)
        for f, c, s in zip(inst.files, inst.centers, inst.scales):
            base.append((img_dir / f, c, s))
    files, cs, ss = [], [], []
    rep = 0
    while len(files) < crops:
        for src, c, s in base:
            name = f"r{rep:03d}_{src.name}"
            link = tmp / name
            if not link.exists():
                os.symlink(src, link)
            files.append(name); cs.append(c); ss.append(s)
            if len(files) == crops:
                break
        rep += 1
    n = len(files)
    return Instances(files, list(range(n)), np.array(cs, np.float32), np.array(ss, np.float32), np.ones(n)), tmp


def preprocessed_crops(model: LoadedModel, inst: Instances, img_dir: Path) -> np.ndarray:
    i = model.spec.input
    crops = np.stack([td.warp_crop(read_image_rgb(img_dir / f), c, s, (i.width, i.height))
                      for f, c, s in zip(inst.files, inst.centers, inst.scales)])
    return td.preprocess(crops, i.layout, i.dtype, i.channel_order, i.mean, i.std)


def image_work(model: LoadedModel, inst: Instances, img_dir: Path) -> float:
    """Decode + warp + preprocess of every crop on one thread: the work the pipeline hides."""
    i = model.spec.input
    t0 = time.perf_counter()
    for f, c, s in zip(inst.files, inst.centers, inst.scales):
        crop = td.warp_crop(read_image_rgb(img_dir / f), c, s, (i.width, i.height))[None]
        td.preprocess(crop, i.layout, i.dtype, i.channel_order, i.mean, i.std)
    return time.perf_counter() - t0


def model_only(model: LoadedModel, x: np.ndarray, batch: int, flip: bool) -> float:
    t0 = time.perf_counter()
    for k in range(0, len(x), batch):
        xb = x[k:k + batch]
        if flip:
            xb = np.concatenate([xb, xb[..., ::-1, :] if model.spec.input.layout == "NHWC" else xb[..., ::-1]])
        model.infer(np.ascontiguousarray(xb))
    return time.perf_counter() - t0


def naive(model: LoadedModel, inst: Instances, img_dir: Path, flip: bool) -> float:
    """The obvious loop: everything for one crop, then the next; no batching, no overlap."""
    spec, i, o = model.spec, model.spec.input, model.spec.output
    perm = spec.flip_permutation()
    t0 = time.perf_counter()
    for f, c, s in zip(inst.files, inst.centers, inst.scales):
        crop = td.warp_crop(read_image_rgb(img_dir / f), c, s, (i.width, i.height))[None]
        x = td.preprocess(crop, i.layout, i.dtype, i.channel_order, i.mean, i.std)
        out = model.infer(x)
        if flip:
            xf = td.preprocess(np.ascontiguousarray(crop[:, :, ::-1]), i.layout, i.dtype, i.channel_order, i.mean, i.std)
            out_f = model.infer(xf)
        if o.kind == "heatmaps":
            hm = td.to_nkhw(out, o.layout)
            if flip:
                hm = (hm + td.flip_back(td.to_nkhw(out_f, o.layout), perm)) * 0.5
            xy, _ = td.decode_heatmaps(hm)
            size = (hm.shape[3], hm.shape[2])
        else:
            args = (spec.keypoints.num, o.values_per_keypoint, o.coords, o.order, o.score_index,
                    o.score_activation, (i.width, i.height))
            xy, _ = td.decode_keypoint_output(out, *args)
            size = (i.width, i.height)
        td.transform_preds(xy[0], c, s, size)
    return time.perf_counter() - t0


def export_heatmap_net(path: Path, fmt: str = "onnx") -> None:
    """A SimpleBaseline-shaped net (strided convs down to 1/32, deconvs back to 1/4), dynamic batch, as
    ONNX or (``fmt="torchscript"``, traced) TorchScript, with its spec embedded either way."""
    import torch
    import torch.nn as nn

    from robustpose_bench.models.spec import embed_spec_onnx_file

    torch.manual_seed(0)

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.ReLU())

    def up(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU())

    net = nn.Sequential(block(3, 32), block(32, 64), block(64, 96), block(96, 128), block(128, 160),
                        up(160, 64), up(64, 64), up(64, 64), nn.Conv2d(64, 17, 1)).eval()
    if fmt == "torchscript":
        from robustpose_bench.models.spec import torchscript_extra_files

        traced = torch.jit.trace(net, torch.zeros(1, 3, 256, 192))
        torch.jit.save(traced, str(path), _extra_files=torchscript_extra_files(
            heatmap_model_spec("bench_heatmap_net", 256, 192, output_name="heatmaps")))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 256, 192),), str(path), input_names=["image"],
                          output_names=["heatmaps"], dynamic_axes={"image": {0: "n"}, "heatmaps": {0: "n"}},
                          opset_version=17, dynamo=False)
    embed_spec_onnx_file(path, heatmap_model_spec("bench_heatmap_net", 256, 192))


def run_case(name: str, model: LoadedModel, inst: Instances, img_dir: Path, batch: int, flip: bool,
             repeats: int) -> dict:
    n = len(inst)
    x = preprocessed_crops(model, inst, img_dir)
    # warm-up (thread pools, allocator, onnxruntime's first-run optimisations, page cache)
    model_only(model, x[: min(n, 2 * batch)], batch, flip)
    predict(model, Instances(inst.files[:8], inst.image_ids[:8], inst.centers[:8], inst.scales[:8], inst.box_scores[:8]),
            lambda f: img_dir / f, "coco", flip=flip, batch=batch)
    # interleaved repeats, best of each: the machine is shared, so slow outliers come from elsewhere.
    # Wall time and process CPU time (all threads) are both kept: CPU time does not depend on the load.
    def timed(fn) -> tuple[float, float]:
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - w0, time.process_time() - c0

    t_model, t_e2e, t_naive, t_img = [], [], [], []
    for _ in range(repeats):
        t_model.append(timed(lambda: model_only(model, x, batch, flip)))
        t_e2e.append(timed(lambda: predict(model, inst, lambda f: img_dir / f, "coco", flip=flip, batch=batch)))
        t_naive.append(timed(lambda: naive(model, inst, img_dir, flip)))
        t_img.append(timed(lambda: image_work(model, inst, img_dir)))
    best = lambda ts: (min(t[0] for t in ts), min(t[1] for t in ts))  # noqa: E731
    (t_model, c_model), (t_e2e_best, c_e2e), (t_naive, c_naive), (t_img, c_img) = (
        best(t_model), best(t_e2e), best(t_naive), best(t_img))
    row = {
        "model": name, "crops": n, "batch": batch if model.max_batch is None else model.max_batch,
        "fixed_batch": model.max_batch, "flip": flip, "provider": model.provider,
        "image_work_ms_per_crop_1thread": 1000 * t_img / n,
        "model_only_crops_s": n / t_model, "end_to_end_crops_s": n / t_e2e_best, "naive_crops_s": n / t_naive,
    }
    row["cpu_ms_per_crop"] = {"model_only": 1000 * c_model / n, "end_to_end": 1000 * c_e2e / n,
                              "naive": 1000 * c_naive / n, "image_work": 1000 * c_img / n}
    # what the pipeline costs beyond the model and the unavoidable image work (decode, warp, preprocess)
    row["pipeline_cpu_overhead"] = c_e2e / (c_model + c_img) - 1.0
    row["e2e_over_model_only"] = row["end_to_end_crops_s"] / row["model_only_crops_s"]
    row["e2e_over_naive"] = row["end_to_end_crops_s"] / row["naive_crops_s"]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--flip", action="store_true", help="flip test on (two forward passes per crop)")
    ap.add_argument("--repeats", type=int, default=3, help="best of N")
    ap.add_argument("--intra-op-threads", type=int, default=None,
                    help="onnxruntime CPU threads (default: one per core); 1 leaves the other cores to the "
                         "pipeline, as a GPU would")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared folder (default: ../shared)")
    ap.add_argument("--models", default="movenet,heatmap", help="which cases, comma-separated: movenet, heatmap")
    ap.add_argument("--heatmap-format", choices=("onnx", "torchscript"), default="onnx",
                    help="the heatmap net through onnxruntime (default) or torch")
    args = ap.parse_args()
    models = set(args.models.split(","))
    if not models or models - {"movenet", "heatmap"}:
        ap.error(f"--models: expected a comma-separated subset of movenet, heatmap, got {args.models!r}")

    rows = []
    with tempfile.TemporaryDirectory(prefix="rpb-bench-eval-") as tmp:
        tmp = Path(tmp)
        if "movenet" in models:
            mv = load_model(args.shared / "models/movenet_lightning_int8.onnx", spec=parse_spec(MOVENET_SPEC),
                            device=args.device, intra_op_threads=args.intra_op_threads)
            inst, img_dir = sample_instances(tmp, args.crops, 1.0, args.shared)
            rows.append(run_case("movenet_lightning_int8 (ONNX, fixed batch 1)", mv, inst, img_dir, args.batch,
                                 args.flip, args.repeats))
        if "heatmap" in models:
            fmt = args.heatmap_format
            hm_path = tmp / ("bench_heatmap_net.pt" if fmt == "torchscript" else "bench_heatmap_net.onnx")
            export_heatmap_net(hm_path, fmt)
            hm = load_model(hm_path, device=args.device, intra_op_threads=args.intra_op_threads)
            inst, img_dir = sample_instances(tmp, args.crops, 192 / 256, args.shared)
            rows.append(run_case(f"heatmap net 256x192 ({'TorchScript' if fmt == 'torchscript' else 'ONNX'}, "
                                 "dynamic batch)", hm, inst, img_dir, args.batch, args.flip, args.repeats))

    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; device: {rows[0]['provider']}; "
          f"onnxruntime threads: {args.intra_op_threads or 'default'}; flip test: {'on' if args.flip else 'off'}")
    print(f"{'model':<44} {'crops':>5} {'batch':>5} {'img ms/crop':>11} {'model-only/s':>12} {'end-to-end/s':>12} "
          f"{'naive/s':>8} {'e2e/model':>9} {'e2e/naive':>9}")
    for r in rows:
        print(f"{r['model']:<44} {r['crops']:>5} {r['batch']:>5} {r['image_work_ms_per_crop_1thread']:>11.2f} "
              f"{r['model_only_crops_s']:>12.1f} "
              f"{r['end_to_end_crops_s']:>12.1f} {r['naive_crops_s']:>8.1f} {r['e2e_over_model_only']:>9.2f} "
              f"{r['e2e_over_naive']:>9.2f}")
    print("CPU time per crop (ms, all threads; independent of other load):")
    for r in rows:
        c = r["cpu_ms_per_crop"]
        print(f"  {r['model']:<44} model-only {c['model_only']:.2f}  image work {c['image_work']:.2f}  "
              f"end-to-end {c['end_to_end']:.2f}  naive {c['naive']:.2f}  "
              f"pipeline overhead {100 * r['pipeline_cpu_overhead']:+.1f} %")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
