"""Why eval was not byte-identical run to run (issue 18): a warp's pixels depend on OpenCV's stripe split.

Measures, on this machine's OpenCV:
1. HRNet crops (``topdown.warp_crop``, 192x192, random boxes on random 640x480 images) warped alone at
   one OpenCV thread against the same crops at 2 and 16 threads: how many differ, and by how much;
2. the same 64 crops warped 20 times in a 4-thread pool (as the evaluator's pool does) at OpenCV's
   default thread count and inside ``determinism.opencv_single_threaded``: how many differ from the
   crop warped alone.

    python benchmarks/opencv_warp_split.py [--crops 400]

docs/promises.md ("Same bytes") quotes its output.
"""
from __future__ import annotations

import argparse
import hashlib
import platform
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from robustpose_bench import topdown
from robustpose_bench.determinism import opencv_single_threaded


def crops(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)]
    boxes = [(np.array([rng.uniform(100, 500), rng.uniform(100, 400)], np.float32),
              np.full(2, rng.uniform(0.3, 2.0), np.float32)) for _ in range(n)]
    return images, boxes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--crops", type=int, default=400)
    args = p.parse_args()
    images, boxes = crops(args.crops)

    def warp(i: int) -> np.ndarray:
        c, s = boxes[i]
        return topdown.warp_crop(images[i % len(images)], c, s, (192, 192))

    default = cv2.getNumThreads()
    print(f"opencv-python {cv2.__version__}, {platform.processor() or platform.machine()}, "
          f"OpenCV default threads {default}")
    cv2.setNumThreads(1)
    alone = [warp(i) for i in range(args.crops)]
    for threads in (2, 16):
        cv2.setNumThreads(threads)
        split = [warp(i) for i in range(args.crops)]
        differ = [int((a != b).sum()) for a, b in zip(alone, split)]
        worst = max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(alone, split))
        print(f"alone at 1 thread vs {threads} threads: {sum(d > 0 for d in differ)} of {args.crops} crops differ "
              f"({sum(differ)} channel values, at most {worst} grey level)")
    cv2.setNumThreads(default)

    digest = [hashlib.sha256(a.tobytes()).hexdigest() for a in alone[:64]]
    rounds = 20

    def pooled() -> int:
        with ThreadPoolExecutor(4) as pool:
            return sum(sum(hashlib.sha256(x.tobytes()).hexdigest() != d for x, d in zip(pool.map(warp, range(64)), digest))
                       for _ in range(rounds))

    print(f"4-thread pool, OpenCV at {default} threads: {pooled()} of {64 * rounds} warps differ from the crop warped alone")
    with opencv_single_threaded():
        print(f"4-thread pool, opencv_single_threaded: {pooled()} of {64 * rounds} warps differ from the crop warped alone")


if __name__ == "__main__":
    main()
