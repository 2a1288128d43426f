"""What keeps the image work byte-identical run to run: OpenCV single-threaded inside our pools.

OpenCV's ``cv2.warpAffine`` (bilinear, uint8) does not give the same pixels for every split of its
rows into stripes: a crop warped in one piece (OpenCV at one thread) and the same crop warped by
OpenCV's thread pool differ by one grey level at some pixels (``benchmarks/opencv_warp_split.py``
measures it; ``tests/test_determinism.py`` pins the fix). Which split a call gets depends on two things outside
our control: the number of OpenCV threads (the machine's core count by default), and whether *any*
other thread of the process is inside an OpenCV parallel loop at that moment: OpenCV keeps one
process-wide "nested region" flag and runs a call that finds it set serially on the calling thread.
Our evaluator warps several images at once in its own thread pool, so which crops got which split
was decided by the scheduler; a model near a tie (noise images give flat heatmaps) turned the grey
level into a moved keypoint.

The evaluator, the builder and the trainer already run images in parallel (threads, processes), so
OpenCV's own threads add nothing there. Inside them OpenCV runs single-threaded
(:func:`opencv_single_threaded`): every warp then takes the one-piece path, on every machine, loaded
or not. ``cv2.setNumThreads`` is process-wide; the previous value is restored when the last user
leaves.

:func:`inject_jitter` is the test hook that makes the scheduler's choices visible: with
``RPB_TEST_JITTER_MS`` set, each pool step first sleeps a random time up to that many milliseconds, so
a result that depends on the interleaving of threads or processes shows up on a quiet machine too.
"""
from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from typing import Iterator

#: Environment variable of the delay-injection test hook (milliseconds; unset or 0: off).
JITTER_ENV = "RPB_TEST_JITTER_MS"

_lock = threading.Lock()
_users = 0
_saved: int | None = None
# The delays must differ run to run (they stand in for a busy machine), so this is not a data RNG and
# is deliberately unseeded; it is private, never the global ``random`` state.
_jitter_rng = random.Random()


@contextlib.contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """Run OpenCV at one thread while inside; re-entrant and safe to enter from several threads."""
    import cv2

    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                cv2.setNumThreads(_saved)
                _saved = None


def set_opencv_single_threaded() -> None:
    """For worker processes that only do our image work (the trainer's DataLoader workers)."""
    import cv2

    cv2.setNumThreads(1)


def opencv_threads() -> int:
    import cv2

    return int(cv2.getNumThreads())


#: Why a GPU run may not repeat bit for bit; recorded in its results, never silent (docs/promises.md).
GPU_NONDETERMINISM = {
    "CUDAExecutionProvider": ("onnxruntime CUDA: cuDNN picks convolution algorithms by timing them "
                              "(cudnn_conv_algo_search EXHAUSTIVE) and some CUDA kernels accumulate with atomics, "
                              "so predictions may differ in the last bits run to run; not tested here"),
    "torch-cuda": ("torch CUDA: cuDNN and cuBLAS kernels may accumulate in a run-dependent order "
                   "(torch.use_deterministic_algorithms is not enabled for inference); not tested here"),
}


def eval_reproducibility(providers: set[str]) -> dict:
    """What an eval's predictions repeat under, for its provenance (``docs/promises.md``, Same bytes)."""
    why = [GPU_NONDETERMINISM[p] for p in sorted(providers) if p in GPU_NONDETERMINISM]
    return {"opencv_threads": 1, "bitwise_repeatable": not why,
            "conditions": ("same machine CPU kernels (instruction set) and library versions; any load, "
                           "--jobs and core count" if not why else "none: see nondeterminism"),
            "nondeterminism": why or None}


def inject_jitter() -> None:
    """Sleep a random 0..``RPB_TEST_JITTER_MS`` ms when the test hook is on; otherwise return at once."""
    raw = os.environ.get(JITTER_ENV)
    if not raw:
        return
    try:
        ms = float(raw)
    except ValueError:
        return
    if ms > 0:
        with _lock:
            d = _jitter_rng.uniform(0.0, ms)
        time.sleep(d / 1000.0)


__all__ = ["GPU_NONDETERMINISM", "JITTER_ENV", "eval_reproducibility", "inject_jitter", "opencv_single_threaded", "opencv_threads", "set_opencv_single_threaded"]
