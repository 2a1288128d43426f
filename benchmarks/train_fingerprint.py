"""What decides the bits of a CPU training run? Fingerprint a few iterations under several settings.

Why: two seeded runs of the same code on one machine give identical weights, but a run elsewhere may
not (issue 11). This trains 3 standard and 3 AdvMix iterations (SimpleBaseline-R18 at width 16,
128x96, batch 4, AdvMix from the standard weights) on 4 generated synth images, once per setting, each
in a fresh subprocess (the thread pool and the kernel choice are fixed at start-up), and prints the
sha256 of the final weights per setting as a Markdown table (docs/advmix.md, "Determinism"):

    python benchmarks/train_fingerprint.py [--out DIR]

Settings: the thread count (``OMP_NUM_THREADS``), ATen's vectorised kernel level
(``ATEN_CPU_CAPABILITY``), oneDNN's instruction set (``ONEDNN_MAX_CPU_ISA``) and PyTorch's
deterministic mode. Each is run twice where noted, to show that a fixed setting repeats.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# (label, environment additions); the first is the reference.
SETTINGS: tuple[tuple[str, dict[str, str]], ...] = (
    ("2 threads", {"OMP_NUM_THREADS": "2"}),
    ("2 threads, again", {"OMP_NUM_THREADS": "2"}),
    ("1 thread", {"OMP_NUM_THREADS": "1"}),
    ("1 thread, again", {"OMP_NUM_THREADS": "1"}),
    ("3 threads", {"OMP_NUM_THREADS": "3"}),
    ("2 threads, torch.use_deterministic_algorithms(True)", {"OMP_NUM_THREADS": "2", "FINGERPRINT_DETERMINISTIC": "1"}),
    ("2 threads, ATEN_CPU_CAPABILITY=default (no SIMD in ATen kernels)",
     {"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default"}),
    ("2 threads, ONEDNN_MAX_CPU_ISA=AVX (oneDNN below AVX2)", {"OMP_NUM_THREADS": "2", "ONEDNN_MAX_CPU_ISA": "AVX"}),
)


def fingerprint(data: Path, work: Path) -> dict[str, str]:
    """Train in ``work``; the sha256 (16 hex digits) of each run's final pose-net weights."""
    import torch

    from robustpose_bench.advmix.config import TrainConfig
    from robustpose_bench.advmix.trainer import cpu_numerics, train

    if os.environ.get("FINGERPRINT_DETERMINISTIC") == "1":
        torch.use_deterministic_algorithms(True)
    common = dict(arch="simplebaseline_r18_small", images=str(data / "images"),
                  ann=str(data / "annotations" / "person_keypoints_synth.json"), image_size=[128, 96],
                  heatmap_size=[32, 24], batch_size=4, epochs=10, max_iters=3, generator_ngf=16, seed=3)
    out: dict[str, str] = {}
    for method in ("standard", "advmix"):
        extra = {"method": "advmix", "pretrained": str(work / "standard" / "last.pth")} if method == "advmix" else {}
        train(TrainConfig(**common, **extra), work / method, progress=False)
        state = torch.load(work / method / "last.pth", weights_only=True)["state_dict"]
        h = hashlib.sha256()
        for key in sorted(state):
            h.update(state[key].contiguous().numpy().tobytes())
        out[method] = h.hexdigest()[:16]
    numerics = cpu_numerics()
    out.update(threads=str(numerics["torch_threads"]), capability=str(numerics["cpu_capability"]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    p.add_argument("--child", nargs=2, metavar=("DATA", "WORK"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(fingerprint(Path(args.child[0]), Path(args.child[1]))))
        return 0
    from robustpose_bench import synth

    root = args.out or Path(tempfile.mkdtemp(prefix="fingerprint-"))
    data = root / "synth"
    synth.ensure_synth(data, count=4, seed=5)
    rows = []
    for i, (label, env) in enumerate(SETTINGS):
        proc = subprocess.run([sys.executable, __file__, "--child", str(data), str(root / f"run{i}")],
                              env={**os.environ, **env}, capture_output=True, text=True, check=True)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append((label, res))
        print(f"{label}: {res}", file=sys.stderr, flush=True)
    ref = rows[0][1]
    print("| setting | torch threads | ATen kernels | standard weights | AdvMix weights | same as the first row |")
    print("|---|---|---|---|---|---|")
    for label, r in rows:
        same = "yes" if (r["standard"], r["advmix"]) == (ref["standard"], ref["advmix"]) else "**no**"
        print(f"| {label} | {r['threads']} | {r['capability']} | `{r['standard']}` | `{r['advmix']}` | {same} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
