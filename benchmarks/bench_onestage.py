"""One-stage evaluation throughput: our predictor vs the peer's own ONNX predictor loop, side by side.

The peer is rtmlib's ``RTMO`` (pure numpy + onnxruntime): for each image, ``cv2.imread``, then its
``__call__`` (letterbox, inference, score filter, NMS, back-projection), one image at a time. Ours is
``robustpose_bench.evaluation.predict_onestage`` (image decoding and letterboxing in a thread pool,
overlapping inference; decoding in the pool) with the ``rtmo-rtmlib`` preset and rtmlib's thresholds set in
the spec, so both must give the same persons: the script checks it (same count, keypoints within
0.01 px) before it reports a figure.

Same ONNX model for both (an RTMO-signature network with random weights from tests/model_factory.py:
``input`` [1,3,640,640] -> ``dets`` [1,P,5] + ``keypoints`` [1,P,17,3]), same images (the real JPEGs of
../shared: coco_sample, coco_mini, ochuman_sample), each repeated under its own file name so JPEG
decoding is paid every time, as in a real condition. Two model sizes: the tiny test model, whose
inference is cheap (the image work dominates), and a wider one. Best of ``--repeats`` runs.

Target (issue 9): ours >= 1.0x the peer's images/s, with the same predictions.

    python benchmarks/bench_onestage.py [--images 96] [--repeats 3] [--batch 1] [--json OUT]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "tests"))

from model_factory import export_rtmo  # noqa: E402
from robustpose_bench.evaluation import predict_onestage  # noqa: E402
from robustpose_bench.models.loader import load_model  # noqa: E402

RTMLIB_THRESHOLDS = {"score_thr": 0.7, "nms_iou": 0.45, "nms_pixel_offset": 1}


def sample_images(tmp: Path, n: int) -> list[str]:
    src = sorted((SHARED / "data").glob("coco_sample/*.jpg")) + sorted((SHARED / "data").glob("coco_mini/val2017/*.jpg")) \
        + sorted((SHARED / "data").glob("ochuman_sample/*.jpg"))
    names = []
    for i in range(n):
        name = f"{i:04d}_{src[i % len(src)].name}"
        shutil.copyfile(src[i % len(src)], tmp / name)
        names.append(name)
    return names


def cpu_wall(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def run_case(label: str, onnx: Path, folder: Path, names: list[str], batch: int, repeats: int) -> dict:
    import rtmlib

    spec = load_model(onnx, spec="rtmo-rtmlib", device="cpu").spec.to_dict()
    spec["output"].update(RTMLIB_THRESHOLDS)
    ours_model = load_model(onnx, spec=spec, device="cpu")
    with contextlib.redirect_stdout(io.StringIO()):
        peer = rtmlib.RTMO(str(onnx), model_input_size=(640, 640), backend="onnxruntime", device="cpu",
                           nms_thr=RTMLIB_THRESHOLDS["nms_iou"], score_thr=RTMLIB_THRESHOLDS["score_thr"])

    def run_peer():
        return [peer(cv2.imread(str(folder / n))) for n in names]

    def run_ours():
        return predict_onestage(ours_model, names, lambda f: folder / f, "coco", batch=batch)

    run_peer(), run_ours()  # warm-up: sessions, thread pools, page cache
    t_peer = [cpu_wall(run_peer) for _ in range(repeats)]
    t_ours = [cpu_wall(run_ours) for _ in range(repeats)]
    peer_out, ours_out = t_peer[0][2], t_ours[0][2]
    same, persons, worst = True, 0, 0.0
    for (kp, _), p in zip(peer_out, ours_out):
        if len(p) == 0:
            same &= bool(kp.shape[0] == 1 and np.all(kp == 0))  # rtmlib's placeholder for "nobody"
            continue
        same &= kp.shape == p.keypoints.shape
        if kp.shape == p.keypoints.shape:
            worst = max(worst, float(np.abs(kp - p.keypoints).max()))
        persons += len(p)
    same &= worst <= 0.01
    if not same:
        raise SystemExit(f"{label}: our predictions differ from rtmlib's (largest keypoint difference {worst:.4f} px)")
    wall = lambda ts: min(t[0] for t in ts)  # noqa: E731
    cpu = lambda ts: min(t[1] for t in ts)  # noqa: E731
    n = len(names)
    return {"model": label, "images": n, "persons": persons, "batch": batch, "max_keypoint_diff_px": worst,
            "peer_images_s": n / wall(t_peer), "ours_images_s": n / wall(t_ours),
            "ratio": wall(t_peer) / wall(t_ours),
            "cpu_ms_per_image": {"peer": 1000 * cpu(t_peer) / n, "ours": 1000 * cpu(t_ours) / n}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--batch", type=int, default=1, help="images per forward pass for ours (the exports have batch 1)")
    ap.add_argument("--repeats", type=int, default=3, help="best of N")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rpb-bench-onestage-") as tmp:
        tmp = Path(tmp)
        names = sample_images(tmp, args.images)
        for label, channels in (("RTMO-signature tiny (8 ch)", 8), ("RTMO-signature wide (96 ch)", 96)):
            (tmp / str(channels)).mkdir()
            onnx = export_rtmo(tmp / str(channels), channels=channels)
            rows.append(run_case(label, onnx, tmp, names, args.batch, args.repeats))
    from importlib.metadata import version

    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; onnxruntime threads: default; "
          f"peer: rtmlib {version('rtmlib')}")
    print(f"{'model':<30} {'images':>6} {'persons':>7} {'peer img/s':>10} {'ours img/s':>10} {'ours/peer':>9} "
          f"{'max diff px':>11}")
    for r in rows:
        print(f"{r['model']:<30} {r['images']:>6} {r['persons']:>7} {r['peer_images_s']:>10.1f} "
              f"{r['ours_images_s']:>10.1f} {r['ratio']:>9.2f} {r['max_keypoint_diff_px']:>11.2g}")
    print("CPU time per image (ms, all threads): " + "; ".join(
        f"{r['model']}: peer {r['cpu_ms_per_image']['peer']:.1f}, ours {r['cpu_ms_per_image']['ours']:.1f}" for r in rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
