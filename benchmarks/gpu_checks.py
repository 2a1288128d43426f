"""Issue 22's GPU checks in one run (about 5 minutes on one H100; budget 8), for someone with a GPU.

    python benchmarks/gpu_checks.py [--shared ../shared] [--json FILE]      # on the GPU machine
    python benchmarks/gpu_checks.py --device cpu --quick                    # CPU smoke run of the same code

Figures go to ``--json`` (default ``$OUT/gpu_checks.json`` when ``OUT`` is set, else ``gpu_checks.json``),
rewritten after every part, so that a run cut short keeps what it measured. A part that fails is recorded
with its one-line error and the others still run; the exit status is 1 if any part failed.

(a) **DDP under torchrun with NCCL, 1 GPU** (``torchrun --standalone --nproc_per_node 1 -m robustpose_bench
    train --device cuda``) on the synthetic set of ``tests/_advmix_synth.py``:
    - correctness: standard training, then AdvMix (KD from it, the generator), 8 iterations each at
      128x96, deterministic kernels; ``run.json`` must say backend nccl, world size 1, and the weights are
      compared with the same runs in one process (plain ``robustpose-bench train``); a ``--sync-bn`` run
      must finish (with one GPU SyncBatchNorm has nothing to synchronise: the 8-GPU case is not checked);
    - speed: SimpleBaseline-R50 and HRNet-W32 at 256x192, 32 images per GPU (the paper's per-GPU batch),
      standard and AdvMix (KD), AMP, real DataLoader workers: iterations/s from tqdm's rate at the end of
      the run (its moving average, so start-up is not in it), and the 8-GPU time of the paper's schedules
      *if* 8 GPUs kept that per-GPU rate (the all-reduce across GPUs is not measured with one GPU).
(b) **onnxruntime's CUDA provider vs its CPU provider**: keypoints of the shared MoveNet (int8) and of a
    heatmap net exported here, through ``predict_topdown`` on the shared COCO sample's ground-truth boxes;
    the provider each session really got is recorded (``OnnxBackend`` falls back to the CPU quietly).
    Skipped, and said so, when this onnxruntime has no CUDA provider.
(c) **eval throughput, model-only vs end-to-end crops/s**: ``benchmarks/bench_eval.py`` with the heatmap
    net as TorchScript on torch's CUDA, and (with a CUDA provider) both ONNX models on onnxruntime's.

``benchmarks/gpu_check.py`` is the older, single-process check (Stepper rates without data loading,
TorchScript eval, one-stage eval, the CLI); this one adds what issue 22 needs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

COCO_TRAIN_PERSONS = 149813   # HRNet's COCO train2017 loader count ("=> load 149813 samples"); not counted here
# (config, epochs, effective batch, processes of the 8-GPU command in docs/advmix.md)
PAPER_RUNS = {
    "simplebaseline_r50": ("coco_simplebaseline_r50_256x192", 140, 256, 8),
    "hrnet_w32": ("coco_hrnet_w32_256x192", 210, 128, 4),
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "4")
    return env


def _run(cmd: list[str], timeout: float) -> tuple[int, float, str, str]:
    """(exit status, seconds, stdout, stderr) of ``cmd``; a timeout is exit status 124."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
        return p.returncode, time.perf_counter() - t0, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        def text(b: Any) -> str:
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return 124, time.perf_counter() - t0, text(exc.stdout), text(exc.stderr)


def train_cmd(args: list[str], nproc: int | None) -> list[str]:
    """``robustpose-bench train ARGS``, under torchrun with ``nproc`` processes, or plain (None)."""
    launcher = [] if nproc is None else ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    return [sys.executable, *launcher, "-m", "robustpose_bench", "train", *args]


def _tail(text: str, n: int = 600) -> str:
    """The project's one-line error when there is one (torchrun's failure report follows it), else the end."""
    ours = [ln for ln in text.splitlines() if ln.startswith("robustpose-bench ")]
    return ours[-1] if ours else text[-n:].strip()


def tqdm_rate(stderr: str) -> float | None:
    """The last iterations/s tqdm printed (its moving average over the last iterations)."""
    found = re.findall(r"(\d+(?:\.\d+)?)(it/s|s/it)", stderr)
    if not found:
        return None
    value, unit = found[-1]
    return float(value) if unit == "it/s" else 1.0 / float(value)


def _weights_diff(a: Path, b: Path) -> dict[str, Any]:
    import torch

    sa = torch.load(a, weights_only=True)
    sb = torch.load(b, weights_only=True)
    out: dict[str, Any] = {}
    for key in ("state_dict", "generator"):
        if key in sa:
            diffs = [float((sa[key][k].double() - v.double()).abs().max()) for k, v in sb[key].items()
                     if v.is_floating_point()]
            out[key] = {"max_abs_diff": max(diffs), "identical": all(torch.equal(sa[key][k], v)
                                                                     for k, v in sb[key].items())}
    return out


# ---------------------------------------------------------------- (a) DDP

def ddp_correctness(tmp: Path, device: str, quick: bool, timeout: float) -> dict[str, Any]:
    from _advmix_synth import make_coco_dataset

    images, ann = make_coco_dataset(tmp / "small", n_images=8, size=(96, 128))
    cfg = tmp / "det.yaml"
    cfg.write_text("deterministic: true\n")
    iters = "3" if quick else "8"
    common = ["--config", str(cfg), "--arch", "simplebaseline_r18_small", "--images", str(images), "--ann", str(ann),
              "--image-size", "64x32" if quick else "128x96", "--batch-size", "4", "--epochs", "100",
              "--max-iters", iters, "--device", device, "--no-progress", "--jobs", "0"]
    report: dict[str, Any] = {}
    for method in ("standard", "advmix"):
        extra = ["--method", method]
        if method == "advmix":
            extra += ["--pretrained", str(tmp / "plain_standard" / "last.pth")]
        for how, nproc in (("plain", None), ("torchrun", 1)):
            out = tmp / f"{how}_{method}"
            rc, secs, so, se = _run(train_cmd([*common, *extra, "--out", str(out)], nproc), timeout)
            entry = {"rc": rc, "seconds": round(secs, 1)}
            if rc != 0:
                entry["stderr_tail"] = _tail(se)
            else:
                meta = json.loads((out / "run.json").read_text())
                entry.update({k: meta.get(k) for k in ("world_size", "backend", "device", "batch_per_process",
                                                       "amp", "cuda_device")})
            report[f"{how}_{method}"] = entry
        if report[f"plain_{method}"]["rc"] == 0 and report[f"torchrun_{method}"]["rc"] == 0:
            report[f"torchrun_vs_plain_{method}"] = _weights_diff(tmp / f"torchrun_{method}" / "last.pth",
                                                                  tmp / f"plain_{method}" / "last.pth")
    out = tmp / "torchrun_syncbn"
    rc, secs, so, se = _run(train_cmd([*common, "--method", "standard", "--sync-bn", "--out", str(out)], 1), timeout)
    sync = {"rc": rc, "seconds": round(secs, 1), **(
        {"sync_bn": json.loads((out / "run.json").read_text()).get("sync_bn")} if rc == 0 else
        {"stderr_tail": _tail(se)})}
    if device == "cpu":   # SyncBatchNorm is CUDA-only in torch: the trainer must refuse it in one line
        sync["refused_as_expected"] = rc != 0 and "--sync-bn needs CUDA" in sync.get("stderr_tail", "")
    report["torchrun_sync_bn"] = sync
    want_backend = "nccl" if device == "cuda" else "gloo"
    ok = all(v.get("rc") == 0 or v.get("refused_as_expected") for k, v in report.items()
             if isinstance(v, dict) and "rc" in v)
    ok = ok and all(report[f"torchrun_{m}"].get("backend") == want_backend for m in ("standard", "advmix"))
    report["ok"] = ok
    return report


def ddp_speed(tmp: Path, device: str, quick: bool, workers: int, iters: int, timeout: float) -> dict[str, Any]:
    import torch

    from _advmix_synth import make_coco_dataset
    from robustpose_bench.advmix.nets import build_net

    size = (48, 64) if quick else (192, 256)
    archs = ["simplebaseline_r18_small"] if quick else list(PAPER_RUNS)
    batch = "4" if quick else "32"
    # One epoch holds the whole run: the trainer starts new DataLoader workers every epoch, which a
    # 585-step COCO epoch hardly notices and a short synthetic one would measure.
    images, ann = make_coco_dataset(tmp / "speed", n_images=int(batch) * (iters + 2), size=size)
    report: dict[str, Any] = {"per_gpu_batch": int(batch), "iterations": iters, "workers": workers}
    for arch in archs:
        torch.manual_seed(0)
        init = tmp / f"init_{arch}.pth"
        torch.save(build_net(arch, 17).state_dict(), init)   # AdvMix's teacher: any weights time the same
        for method in ("standard", "advmix"):
            out = tmp / f"speed_{arch}_{method}"
            args = ["--arch", arch, "--method", method, "--images", str(images), "--ann", str(ann),
                    "--image-size", "64x32" if quick else "256x192", "--batch-size", batch, "--epochs", "1000",
                    "--max-iters", str(iters), "--device", device, "--jobs", str(workers), "--out", str(out),
                    "--pretrained", str(init)]
            rc, secs, so, se = _run(train_cmd(args, 1), timeout)
            rate = tqdm_rate(se) if rc == 0 else None
            entry: dict[str, Any] = {"rc": rc, "seconds_with_start_up": round(secs, 1), "it_s": rate,
                                     "crops_s": None if rate is None else rate * int(batch)}
            if rc != 0:
                entry["stderr_tail"] = _tail(se)
            if rate and arch in PAPER_RUNS:
                config, epochs, eff, procs = PAPER_RUNS[arch]
                steps = epochs * (COCO_TRAIN_PERSONS // eff)
                entry["paper_schedule"] = {
                    "config": config, "epochs": epochs, "effective_batch": eff, "processes": procs,
                    "per_process_batch": eff // procs, "iterations": steps,
                    "hours_if_per_gpu_rate_held": round(steps / rate / 3600, 2),
                    "caveat": ("per-GPU rate measured on 1 GPU at 32 images; the all-reduce over the GPUs, "
                               "JPEG decoding of COCO images and storage are not in it")}
            report[f"{arch}_{method}"] = entry
    report["ok"] = all(v["rc"] == 0 and v["it_s"] for k, v in report.items() if isinstance(v, dict))
    return report


# ---------------------------------------------------------------- (b) onnxruntime CUDA vs CPU

def onnx_cuda_vs_cpu(tmp: Path, shared: Path, movenet: Path, device: str) -> dict[str, Any]:
    import numpy as np
    import onnxruntime as ort

    from bench_eval import MOVENET_SPEC, export_heatmap_net
    from robustpose_bench.datasets.coco import coco_gt_instances
    from robustpose_bench.evaluation import predict_topdown
    from robustpose_bench.models.loader import load_model
    from robustpose_bench.models.spec import parse_spec

    providers = ort.get_available_providers()
    report: dict[str, Any] = {"onnxruntime": ort.__version__, "available_providers": providers}
    if device == "cuda" and "CUDAExecutionProvider" not in providers:
        report["skipped"] = "this onnxruntime has no CUDAExecutionProvider (the CPU build; install onnxruntime-gpu)"
        report["ok"] = None
        return report
    sample = shared / "data" / "coco_sample"
    ann = json.loads((sample / "test_coco.json").read_text())
    hm = tmp / "heatmap_net.onnx"
    export_heatmap_net(hm)
    cases = [("movenet_lightning_int8", movenet, parse_spec(MOVENET_SPEC), 1.0),
             ("heatmap_net_256x192", hm, None, 192 / 256)]
    ok = True
    for name, path, spec, aspect in cases:
        inst = coco_gt_instances(ann, aspect)
        preds = {}
        for dev in (device, "cpu"):
            m = load_model(path, spec=spec, device=dev)
            preds[dev] = (m.provider, predict_topdown(m, inst, lambda f: sample / f, "coco", flip=True, batch=8))
            report.setdefault(name, {})[f"provider_{dev}"] = m.provider
        (p_dev, a), (_, b) = preds[device], preds["cpu"]
        d = np.linalg.norm(a.coords - b.coords, axis=2)
        report[name].update({"crops": len(inst), "median_px": float(np.median(d)), "max_px": float(d.max()),
                             "share_within_0.5px": float((d <= 0.5).mean()),
                             "max_score_diff": float(np.abs(a.scores - b.scores).max())})
        if device == "cuda" and p_dev != "CUDAExecutionProvider":
            report[name]["note"] = "the session fell back to the CPU provider"
            ok = False
    report["ok"] = ok
    return report


# ---------------------------------------------------------------- (c) eval throughput

def eval_throughput(tmp: Path, shared: Path, device: str, quick: bool, timeout: float) -> dict[str, Any]:
    import onnxruntime as ort

    crops, repeats = ("24", "1") if quick else ("600", "2")
    base = [sys.executable, "benchmarks/bench_eval.py", "--device", device, "--crops", crops, "--batch", "64",
            "--flip", "--repeats", repeats, "--shared", str(shared)]
    runs = [("torch", ["--models", "heatmap", "--heatmap-format", "torchscript"])]
    if device == "cpu" or "CUDAExecutionProvider" in ort.get_available_providers():
        runs.append(("onnxruntime", ["--models", "movenet,heatmap"]))
    report: dict[str, Any] = {}
    for name, extra in runs:
        out = tmp / f"bench_eval_{name}.json"
        rc, secs, so, se = _run([*base, *extra, "--json", str(out)], timeout)
        entry: dict[str, Any] = {"rc": rc, "seconds": round(secs, 1)}
        if rc == 0:
            entry["rows"] = [{k: r[k] for k in ("model", "provider", "crops", "batch", "flip", "model_only_crops_s",
                                                "end_to_end_crops_s", "naive_crops_s", "e2e_over_model_only")}
                             for r in json.loads(out.read_text())]
        else:
            entry["stderr_tail"] = _tail(se)
        report[name] = entry
    if "onnxruntime" not in report:
        report["onnxruntime"] = {"skipped": "no CUDAExecutionProvider in this onnxruntime"}
    report["ok"] = all(v.get("rc", 0) == 0 for v in report.values() if isinstance(v, dict))
    return report


# ---------------------------------------------------------------- driver

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                    help="the shared folder (default ../shared; ./shared is tried when that is missing)")
    ap.add_argument("--movenet", type=Path, help="MoveNet ONNX (default SHARED/models/movenet_lightning_int8.onnx)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cuda (the checks); cpu runs the same code with gloo and the CPU provider (a smoke run)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and few iterations (the CPU smoke run)")
    ap.add_argument("--iters", type=int, default=60, help="iterations of each speed run (default 60)")
    ap.add_argument("--workers", type=int, default=6, help="DataLoader workers of the speed runs (default 6)")
    ap.add_argument("--parts", default="a,b,c", help="which parts, comma-separated (default a,b,c)")
    ap.add_argument("--budget-s", type=float, default=450, help="skip parts that would start after this (default 450)")
    ap.add_argument("--json", type=Path, help="where the figures go (default $OUT/gpu_checks.json, else ./gpu_checks.json)")
    args = ap.parse_args()
    shared = args.shared if args.shared.is_dir() or not (REPO / "shared").is_dir() else REPO / "shared"
    movenet = args.movenet or shared / "models" / "movenet_lightning_int8.onnx"
    dest = args.json or (Path(os.environ["OUT"]) / "gpu_checks.json" if os.environ.get("OUT") else Path("gpu_checks.json"))
    if args.quick:
        args.iters = min(args.iters, 6)
        args.workers = min(args.workers, 1)

    import torch

    from robustpose_bench.atomic import atomic_write_json

    report: dict[str, Any] = {
        "torch": torch.__version__, "cuda_available": torch.cuda.is_available(), "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "nccl_available": torch.distributed.is_available() and torch.distributed.is_nccl_available(),
        "cpu_count": os.cpu_count(), "shared": str(shared), "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    t_start = time.perf_counter()
    timeout = 120 if args.quick else 180
    with tempfile.TemporaryDirectory(prefix="rpb-gpu-checks-") as tmp_s:
        tmp = Path(tmp_s)
        parts: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
            ("a", "ddp_correctness", lambda: ddp_correctness(tmp, args.device, args.quick, timeout)),
            ("a", "ddp_speed", lambda: ddp_speed(tmp, args.device, args.quick, args.workers, args.iters, timeout)),
            ("b", "onnx_cuda_vs_cpu", lambda: onnx_cuda_vs_cpu(tmp, shared, movenet, args.device)),
            ("c", "eval_throughput", lambda: eval_throughput(tmp, shared, args.device, args.quick, timeout)),
        ]
        wanted = set(args.parts.split(","))
        for letter, name, fn in parts:
            if letter not in wanted:
                continue
            elapsed = time.perf_counter() - t_start
            if elapsed > args.budget_s:
                report[name] = {"skipped": f"time budget: {elapsed:.0f} s used of {args.budget_s:.0f} s", "ok": None}
            elif letter in "bc" and not (shared / "data" / "coco_sample").is_dir():
                report[name] = {"skipped": f"no shared data at {shared} (give --shared)", "ok": None}
            else:
                t0 = time.perf_counter()
                try:
                    report[name] = fn()
                except Exception as exc:   # record it and go on: one failing part must not hide the others
                    last = traceback.extract_tb(exc.__traceback__)[-1]
                    report[name] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                                          f" ({Path(last.filename).name}:{last.lineno})"}
                report[name]["part_seconds"] = round(time.perf_counter() - t0, 1)
            report["total_seconds"] = round(time.perf_counter() - t_start, 1)
            atomic_write_json(dest, report)
            print(f"[{letter}] {name}: ok={report[name].get('ok')} ({report[name].get('part_seconds', 0)} s)",
                  file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1, sort_keys=True))
    return 1 if any(isinstance(v, dict) and v.get("ok") is False for v in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
