"""GPU readiness in one short run: training and evaluation on CUDA, measured, and checked against the CPU.

What it runs (under 5 minutes on one modern GPU; a tiny size on a CPU with ``--tiny``):

1. **training**: ``--iters`` standard and ``--iters`` AdvMix iterations of the project's own ``Stepper``
   (the code ``train`` runs: CUDA + AMP when available) on random normalised crops with real Gaussian
   targets, the paper's SimpleBaseline-R50 at 256x192, batch 32 -> iterations/s and crops/s;
2. **top-down evaluation**: that network (random weights) as TorchScript with its spec embedded, through
   ``predict_topdown`` with the flip test on the shared COCO sample's ground-truth boxes repeated to
   ``--crops`` crops -> crops/s; and the CUDA predictions against the CPU's on the first 64 crops;
3. **one-stage evaluation**: an RTMO-signature network as TorchScript through ``predict_onestage`` ->
   images/s, and CUDA vs CPU persons;
4. **the CLI end to end**: ``robustpose-bench eval`` of the TorchScript model on the clean COCO sample
   (``--partial``), which must report the device it used.

    python benchmarks/gpu_check.py [--iters 200] [--crops 2048] [--images 256] [--json OUT] [--tiny]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from robustpose_bench.advmix.config import TrainConfig  # noqa: E402
from robustpose_bench.advmix.data import gaussian_targets  # noqa: E402
from robustpose_bench.advmix.nets import build_net  # noqa: E402
from robustpose_bench.advmix.trainer import Stepper, build_generator, make_teacher, pick_device  # noqa: E402
from robustpose_bench.evaluation import Instances, predict_onestage, predict_topdown  # noqa: E402
from robustpose_bench.models.loader import load_model  # noqa: E402
from robustpose_bench.models.spec import heatmap_model_spec, torchscript_extra_files  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_rates(arch: str, batch: int, size: tuple[int, int], iters: int, device: torch.device) -> dict:
    w, h = size
    base = dict(arch=arch, image_size=[h, w], heatmap_size=[h // 4, w // 4], batch_size=batch)
    g = torch.Generator().manual_seed(0)
    props = torch.randn(batch, 3, 3, h, w, generator=g)
    joints = torch.rand(batch, 17, 2, generator=g) * torch.tensor([w, h])
    tg, tw = zip(*(gaussian_targets(joints[i].numpy(), np.ones(17), (w, h), (w // 4, h // 4), 2.0) for i in range(batch)))
    target, weight = torch.from_numpy(np.stack(tg)), torch.from_numpy(np.stack(tw))
    torch.manual_seed(0)
    net = build_net(arch, 17)
    std = Stepper(copy.deepcopy(net).to(device), TrainConfig(method="standard", **base), device)
    adv_model = copy.deepcopy(net).to(device)
    cfg_adv = TrainConfig(method="advmix", **base)
    adv = Stepper(adv_model, cfg_adv, device, teacher=make_teacher(adv_model), generator=build_generator(cfg_adv).to(device))
    out = {"arch": arch, "batch": batch, "input_wh": [w, h], "amp": adv.use_amp, "iters": iters}
    for name, st, p in (("standard", std, props[:, :1]), ("advmix", adv, props)):
        for _ in range(3):
            st.step(p, target, weight)  # warm-up: cuDNN autotuning, allocator
        sync(device)
        t0 = time.perf_counter()
        losses = [st.step(p, target, weight) for _ in range(iters)]
        sync(device)
        dt = time.perf_counter() - t0
        out[name] = {"iters_s": iters / dt, "crops_s": iters * batch / dt,
                     "last_loss": losses[-1].loss, "finite_losses": bool(all(np.isfinite(r.loss) for r in losses))}
    out["advmix_over_standard_time"] = out["standard"]["iters_s"] / out["advmix"]["iters_s"]
    return out, net


def sample_instances(shared: Path, crops: int, aspect: float) -> tuple[Instances, Path]:
    from robustpose_bench.datasets.coco import coco_gt_instances

    d = shared / "data" / "coco_sample"
    inst = coco_gt_instances(json.loads((d / "test_coco.json").read_text()), aspect)
    reps = -(-crops // len(inst))
    idx = np.tile(np.arange(len(inst)), reps)[:crops]
    return Instances([inst.files[i] for i in idx], [inst.image_ids[i] for i in idx], inst.centers[idx],
                     inst.scales[idx], inst.box_scores[idx], inst.source, inst.boxes[idx]), d


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return time.perf_counter() - t0, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--arch", default="simplebaseline_r50")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--crops", type=int, default=2048)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--eval-batch", type=int, default=64)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--tiny", action="store_true", help="a CPU smoke run: R18, 2 iterations, few crops")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.tiny:
        args.iters, args.arch, args.batch_size, args.crops, args.images = 2, "simplebaseline_r18", 2, 16, 4
    device = pick_device()
    report: dict = {"torch": torch.__version__, "device": str(device),
                    "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None}
    print(f"torch {torch.__version__}, device {device} {report['gpu'] or ''}", flush=True)

    t, (train, net) = timed(lambda: train_rates(args.arch, args.batch_size, (192, 256), args.iters, device))
    report["training"] = train
    print(f"[1] training {args.arch} batch {args.batch_size} 256x192, AMP {train['amp']}: standard "
          f"{train['standard']['iters_s']:.2f} it/s ({train['standard']['crops_s']:.0f} crops/s), AdvMix "
          f"{train['advmix']['iters_s']:.2f} it/s ({train['advmix']['crops_s']:.0f} crops/s), AdvMix/standard time "
          f"{train['advmix_over_standard_time']:.2f}x  [{t:.0f} s]", flush=True)

    with tempfile.TemporaryDirectory(prefix="rpb-gpu-") as tmp:
        tmp = Path(tmp)
        spec = heatmap_model_spec(f"{args.arch}_random", 256, 192, output_name="heatmaps")
        ts = tmp / "net.pt"
        traced = torch.jit.trace(net.eval().cpu(), torch.zeros(1, 3, 256, 192))
        torch.jit.save(traced, str(ts), _extra_files=torchscript_extra_files(spec))
        inst, img_dir = sample_instances(args.shared, args.crops, 192 / 256)
        m_dev = load_model(ts, device="auto")
        m_cpu = load_model(ts, device="cpu")
        predict_topdown(m_dev, inst, lambda f: img_dir / f, "coco", flip=True, batch=args.eval_batch)  # warm-up
        dt, preds = timed(lambda: predict_topdown(m_dev, inst, lambda f: img_dir / f, "coco", flip=True,
                                                  batch=args.eval_batch))
        k = min(64, len(inst))
        sub = Instances(inst.files[:k], inst.image_ids[:k], inst.centers[:k], inst.scales[:k], inst.box_scores[:k],
                        inst.source, inst.boxes[:k])
        ref = predict_topdown(m_cpu, sub, lambda f: img_dir / f, "coco", flip=True, batch=16)
        diff = np.linalg.norm(preds.coords[:k] - ref.coords, axis=2)
        report["topdown"] = {"provider": m_dev.provider, "crops": len(inst), "crops_s": len(inst) / dt,
                             "flip": True, "batch": args.eval_batch,
                             "cuda_vs_cpu_px": {"median": float(np.median(diff)), "max": float(diff.max()),
                                                "share_within_0.5px": float((diff <= 0.5).mean())}}
        r = report["topdown"]
        print(f"[2] top-down TorchScript {args.arch} 256x192 on {r['provider']}: {r['crops_s']:.0f} crops/s with flip "
              f"({r['crops']} crops, batch {args.eval_batch}); vs CPU: median {r['cuda_vs_cpu_px']['median']:.4f} px, "
              f"max {r['cuda_vs_cpu_px']['max']:.3f} px", flush=True)

        from model_factory import export_rtmo

        onnx = export_rtmo(tmp, channels=96)
        spec1 = load_model(onnx, spec="rtmo", device="cpu").spec.to_dict()
        ts1 = export_rtmo(tmp, channels=96, torchscript=True)
        o_dev, o_cpu = load_model(ts1, spec=spec1, device="auto"), load_model(ts1, spec=spec1, device="cpu")
        names = [f for f in sorted(p.name for p in img_dir.glob("*.jpg"))]
        files = (names * (-(-args.images // len(names))))[: args.images]
        predict_onestage(o_dev, files[:4], lambda f: img_dir / f, "coco")
        dt, persons = timed(lambda: predict_onestage(o_dev, files, lambda f: img_dir / f, "coco", batch=8))
        refp = predict_onestage(o_cpu, names, lambda f: img_dir / f, "coco")
        same = all(len(a) == len(b) for a, b in zip(persons, refp))
        worst = max((float(np.abs(a.keypoints - b.keypoints).max()) for a, b in zip(persons, refp) if len(a)), default=0.0)
        report["onestage"] = {"provider": o_dev.provider, "images": len(files), "images_s": len(files) / dt,
                              "same_person_counts_as_cpu": same, "max_keypoint_diff_px_vs_cpu": worst}
        r = report["onestage"]
        print(f"[3] one-stage TorchScript RTMO-signature on {r['provider']}: {r['images_s']:.0f} images/s; vs CPU: "
              f"same persons {same}, max keypoint difference {worst:.4f} px", flush=True)

        from robustpose_bench.cli import main as cli

        d = args.shared / "data" / "coco_sample"
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            rc = cli(["eval", str(ts), "--dataset", "coco-c", "--images", str(d), "--ann", str(d / "test_coco.json"),
                      "--partial", "-o", str(tmp / "r.json"), "--no-progress"])
        res = json.loads((tmp / "r.json").read_text()) if rc == 0 else {}
        report["cli"] = {"rc": rc, "stdout": out.getvalue().strip(),
                         "device": res.get("provenance", {}).get("device"),
                         "provider": res.get("provenance", {}).get("execution_provider")}
        print(f"[4] robustpose-bench eval (CLI): exit {rc}; {report['cli']['stdout'].splitlines()[-1] if rc == 0 else ''}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return 0 if report["cli"]["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
