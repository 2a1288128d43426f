"""The batched, overlapped inference loop every predictor runs.

Image decoding, warping or letterboxing, and preprocessing of upcoming items run in a thread pool
(OpenCV and numpy release the GIL) while the model runs on the current batch on the calling thread;
the decoding of finished batches goes back to the pool. Items yield a variable number of rows (a
top-down image yields one crop per person); rows are batched across items. Models with a fixed batch
size are fed in chunks by ``LoadedModel.run``; the overlap still hides the image work.

OpenCV runs single-threaded while the pool works (``determinism.py``): with several pool threads
warping at once, OpenCV's own thread pool would split some warps into stripes and not others, and a
warp's pixels depend on that split. Each step first calls the delay-injection test hook.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ..determinism import inject_jitter, opencv_single_threaded

#: load(i) -> (row ids, arrays): the rows of item i, each array with one entry per row
Load = Callable[[int], tuple[np.ndarray, Sequence[np.ndarray]]]
#: infer(arrays of one batch) -> model outputs; decode(row ids, outputs) stores the results
Infer = Callable[[Sequence[np.ndarray]], Any]
Decode = Callable[[np.ndarray, Any], None]


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def run_batched(n_items: int, load: Load, infer: Infer, decode: Decode, *, batch: int,
                workers: int | None = None, prefetch: int | None = None, on_rows: Callable[[int], None] | None = None
                ) -> None:
    """Load items ``0..n_items-1`` ahead in threads, run full batches of rows, decode in threads.

    Rows whose arrays differ in shape from the buffered ones (one-stage models fed images of
    different sizes) start a new batch.
    """
    workers = workers or default_workers()
    prefetch = prefetch or max(4, 2 * workers)
    decodes: list[Future] = []
    buf: list[tuple[np.ndarray, Sequence[np.ndarray]]] = []
    buffered = 0

    def load_step(i: int) -> tuple[np.ndarray, Sequence[np.ndarray]]:
        inject_jitter()
        return load(i)

    def decode_step(ids: np.ndarray, out: Any) -> None:
        inject_jitter()
        decode(ids, out)

    def flush(final: bool) -> None:
        nonlocal buf, buffered
        if not buf:
            return
        ids_all = np.concatenate([b[0] for b in buf])
        arrays = [np.concatenate([b[1][j] for b in buf]) for j in range(len(buf[0][1]))]
        k = 0
        while k < len(ids_all) and (final or len(ids_all) - k >= batch):
            ids = ids_all[k:k + batch]
            out = infer([a[k:k + batch] for a in arrays])
            decodes.append(pool.submit(decode_step, ids, out))
            if on_rows is not None:
                on_rows(len(ids))
            k += len(ids)
        rest = len(ids_all) - k
        buf = [(ids_all[k:], [a[k:] for a in arrays])] if rest else []
        buffered = rest

    with opencv_single_threaded(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpb-eval") as pool:
        pending: deque[Future] = deque()
        try:
            nxt = 0
            while nxt < n_items and len(pending) < prefetch:
                pending.append(pool.submit(load_step, nxt))
                nxt += 1
            while pending:
                ids, arrays = pending.popleft().result()
                if nxt < n_items:
                    pending.append(pool.submit(load_step, nxt))
                    nxt += 1
                if not len(ids):
                    continue
                if buf and tuple(a.shape[1:] for a in arrays) != tuple(a.shape[1:] for a in buf[0][1]):
                    flush(final=True)
                buf.append((ids, arrays))
                buffered += len(ids)
                if buffered >= batch:
                    flush(final=False)
            flush(final=True)
            for f in decodes:
                f.result()
        except BaseException:
            for f in list(pending) + decodes:
                f.cancel()
            raise
