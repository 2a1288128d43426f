"""The reference's ``plasma_fractal`` (fog's diamond-square height map), exact and fast.

imagecorruptions 1.1.2 fills a ``mapsize``² float64 map level by level (step = mapsize, mapsize/2,
..., 2). Per level it draws three ``np.random.uniform(-wibble, wibble, (n, n))`` arrays (n =
mapsize / step), in this order: square centres, then the diamond points on the corner rows, then
the diamond points on the corner columns; each new value is ``sum / 4 + wibble * u``, where the
sums are built with ``np.roll`` (wrap-around). The draws do not depend on the map, so they are made
with the reference's calls first and the arithmetic, same operands in the same order, runs in one
compiled pass per level.
"""
from __future__ import annotations

import numpy as np
from numba import njit


# Hand-written because the reference's numpy version spends most of its time in np.roll copies and
# strided scatter; no library computes diamond-square. No fastmath: no FMA contraction or
# reassociation, so every value is bit-identical to the numpy expression.
@njit(cache=True)
def _fill_level(m, step, wibble, u_square, u_row, u_col):
    n = m.shape[0] // step
    half = step // 2
    # squares: centre = (corner + corner below) + (corner right + corner below-right), / 4
    for i in range(n):
        i_next = i + 1 if i + 1 < n else 0
        for j in range(n):
            j_next = j + 1 if j + 1 < n else 0
            left = m[i * step, j * step] + m[i_next * step, j * step]
            right = m[i * step, j_next * step] + m[i_next * step, j_next * step]
            m[half + i * step, half + j * step] = (left + right) / 4 + wibble * u_square[i, j]
    # diamonds; dr = the centres just filled, ul = the corners
    for i in range(n):
        i_prev = i - 1 if i > 0 else n - 1
        i_next = i + 1 if i + 1 < n else 0
        for j in range(n):
            j_prev = j - 1 if j > 0 else n - 1
            j_next = j + 1 if j + 1 < n else 0
            dr = m[half + i * step, half + j * step]
            ul = m[i * step, j * step]
            # ltsum = (dr + roll(dr, 1, axis=0)) + (ul + roll(ul, -1, axis=1))
            lt = (dr + m[half + i_prev * step, half + j * step]) + (ul + m[i * step, j_next * step])
            # ttsum = (dr + roll(dr, 1, axis=1)) + (ul + roll(ul, -1, axis=0))
            tt = (dr + m[half + i * step, half + j_prev * step]) + (ul + m[i_next * step, j * step])
            m[i * step, half + j * step] = lt / 4 + wibble * u_row[i, j]
            m[half + i * step, j * step] = tt / 4 + wibble * u_col[i, j]


def plasma_fractal(rng: np.random.RandomState, mapsize: int, wibbledecay: float) -> np.ndarray:
    """Reference ``plasma_fractal(mapsize, wibbledecay)`` drawing from ``rng``: float64 in [0, 1].

    The diamond writes of a level never touch the values that level reads (corner rows/columns
    at half-step offsets vs corners and centres), so filling both in one loop is exact.
    """
    if mapsize < 1 or mapsize & (mapsize - 1) != 0:
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    step = mapsize
    wibble: float = 100
    while step >= 2:
        shape = (mapsize // step,) * 2
        u_square = rng.uniform(-wibble, wibble, shape)
        u_row = rng.uniform(-wibble, wibble, shape)
        u_col = rng.uniform(-wibble, wibble, shape)
        _fill_level(maparray, step, float(wibble), u_square, u_row, u_col)
        step //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


@njit(cache=True)
def _fog_blend(x, plasma, strength, max_val):
    """``np.clip((x / 255. + strength * plasma) * max_val / (max_val + strength), 0, 1) * 255``,
    in the reference's operation order, one pass."""
    height, width, channels = x.shape
    out = np.empty((height, width, channels), np.float64)
    denom = max_val + strength
    for i in range(height):
        for j in range(width):
            fog = strength * plasma[i, j]
            for c in range(channels):
                v = (x[i, j, c] / 255.0 + fog) * max_val / denom
                if v < 0.0:
                    v = 0.0
                elif v > 1.0:
                    v = 1.0
                out[i, j, c] = v * 255
    return out


def fog_blend(x: np.ndarray, plasma: np.ndarray, strength: float) -> np.ndarray:
    """The reference fog's arithmetic after the plasma map: add, rescale by the image maximum, clip.

    ``max_val`` is ``(x / 255.).max()``, which equals ``x.max() / 255.`` exactly (division by a
    positive constant is monotonic and correctly rounded).
    """
    max_val = float(x.max()) / 255.0
    return _fog_blend(x, plasma, float(strength), max_val)
