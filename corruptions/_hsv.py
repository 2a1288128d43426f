"""Fused RGB -> HSV -> adjust -> RGB kernel for ``brightness`` and ``saturate``.

Hand-written (numba) because it must be exact and fast, and no library gives both: the
reference runs scikit-image 0.26's ``rgb2hsv`` / ``hsv2rgb`` on the whole float64 image
(boolean-mask passes, ``np.choose`` over six stacked candidate images), about 16× slower
than one pass per pixel, and skimage is not a runtime dependency of this package.
OpenCV's HSV conversion uses other formulas and rounds differently, so it is not an option.

The per-pixel arithmetic below is skimage 0.26's, operation for operation in float64, so the
result is bit-identical:

rgb2hsv (``skimage/color/colorconv.py``)
    v = max(r, g, b); delta = v - min(r, g, b) (``np.ptp``); s = delta / v, 0 where delta == 0;
    hue branches are applied red, then green, then blue, each overwriting the previous one where
    that channel equals v (so ties go to blue, then green):
    red ``(g - b) / delta``, green ``2.0 + (b - r) / delta``, blue ``4.0 + (r - g) / delta``;
    h = (h / 6.0) % 1.0 (NumPy's floor-mod), 0 where delta == 0.
hsv2rgb
    hi = floor(h * 6); f = h * 6 - hi; p = v * (1 - s); q = v * (1 - f * s);
    t = v * (1 - (1 - f) * s); hi = uint8(hi) % 6 selects (v,t,p) (q,v,p) (p,v,t) (p,q,v)
    (t,p,v) (v,p,q).
Numba compiles without fastmath, so LLVM neither reassociates nor contracts to FMA.
"""
from __future__ import annotations

import numpy as np
from numba import njit

ADJUST_SATURATION = 1
ADJUST_VALUE = 2


@njit(cache=True, nogil=True)
def hsv_adjust(x: np.ndarray, channel: int, scale: float, offset: float) -> np.ndarray:
    """``clip(hsv2rgb(hsv') , 0, 1) * 255`` where ``hsv = rgb2hsv(x / 255.)`` and channel
    ``channel`` (1 = S, 2 = V) of ``hsv'`` is ``clip(hsv[c] * scale + offset, 0, 1)``.

    ``x`` is uint8 H×W×3 (C-contiguous); returns float64 H×W×3, as the reference does before
    ``corrupt``'s final ``np.uint8`` cast. brightness uses (V, 1.0, c): ``v * 1.0 + c`` equals
    the reference's ``v + c`` exactly; saturate uses (S, c0, c1).
    """
    height, width = x.shape[0], x.shape[1]
    out = np.empty((height, width, 3), dtype=np.float64)
    for i in range(height):
        for j in range(width):
            r = x[i, j, 0] / 255.0
            g = x[i, j, 1] / 255.0
            b = x[i, j, 2] / 255.0
            # ---- rgb2hsv
            v = r
            if g > v:
                v = g
            if b > v:
                v = b
            mn = r
            if g < mn:
                mn = g
            if b < mn:
                mn = b
            delta = v - mn
            if delta == 0.0:
                s = 0.0
                h = 0.0
            else:
                s = delta / v
                if b == v:
                    raw = 4.0 + (r - g) / delta
                elif g == v:
                    raw = 2.0 + (b - r) / delta
                else:
                    raw = (g - b) / delta
                h = raw / 6.0
                # NumPy floor-mod by 1.0; |h| < 1 here, so fmod(h, 1.0) == h.
                if h < 0.0:
                    h = h + 1.0
            # ---- the corruption's adjustment, np.clip(..., 0, 1)
            if channel == ADJUST_VALUE:
                a = v * scale + offset
                v = 0.0 if a < 0.0 else (1.0 if a > 1.0 else a)
            else:
                a = s * scale + offset
                s = 0.0 if a < 0.0 else (1.0 if a > 1.0 else a)
            # ---- hsv2rgb
            h6 = h * 6.0
            hi = np.floor(h6)
            f = h6 - hi
            p = v * (1.0 - s)
            q = v * (1.0 - f * s)
            t = v * (1.0 - (1.0 - f) * s)
            sector = int(hi) % 6
            if sector == 0:
                c0, c1, c2 = v, t, p
            elif sector == 1:
                c0, c1, c2 = q, v, p
            elif sector == 2:
                c0, c1, c2 = p, v, t
            elif sector == 3:
                c0, c1, c2 = p, q, v
            elif sector == 4:
                c0, c1, c2 = t, p, v
            else:
                c0, c1, c2 = v, p, q
            # ---- np.clip(x, 0, 1) * 255
            out[i, j, 0] = (0.0 if c0 < 0.0 else (1.0 if c0 > 1.0 else c0)) * 255.0
            out[i, j, 1] = (0.0 if c1 < 0.0 else (1.0 if c1 > 1.0 else c1)) * 255.0
            out[i, j, 2] = (0.0 if c2 < 0.0 else (1.0 if c2 > 1.0 else c2)) * 255.0
    return out
