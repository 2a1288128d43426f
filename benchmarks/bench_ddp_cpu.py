"""Training iterations/s on the CPU: one process against N processes under torchrun (gloo), same global batch.

    python benchmarks/bench_ddp_cpu.py [--nproc 2] [--iters 30] [--batch-size 16] [--json OUT]

Runs ``robustpose-bench train`` on the synthetic set of ``tests/_advmix_synth.py`` (64 persons) with the
demo's net and generator (``demo_synth_r18small_128x96``: SimpleBaseline-R18 at width 16, 128x96, a
16-channel generator), standard and AdvMix (KD), each in one process at N threads, in one process at one
thread, and in N processes at one thread each (torchrun's default). The rate is tqdm's at the end of the run (its moving average, so
process start-up is not in it). On a CPU, N processes share the cores one process would use: this
measures what DDP costs (all-reduce, N data pipelines), not a speed-up. GPU figures: gpu_checks.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from gpu_checks import _run, _tail, tqdm_rate, train_cmd  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=16, help="the global batch (default 16)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    from _advmix_synth import make_coco_dataset
    from robustpose_bench.advmix.nets import build_net

    rows = []
    with tempfile.TemporaryDirectory(prefix="rpb-ddp-cpu-") as tmp_s:
        tmp = Path(tmp_s)
        images, ann = make_coco_dataset(tmp / "data", n_images=64, size=(96, 128))
        torch.manual_seed(0)
        torch.save(build_net("simplebaseline_r18_small", 17).state_dict(), tmp / "init.pth")
        for method in ("standard", "advmix"):
            # one process at N threads and at 1 (the cost of N processes beside one of them), N processes
            for nproc, threads in ((None, args.nproc), (None, 1), (args.nproc, 1)):
                out = tmp / f"{method}_{nproc or 1}x{threads}"
                cmd = train_cmd(["--config", "demo_synth_r18small_128x96", "--method", method, "--images", str(images),
                                 "--ann", str(ann), "--pretrained", str(tmp / "init.pth"), "--batch-size",
                                 str(args.batch_size), "--epochs", "1000", "--max-iters", str(args.iters),
                                 "--device", "cpu", "--out", str(out),
                                 *(["--threads", str(threads)] if nproc is None else [])], nproc)
                env_threads = os.environ.get("OMP_NUM_THREADS")
                os.environ["OMP_NUM_THREADS"] = str(threads)
                try:
                    rc, secs, _, err = _run(cmd, timeout=1800)
                finally:
                    if env_threads is None:
                        os.environ.pop("OMP_NUM_THREADS")
                    else:
                        os.environ["OMP_NUM_THREADS"] = env_threads
                rate = tqdm_rate(err) if rc == 0 else None
                row = {"method": method, "processes": nproc or 1, "threads_each": threads, "rc": rc,
                       "it_s": rate, "crops_s": rate and rate * args.batch_size, "seconds": round(secs, 1)}
                if rc:
                    row["error"] = _tail(err)
                rows.append(row)
                print(json.dumps(row), flush=True)
    report = {"rows": rows, "batch_size": args.batch_size, "iters": args.iters, "cpu_count": os.cpu_count(),
              "load_average_1min": os.getloadavg()[0], "torch": torch.__version__}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
