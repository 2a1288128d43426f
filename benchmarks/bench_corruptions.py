"""Engine vs reference (imagecorruptions 1.1.2, mended) on one real 640×427 COCO image.

Both run side by side in one process, interleaved per (corruption, severity), on the same
input and seed; every pair is also checked for byte identity. Numba compilation happens in a
warm-up pass that is timed separately and left out of the ratios.

    python benchmarks/bench_corruptions.py [--image PATH] [--repeats N] [--all] [--json OUT]

Needs the test extra (imagecorruptions, scikit-image) and ../shared beside the checkout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from corruptions import BENCHMARK_CORRUPTIONS, CORRUPTIONS, SEVERITIES, corrupt  # noqa: E402
from oracle import reference_corrupt  # noqa: E402

DEFAULT_IMAGE = REPO.parent / "shared/data/coco_mini/val2017/000000397133.jpg"


def best_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="best of N for the engine (reference: best of min(N, 2))")
    ap.add_argument("--all", action="store_true", help="also time the 4 validation corruptions")
    ap.add_argument("--json", type=Path, help="write the raw timings here")
    args = ap.parse_args()

    with Image.open(args.image) as im:
        image = np.asarray(im.convert("RGB"))
    names = list(CORRUPTIONS) if args.all else list(BENCHMARK_CORRUPTIONS)

    t0 = time.perf_counter()
    for name in names:  # warm-up: numba compilation / cache load, frost texture decoding
        corrupt(image, name, 1, args.seed)
        reference_corrupt(image, name, 1, args.seed)
    warmup = time.perf_counter() - t0

    rows, mismatches = [], []
    for name in names:
        for s in SEVERITIES:
            t_ref, ref = best_time(lambda: reference_corrupt(image, name, s, args.seed), min(args.repeats, 2))
            t_ours, ours = best_time(lambda: corrupt(image, name, s, args.seed), args.repeats)
            same = bool(np.array_equal(ours, ref))
            if not same:
                mismatches.append(f"{name}/{s}")
            rows.append({"corruption": name, "severity": s, "reference_s": t_ref, "engine_s": t_ours, "identical": same})

    h, w = image.shape[:2]
    print(f"image: {args.image.name} ({w}×{h}), seed {args.seed}, warm-up (incl. JIT) {warmup:.1f} s\n")
    print("| corruption | ref s (sum of 5 sev.) | engine s | speed-up | identical |")
    print("|---|---:|---:|---:|---|")
    tot_ref = tot_ours = 0.0
    for name in names:
        r = [x for x in rows if x["corruption"] == name]
        ref_s, our_s = sum(x["reference_s"] for x in r), sum(x["engine_s"] for x in r)
        if name in BENCHMARK_CORRUPTIONS:
            tot_ref, tot_ours = tot_ref + ref_s, tot_ours + our_s
        ident = "yes" if all(x["identical"] for x in r) else "NO"
        print(f"| {name} | {ref_s:.3f} | {our_s:.3f} | {ref_s / our_s:.1f}× | {ident} |")
    print(f"| **total, 15 benchmark × 5 severities** | **{tot_ref:.2f}** | **{tot_ours:.2f}** | "
          f"**{tot_ref / tot_ours:.1f}×** | {'yes' if not mismatches else 'NO'} |")
    print("\nper severity (seconds, reference / engine):")
    for name in names:
        cells = [f"s{x['severity']} {x['reference_s']:.3f}/{x['engine_s']:.3f}" for x in rows if x["corruption"] == name]
        print(f"  {name:<18} " + "  ".join(cells))
    if args.json:
        args.json.write_text(json.dumps({"image": str(args.image), "rows": rows, "warmup_s": warmup}, indent=2))
    if mismatches:
        print(f"\nNOT byte-identical: {', '.join(mismatches)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
