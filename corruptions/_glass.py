"""Glass blur's local pixel shuffle, exact and fast.

The reference (imagecorruptions 1.1.2 ``glass_blur``) walks the image bottom-right to top-left
and, per pixel, draws ``dx, dy = np.random.randint(-d, d, size=(2,))`` and runs
``x[h, w], x[h', w'] = x[h', w'], x[h, w]``. Because the right-hand side holds *views*, the
second assignment writes back the value the first one just copied: the "swap" is really a one-way
copy ``x[h, w] = x[h + dy, w + dx]``. And legacy ``RandomState.randint`` gives the same values for
one ``size=(n, 2)`` call as for n sequential ``size=(2,)`` calls, so the offsets can be drawn in
bulk (in row blocks, to bound memory) and applied by a compiled loop in the same pixel order.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Offsets drawn per randint call: bounds memory (16 bytes a pixel) on large images.
_DRAW_BLOCK = 1 << 20


# Hand-written because no library applies a sequential, order-dependent in-place copy: each
# pixel may read one already overwritten earlier in the same sweep. Integer copies only: exact.
@njit(cache=True)
def _copy_rows(img: np.ndarray, offsets: np.ndarray, h_first: int, n_rows: int, max_delta: int) -> None:
    """Apply the one-way copies of rows ``h_first, h_first-1, ...`` (``n_rows`` of them)."""
    width = img.shape[1]
    channels = img.shape[2]
    flat = img.reshape(-1)  # C-contiguous: flat offsets avoid per-index wraparound checks
    k = 0
    for h in range(h_first, h_first - n_rows, -1):
        for w in range(width - max_delta, max_delta, -1):
            dst = (h * width + w) * channels
            src = dst + (offsets[k, 1] * width + offsets[k, 0]) * channels  # (h + dy, w + dx)
            k += 1
            for c in range(channels):
                flat[dst + c] = flat[src + c]


def shuffle_pixels(img: np.ndarray, max_delta: int, iterations: int, rng: np.random.RandomState) -> None:
    """In place: the reference's ``iterations`` sweeps of random local copies on uint8 H×W×C ``img``.

    Draws exactly the reference's stream: 2 ints in [-max_delta, max_delta) per visited pixel.
    """
    if not img.flags.c_contiguous:
        raise ValueError("shuffle_pixels needs a C-contiguous image (it is modified in place)")
    height, width = img.shape[:2]
    rows = list(range(height - max_delta, max_delta, -1))
    cols = max(width - 2 * max_delta, 0)
    if not rows or cols == 0:
        return
    rows_per_block = max(1, _DRAW_BLOCK // cols)
    for _ in range(iterations):
        for b in range(0, len(rows), rows_per_block):
            n_rows = min(rows_per_block, len(rows) - b)
            offsets = rng.randint(-max_delta, max_delta, size=(n_rows * cols, 2))
            _copy_rows(img, offsets, rows[b], n_rows, max_delta)
