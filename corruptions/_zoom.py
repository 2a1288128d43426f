"""The reference's ``clipped_zoom``: scipy ``ndimage.zoom(order=1)`` of a central crop, exact and fast.

imagecorruptions 1.1.2 zooms the central ``ceil(H/z) × ceil(W/z)`` crop by ``(z, z, 1)`` with
``scipy.ndimage.zoom(order=1, mode='constant', cval=0, grid_mode=False)`` and then (zoom_blur)
keeps only the top-left H×W of the result. scipy computes, per axis of input length ``n`` and
output length ``m = round(n*z)``: factor ``f = (n-1)/(m-1)`` (1 when m == 1), source coordinate
``cc = k*f``; ``cc > n-1`` gives cval; otherwise ``s = floor(cc)``, weights
``w0 = 1 - (cc - s)`` and ``w1 = 1 - w0`` on samples ``s`` and ``s+1`` (``s+1`` mirrored to
``n-2`` at the last sample). The value is the sum, in C order of the 2×2×2 taps, of
``((v * wy) * wx) * wc`` in double, stored in the input dtype. The channel axis has factor 1, so
its weights are exactly (1, 0): the zero-weight taps only add ±0 and are skipped.
A zoom of exactly 1 is a plain copy in scipy (early exit); kept here too.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


# numba-callable scalar constructors, to round a double to the output dtype
_SCALAR = {np.float32: np.float32, np.float64: np.float64}


def _crop(length: int, zoom_factor: float) -> tuple[int, int]:
    """(start, size) of the reference's central crop along one axis."""
    size = int(np.ceil(length / float(zoom_factor)))
    return (length - size) // 2, size


def _zoomed_length(length: int, zoom_factor: float) -> int:
    """scipy's output length: ``int(round(n * z))`` (Python round: half to even)."""
    return int(round(length * zoom_factor))


# Part of the hand-written zoom kernel below (why: see there).
@njit(cache=True)
def _axis_taps(in_len: int, out_len: int, n: int):
    """Per output index < n along one axis: valid flag, the two source indices, the two weights."""
    if out_len - 1 != 0:
        factor = (in_len - 1) / (out_len - 1)
    else:
        factor = 1.0
    valid = np.zeros(n, np.bool_)
    i0 = np.zeros(n, np.int64)
    i1 = np.zeros(n, np.int64)
    w0 = np.zeros(n, np.float64)
    w1 = np.zeros(n, np.float64)
    for k in range(n):
        cc = float(k) * factor
        if cc > in_len - 1:
            continue  # mode 'constant': outside -> cval
        start = math.floor(cc)
        valid[k] = True
        i0[k] = start
        if start + 1 < in_len:
            i1[k] = start + 1
        elif in_len >= 2:
            i1[k] = in_len - 2  # mirror of index in_len
        else:
            i1[k] = 0
        a = 1.0 - (cc - start)
        w0[k] = a
        w1[k] = 1.0 - a
    return valid, i0, i1, w0, w1


# Hand-written because no library gives byte-identical output (cv2.resize / cv2.remap use other
# coordinate maps and fixed-point weights) and scipy computes the whole zoomed array, most of
# which zoom_blur crops away. Same double arithmetic as scipy's NI_ZoomShift, in the same order;
# no fastmath, so no reassociation or FMA contraction.
@njit(cache=True)
def _zoom_crop_into(src, top0, ch0, top1, ch1, out_h, out_w, dst, accumulate, dst_type):
    """Write (or, with ``accumulate``, add in dst's dtype) the top-left ``dst.shape[:2]`` of
    scipy's zoom of ``src[top0:top0+ch0, top1:top1+ch1]`` to ``(out_h, out_w, C)``.

    ``src`` and ``dst`` are C-contiguous. Per output row, ``v * wy`` is formed once per source
    sample (the same product scipy forms first for every output that uses it); then each output
    sums its four ``(v*wy)*wx`` terms in scipy's order.
    """
    n_h, n_w, channels = dst.shape
    vy, y0, y1, wy0, wy1 = _axis_taps(ch0, out_h, n_h)
    vx, x0, x1, wx0, wx1 = _axis_taps(ch1, out_w, n_w)
    # unsigned flat offsets: loads need no negative-index wraparound branch
    col0 = (x0 * channels).astype(np.uint64)
    col1 = (x1 * channels).astype(np.uint64)
    row_len = ch1 * channels
    p0 = np.empty(row_len, np.float64)
    p1 = np.empty(row_len, np.float64)
    for i in range(n_h):
        drow = dst[i].reshape(n_w * channels)
        if not vy[i]:  # mode 'constant': the whole row is cval 0
            if not accumulate:
                drow[:] = 0.0
            continue
        s0 = src[top0 + y0[i], top1 : top1 + ch1].reshape(row_len)
        s1 = src[top0 + y1[i], top1 : top1 + ch1].reshape(row_len)
        a0 = wy0[i]
        a1 = wy1[i]
        for m in range(row_len):
            p0[m] = np.float64(s0[m]) * a0
            p1[m] = np.float64(s1[m]) * a1
        for j in range(n_w):
            o = np.uint64(j * channels)
            if not vx[j]:
                if not accumulate:
                    for c in range(channels):
                        drow[o + np.uint64(c)] = 0.0
                continue
            b0 = wx0[j]
            b1 = wx1[j]
            k0 = col0[j]
            k1 = col1[j]
            for c in range(channels):
                cu = np.uint64(c)
                t = 0.0
                t += p0[k0 + cu] * b0
                t += p0[k1 + cu] * b1
                t += p1[k0 + cu] * b0
                t += p1[k1 + cu] * b1
                if accumulate:  # rounded to dst's dtype first, like numpy's ``out += layer``
                    drow[o + cu] = drow[o + cu] + dst_type(t)
                else:
                    drow[o + cu] = t


def clipped_zoom(
    img: np.ndarray, zoom_factor: float, out_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Equal to the reference's ``clipped_zoom(img, zoom_factor)`` on a float H×W×C array.

    With ``out_shape=(h, w)`` only ``result[:h, :w]`` is computed and returned (what zoom_blur
    uses); without it the full zoomed array (larger than ``img``, as snow uses it).
    """
    if img.ndim != 3:
        raise ValueError(f"clipped_zoom expects an H×W×C array, got shape {img.shape}")
    if img.dtype not in (np.float32, np.float64):
        raise ValueError(f"clipped_zoom expects float32 or float64, got {img.dtype}")
    height, width, channels = img.shape
    top0, ch0 = _crop(height, zoom_factor)
    top1, ch1 = _crop(width, zoom_factor)
    out_h = _zoomed_length(ch0, zoom_factor)
    out_w = _zoomed_length(ch1, zoom_factor)
    n_h, n_w = out_h, out_w
    if out_shape is not None:
        n_h, n_w = min(out_h, out_shape[0]), min(out_w, out_shape[1])
    if zoom_factor == 1:  # scipy's early exit: a copy of the input
        return img[top0 : top0 + n_h, top1 : top1 + n_w].copy()
    out = np.empty((n_h, n_w, channels), dtype=img.dtype)
    src = np.ascontiguousarray(img)
    _zoom_crop_into(src, top0, ch0, top1, ch1, out_h, out_w, out, False, _SCALAR[out.dtype.type])
    return out


def zoom_sum(img: np.ndarray, zoom_factors: np.ndarray) -> np.ndarray:
    """``sum(clipped_zoom(img, z)[:H, :W] for z in zoom_factors)``, accumulated in img's dtype in
    the given order, like zoom_blur's ``out += zoom_layer`` (fused: no per-zoom array)."""
    height, width, channels = img.shape
    img = np.ascontiguousarray(img)
    out = np.zeros_like(img)
    for zoom_factor in zoom_factors:
        top0, ch0 = _crop(height, zoom_factor)
        top1, ch1 = _crop(width, zoom_factor)
        out_h = _zoomed_length(ch0, zoom_factor)
        out_w = _zoomed_length(ch1, zoom_factor)
        n_h, n_w = min(out_h, height), min(out_w, width)
        if zoom_factor == 1:
            out[:n_h, :n_w] += img[top0 : top0 + n_h, top1 : top1 + n_w]
        elif (n_h, n_w) == (height, width):
            _zoom_crop_into(img, top0, ch0, top1, ch1, out_h, out_w, out, True, _SCALAR[out.dtype.type])
        else:  # never for zoom >= 1 (the zoomed crop covers the image); kept for completeness
            out[:n_h, :n_w] += clipped_zoom(img, zoom_factor, (height, width))
    return out
