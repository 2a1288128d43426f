"""Eval at scale: 1 vs 2 dask workers, and the cost of resuming a finished run, side by side in one run.

Workload: a real build (``robustpose-bench build``) of the COCO sample in ../shared, clean + 7
corruptions x 2 severities = 15 conditions, its 118 person detections (the format of HRNet's
``COCO_val2017_detections_AP_H_56_person.json``), flip test on; model: the SimpleBaseline-shaped
heatmap net of bench_eval.py (256x192, random weights, ONNX, dynamic batch). Every variant evaluates
the same command into a fresh predictions folder; the rows must be identical.

- ``local``: this process (onnxruntime limited to 1 thread, as each worker);
- ``dask 1`` / ``dask 2``: a LocalCluster on 127.0.0.1 with 1 or 2 worker processes (1 thread, eval=1),
  started before the clock starts; speed-up = dask 1 time / dask 2 time (target >= 1.8x); again with
  one image thread per worker (``--jobs 1``); for each, the CPU cores the run kept busy on average
  (CPU time of this process and its descendants / wall time): one worker already overlaps its image
  work with inference on the second core; and again with each worker process pinned to a core of its own
  (every thread of it, by CPU affinity), so that a worker is exactly one core, as a worker per GPU is one
  GPU: the scaling of the backend itself;
- ``resume``: the same local command again over the finished folder; cost = its time / the first run's
  (target < 5%).

    python benchmarks/bench_eval_scale.py [--repeats 2] [--json OUT]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_eval import export_heatmap_net  # noqa: E402
from robustpose_bench.cli import main as cli  # noqa: E402

CORRUPTIONS = "gaussian_noise,shot_noise,defocus_blur,motion_blur,fog,contrast,jpeg_compression"
CPU_USED: list[float] = []  # cores busy on average during each timed eval


def quiet(*argv) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return cli([str(a) for a in argv])


def _cpu_seconds() -> float:
    """CPU time of this process and all its descendants (the dask worker processes included)."""
    import psutil

    procs = [psutil.Process()]
    procs += procs[0].children(recursive=True)
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _pin_to_core(core: int) -> None:
    """Pin every thread of this (worker) process to one core; threads made later inherit it."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), {core})


def timed_eval(model: Path, d: Path, data: Path, out: Path, *extra) -> tuple[float, dict]:
    """(wall seconds, results) of one eval; the CPU cores it kept busy go to CPU_USED."""
    c0 = _cpu_seconds()
    t0 = time.perf_counter()
    rc = quiet("eval", model, "--dataset", "coco-c", "--images", d, "--ann", d / "test_coco.json", "--data", data,
               "--boxes", d / "test_coco_det_AP_H_56.json", "--partial", "--intra-op-threads", "1",
               "-o", out / "results.json", "--no-progress", *extra)
    dt = time.perf_counter() - t0
    CPU_USED.append((_cpu_seconds() - c0) / dt)
    if rc != 0:
        raise SystemExit(f"eval failed ({rc}) for {extra}")
    return dt, json.loads((out / "results.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2, help="best of N for each variant")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    d = SHARED / "data" / "coco_sample"
    with tempfile.TemporaryDirectory(prefix="rpb-bench-scale-") as tmp:
        tmp = Path(tmp)
        assert quiet("build", "coco-c", "--images", d, "--ann", d / "test_coco.json", "--data", tmp / "data",
                     "--corruptions", CORRUPTIONS, "--severities", "1,2", "--jobs", "2", "--no-progress") == 0
        model = tmp / "net.onnx"
        export_heatmap_net(model)
        times: dict[str, list[float]] = {"local": [], "dask 1": [], "dask 2": [], "resume": [],
                                         "dask 1, 1 image thread": [], "dask 2, 1 image thread": [],
                                         "dask 1, pinned": [], "dask 2, pinned": []}
        pinnable = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
        if not pinnable:
            del times["dask 1, pinned"], times["dask 2, pinned"]
        cores: dict[str, list[float]] = {k: [] for k in times}
        rows = {}
        n = 0
        for rep in range(args.repeats):
            n += 1
            out = tmp / f"local{n}"
            t, res = timed_eval(model, d, tmp / "data", out)
            times["local"].append(t)
            cores["local"].append(CPU_USED[-1])
            rows["local"] = res["rows"]
            t, res = timed_eval(model, d, tmp / "data", out)
            times["resume"].append(t)
            cores["resume"].append(CPU_USED[-1])
            for workers in (1, 2):
                variants = [((), f"dask {workers}", False), (("--jobs", "1"), f"dask {workers}, 1 image thread", False)]
                if pinnable:
                    variants.append(((), f"dask {workers}, pinned", True))
                for extra, label, pin in variants:
                    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      resources={"eval": 1}, dashboard_address=None) as cluster:
                        if pin:
                            cores_free = sorted(os.sched_getaffinity(0))
                            with Client(cluster) as client:
                                for core, addr in zip(cores_free, sorted(client.scheduler_info()["workers"])):
                                    client.run(_pin_to_core, core, workers=[addr])
                        n += 1
                        t, res = timed_eval(model, d, tmp / "data", tmp / f"dask{n}", "--backend", "dask",
                                            "--scheduler", cluster.scheduler_address, *extra)
                        times[label].append(t)
                        cores[label].append(CPU_USED[-1])
                        rows[label] = res["rows"]
        same = all(r == rows["local"] for r in rows.values())
        crops = 118 * 15
    best = {k: min(v) for k, v in times.items()}
    report = {"conditions": 15, "crops_per_condition": 118, "flip": True, "cpus": os.cpu_count(),
              "load_average_end": os.getloadavg()[0], "seconds_best": best, "seconds_all": times,
              "speedup_2_over_1_workers": best["dask 1"] / best["dask 2"],
              "speedup_2_over_1_workers_1_image_thread": best["dask 1, 1 image thread"] / best["dask 2, 1 image thread"],
              "speedup_2_over_1_workers_pinned": (best["dask 1, pinned"] / best["dask 2, pinned"]) if pinnable else None,
              "cores_busy": {k: max(v) for k, v in cores.items() if v},
              "resume_over_first_run": best["resume"] / best["local"], "identical_rows": same,
              "crops_s": {k: crops / v for k, v in best.items() if k != "resume"}}
    print(f"CPU cores {os.cpu_count()}, load average {report['load_average_end']:.1f}; 15 conditions x 118 crops, flip on")
    for k, v in best.items():
        print(f"  {k:<24} {v:7.2f} s" + (f"  {crops / v:6.0f} crops/s" if k != "resume" else "")
              + f"  {report['cores_busy'][k]:.2f} cores busy")
    print(f"  2 workers / 1 worker: {report['speedup_2_over_1_workers']:.2f}x (target >= 1.8), with one image thread "
          f"per worker {report['speedup_2_over_1_workers_1_image_thread']:.2f}x"
          + (f", one core per worker {report['speedup_2_over_1_workers_pinned']:.2f}x" if pinnable else "")
          + f"; resume: "
          f"{100 * report['resume_over_first_run']:.1f}% of the first run (target < 5%); identical rows: {same}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
