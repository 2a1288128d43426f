"""Top-down pose geometry and decoding, as in HRNet (Sun et al., CVPR 2019) and the AdvMix paper.

Everything here follows HRNet's ``lib/utils/transforms.py``, ``lib/core/inference.py``,
``lib/dataset/coco.py`` / ``mpii.py`` and ``lib/nms/nms.py`` formula for formula, because a
different crop, decode or rescoring rule moves AP by tenths of a point and our numbers must match
the published evaluation. It is written from those formulas (not copied) in vectorised numpy;
no maintained library offers HRNet's exact OKS-NMS / decoding outside full frameworks (mmpose pulls
in mmcv/mmengine and differs in details such as its default decoder), so they are written here.

Coordinate convention: image and crop coordinates are OpenCV's, pixel centres at integers.
Scales are in units of 200 px (HRNet's ``pixel_std``) as ``(w, h)``.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

PIXEL_STD = 200.0
#: HRNet TEST.IN_VIS_THRE (rescoring) and TEST.OKS_THRE.
IN_VIS_THRE = 0.2
OKS_THRE = 0.9
#: COCO keypoint sigmas, as in pycocotools and HRNet's nms.py.
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                        1.07, 1.07, .87, .87, .89, .89]) / 10.0


# ----------------------------------------------------------------------------------------------
# boxes -> centre/scale


def box_to_center_scale(box_xywh: Sequence[float], aspect_ratio: float, padding: float = 1.25
                        ) -> tuple[np.ndarray, np.ndarray]:
    """HRNet ``_xywh2cs``: centre of the box; box grown (never shrunk) to the model's w/h ratio, x1.25."""
    x, y, w, h = (float(v) for v in box_xywh[:4])
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w * 1.0 / PIXEL_STD, h * 1.0 / PIXEL_STD], dtype=np.float32)
    if center[0] != -1:
        scale = scale * padding
    return center, scale


def clean_gt_box(bbox_xywh: Sequence[float], area: float, width: int, height: int) -> list[float] | None:
    """HRNet's GT-box cleaning (coco.py): clip to the image; None for an empty box or zero area."""
    x, y, w, h = (float(v) for v in bbox_xywh[:4])
    x1 = max(0.0, x)
    y1 = max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if area > 0 and x2 >= x1 and y2 >= y1:
        return [x1, y1, x2 - x1, y2 - y1]
    return None


def mpii_center_scale(center: Sequence[float], scale: float, aspect_ratio: float = 1.0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """HRNet mpii.py: centre moved down 15*s px, scale x1.25, then 1-based -> 0-based.

    HRNet's MPII models are square, where this is exactly HRNet. For a non-square model we widen
    (never shrink) the square to the model's aspect ratio, as ``box_to_center_scale`` does for COCO,
    so the crop still holds the whole annotated region.
    """
    c = np.array(center, dtype=np.float64)
    s = np.array([scale, scale], dtype=np.float64)
    if c[0] != -1:
        c[1] = c[1] + 15 * s[1]
        s = s * 1.25
    c = c - 1
    if aspect_ratio > 1:
        s[0] = s[1] * aspect_ratio
    elif aspect_ratio < 1:
        s[1] = s[0] / aspect_ratio
    return c.astype(np.float32), s.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# affine warp


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def get_affine_transform(center: np.ndarray, scale: np.ndarray, output_size: Sequence[int],
                         rot: float = 0.0, inv: bool = False) -> np.ndarray:
    """HRNet's 2x3 affine: box of width ``scale[0]*200`` centred at ``center`` -> ``output_size`` (w, h).

    Only the width of the scale is used, as in HRNet: the caller makes the box match the output's
    aspect ratio first. The scale keeps its dtype (HRNet's boxes give float32, HigherHRNet's
    ``get_multi_scale_size`` float64) and the second point is summed in float64 and stored as
    float32, as the official code does; for float32 inputs this equals a float32 sum.
    """
    scale_px = np.asarray(scale) * PIXEL_STD
    src_w = scale_px[0]
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    r = np.pi * rot / 180.0
    sn, cs = np.sin(r), np.cos(r)
    # direction of the point half a box width "up" from the centre, rotated by rot
    src_dir = np.array([-(src_w * -0.5) * sn, (src_w * -0.5) * cs], dtype=np.float64)
    dst_dir = np.array([0.0, dst_w * -0.5], dtype=np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = np.asarray(center, dtype=np.float64) + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def warp_crop(image: np.ndarray, center: np.ndarray, scale: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """Crop + resize a person with HRNet's affine and bilinear interpolation (black outside)."""
    trans = get_affine_transform(center, scale, output_size)
    return cv2.warpAffine(image, trans, (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR)


def transform_preds(coords: np.ndarray, center: np.ndarray, scale: np.ndarray, output_size: Sequence[int]
                    ) -> np.ndarray:
    """Map (K, 2) points of an ``output_size`` (w, h) map back into the image (HRNet transform_preds)."""
    t = get_affine_transform(center, scale, output_size, inv=True)
    xy1 = np.concatenate([coords[:, :2], np.ones((coords.shape[0], 1))], axis=1)
    return xy1 @ t.T


# ----------------------------------------------------------------------------------------------
# mmpose's crop convention (RTMPose and other mmpose exports)
#
# The same geometry as HRNet's, but in float64 pixels: centre (x1 + x2) / 2, box x1.25 *then* grown to
# the input's aspect ratio (mmpose ``bbox_xyxy2cs`` + ``TopdownAffine._fix_aspect_ratio``), the warp's
# three points computed in float64 and stored as float32 (``get_warp_matrix``), and keypoints mapped
# back as ``kp / input_size * scale + centre - scale / 2``. HRNet stores centre and scale as float32
# in units of 200 px, which moves a warp by ~1e-5 px: enough to change a crop pixel by one grey level
# and, on a near-tie, a SimCC argmax; rtmlib and mmpose do it this way, so their models are run so.


def mmpose_center_scale(box_xywh: Sequence[float], aspect_ratio: float, padding: float = 1.25
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) in float64 pixels of an xywh box, as mmpose/rtmlib make them."""
    x, y, w, h = (float(v) for v in box_xywh[:4])
    return mmpose_center_scale_xyxy((x, y, x + w, y + h), aspect_ratio, padding)


def mmpose_center_scale_xyxy(box_xyxy: Sequence[float], aspect_ratio: float, padding: float = 1.25
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) in float64 pixels of a corner box: ``bbox_xyxy2cs`` then ``_fix_aspect_ratio``."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy[:4])
    center = np.array([x1 + x2, y1 + y2]) * 0.5
    bw, bh = (x2 - x1) * padding, (y2 - y1) * padding
    scale = np.array([bw, bw / aspect_ratio]) if bw > bh * aspect_ratio else np.array([bh * aspect_ratio, bh])
    return center, scale


def mmpose_gt_box(bbox_xywh: Sequence[float], width: int, height: int) -> np.ndarray:
    """mmpose's ground-truth box (``BaseCocoStyleDataset.parse_data_info``): float32 corners
    ``clip(x, 0, W - 1)``, ``clip(x + w, 0, W - 1)`` (and y alike). HRNet's cleaning instead ends the
    box at ``x1 + w - 1``, which moves the centre by half a pixel."""
    x, y, w, h = (float(v) for v in bbox_xywh[:4])
    return np.array([np.clip(x, 0, width - 1), np.clip(y, 0, height - 1),
                     np.clip(x + w, 0, width - 1), np.clip(y + h, 0, height - 1)], dtype=np.float32)


def mmpose_detection_box(bbox_xywh: Sequence[float]) -> np.ndarray:
    """mmpose's detection box (``_load_detection_results``): float32 xywh, then ``bbox_xywh2xyxy``."""
    b = np.array(bbox_xywh[:4], dtype=np.float32)
    b[2:] = b[2:] + b[:2]
    return b


def xyxy_to_xywh(boxes_xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) corners -> x, y, w, h in the boxes' own dtype (mmpose ``bbox_xyxy2xywh``)."""
    b = np.array(boxes_xyxy, copy=True)
    b[:, 2:] = b[:, 2:] - b[:, :2]
    return b


def mmpose_warp_matrix(center: np.ndarray, scale: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """The 2x3 affine mapping the box (float64 pixels) onto ``output_size`` (w, h), no rotation."""
    dst_w, dst_h = output_size[0], output_size[1]
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, scale[0] * -0.5])
    src[2] = _third_point(src[0], src[1])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([0.0, dst_w * -0.5])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def mmpose_warp_crop(image: np.ndarray, center: np.ndarray, scale: np.ndarray, output_size: Sequence[int]
                     ) -> np.ndarray:
    return cv2.warpAffine(image, mmpose_warp_matrix(center, scale, output_size),
                          (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR)


def mmpose_transform_preds(coords: np.ndarray, center: np.ndarray, scale: np.ndarray, frame: Sequence[float]
                           ) -> np.ndarray:
    """(K, 2) points of a ``frame`` (w, h) map -> image pixels: ``kp / frame * scale + centre - scale / 2``."""
    return coords[:, :2] / np.asarray(frame, dtype=np.float64) * scale + center - scale / 2


# ----------------------------------------------------------------------------------------------
# input preprocessing


def preprocess(crops: np.ndarray, layout: str, dtype: str, channel_order: str,
               mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(N, H, W, 3) RGB uint8 crops -> the model's input tensor.

    float32: ``(x - mean) / std`` on 0..255 values (HRNet: ToTensor then Normalize with ImageNet
    statistics is the same as mean*255, std*255 here). uint8: the raw pixels. The channel reversal
    and layout change are views of the uint8 pixels, converted to float32 in one contiguous pass;
    a zero mean or a unit std is skipped (``x - 0`` and ``x / 1`` are exact), the rest in float32.
    """
    x = crops if channel_order == "RGB" else crops[..., ::-1]
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    if dtype != "float32":
        return np.ascontiguousarray(x.astype(np.uint8, copy=False))
    y = np.ascontiguousarray(x, dtype=np.float32)
    shape = (1, 3, 1, 1) if layout == "NCHW" else (1, 1, 1, 3)
    m, s = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    if m.any():
        y -= m.reshape(shape)
    if (s != 1).any():
        y /= s.reshape(shape)
    return y


# ----------------------------------------------------------------------------------------------
# heatmaps


def to_nkhw(heatmaps: np.ndarray, layout: str) -> np.ndarray:
    h = np.asarray(heatmaps, dtype=np.float32)
    return h if layout == "NKHW" else np.ascontiguousarray(h.transpose(0, 3, 1, 2))


def flip_back(heatmaps_flipped: np.ndarray, perm: Sequence[int], shift: bool = True) -> np.ndarray:
    """Un-flip NKHW heatmaps of a mirrored crop: mirror back, swap left/right channels.

    ``shift``: HRNet's TEST.SHIFT_HEATMAP, moving the un-flipped maps one pixel right, because a
    mirrored pixel grid is off by one heatmap pixel (the flip maps column x to W-1-x at input
    resolution, not at heatmap resolution).
    """
    out = heatmaps_flipped[:, list(perm), :, ::-1]
    if shift:
        out = out.copy()
        out[:, :, :, 1:] = out[:, :, :, :-1]
    return np.ascontiguousarray(out)


def get_max_preds(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HRNet get_max_preds: argmax (x, y) per map and its value; maps whose max <= 0 give (0, 0)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    idx = np.argmax(flat, axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)  # (n, k, 1)
    preds = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    preds *= (maxvals > 0.0).astype(np.float32)
    return preds, maxvals


def refine_quarter(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """HRNet TEST.POST_PROCESS: move a quarter pixel toward the higher neighbour, away from borders."""
    n, k, h, w = heatmaps.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    ok = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    pxc = np.clip(px, 1, w - 2)
    pyc = np.clip(py, 1, h - 2)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    dx = heatmaps[ni, ki, pyc, pxc + 1] - heatmaps[ni, ki, pyc, pxc - 1]
    dy = heatmaps[ni, ki, pyc + 1, pxc] - heatmaps[ni, ki, pyc - 1, pxc]
    out = coords.copy()
    out[..., 0] += np.where(ok, np.sign(dx) * 0.25, 0.0).astype(np.float32)
    out[..., 1] += np.where(ok, np.sign(dy) * 0.25, 0.0).astype(np.float32)
    return out


def _gaussian_modulate(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """DARK distribution modulation: Gaussian-smooth each map (zero-padded), keep its max value."""
    border = (kernel - 1) // 2
    n, k, h, w = heatmaps.shape
    out = np.empty_like(heatmaps)
    for i in range(n):
        for j in range(k):
            m0 = heatmaps[i, j].max()
            pad = np.zeros((h + 2 * border, w + 2 * border), dtype=np.float32)
            pad[border:border + h, border:border + w] = heatmaps[i, j]
            sm = cv2.GaussianBlur(pad, (kernel, kernel), 0)[border:border + h, border:border + w]
            mx = sm.max()
            out[i, j] = sm * (m0 / mx) if mx != 0 else sm
    return out


def refine_dark(heatmaps: np.ndarray, coords: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK (Zhang et al., CVPR 2020): Taylor expansion of the log of the smoothed heatmap at the max.

    One Newton step on log(heatmap) locates the sub-pixel mode of a Gaussian exactly; mmpose calls
    this ``post_process='unbiased'``.
    """
    n, k, h, w = heatmaps.shape
    lg = np.log(np.maximum(_gaussian_modulate(heatmaps, kernel), 1e-10))
    out = coords.copy()
    px = coords[..., 0].astype(np.int64)
    py = coords[..., 1].astype(np.int64)
    ok = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    pxc = np.clip(px, 2, w - 3)
    pyc = np.clip(py, 2, h - 3)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

    def at(dy: int, dx: int) -> np.ndarray:
        return lg[ni, ki, pyc + dy, pxc + dx].astype(np.float64)

    c = at(0, 0)
    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy ** 2
    ok &= det != 0
    sdet = np.where(det != 0, det, 1.0)
    # offset = -H^-1 g with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det
    ox = -(dyy * gx - dxy * gy) / sdet
    oy = -(-dxy * gx + dxx * gy) / sdet
    out[..., 0] += np.where(ok, ox, 0.0).astype(np.float32)
    out[..., 1] += np.where(ok, oy, 0.0).astype(np.float32)
    return out


def decode_heatmaps(heatmaps: np.ndarray, post: str = "default", dark_kernel: int = 11
                    ) -> tuple[np.ndarray, np.ndarray]:
    """NKHW heatmaps -> (N, K, 2) heatmap coordinates and (N, K) scores (the heatmap maxima).

    ``post``: "default" = HRNet's quarter-pixel shift; "dark" = DARK; "none" = plain argmax.
    """
    coords, maxvals = get_max_preds(heatmaps)
    if post == "default":
        coords = refine_quarter(heatmaps, coords)
    elif post == "dark":
        coords = refine_dark(heatmaps, coords, dark_kernel)
    elif post != "none":
        raise ValueError(f"heatmap post-processing must be default, dark or none, got {post!r}")
    return coords, maxvals[..., 0]


# ----------------------------------------------------------------------------------------------
# keypoint-coordinate outputs


def decode_keypoint_output(raw: np.ndarray, num: int, values_per_keypoint: int, coords: str, order: str,
                           score_index: int | None, score_activation: str, input_size: Sequence[int]
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Regression output -> (N, K, 2) crop coordinates (pixel centres at integers) and (N, K) scores.

    Normalised and pixel outputs are both read as edge-based (0 .. W spans the crop, the TF/MediaPipe
    convention), hence the -0.5 to OpenCV's pixel-centre convention. Without a score index every
    keypoint scores 1.
    """
    w, h = float(input_size[0]), float(input_size[1])
    v = np.asarray(raw, dtype=np.float32).reshape(raw.shape[0], num, values_per_keypoint)
    a, b = v[..., 0], v[..., 1]
    x, y = (a, b) if order == "xy" else (b, a)
    if coords == "normalized":
        x, y = x * w, y * h
    xy = np.stack([x - 0.5, y - 0.5], axis=-1).astype(np.float32)
    if score_index is None:
        scores = np.ones(v.shape[:2], dtype=np.float32)
    else:
        scores = v[..., score_index].astype(np.float32)
        if score_activation == "sigmoid":
            scores = (1.0 / (1.0 + np.exp(-scores.astype(np.float64)))).astype(np.float32)
    return xy, scores


def unflip_keypoints(xy: np.ndarray, scores: np.ndarray, perm: Sequence[int], input_width: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints predicted on a mirrored crop -> the unmirrored crop (x -> W-1-x, swap left/right)."""
    p = list(perm)
    out = xy[:, p].copy()
    out[..., 0] = (input_width - 1) - out[..., 0]
    return out, scores[:, p]


# ----------------------------------------------------------------------------------------------
# rescoring and OKS-NMS (HRNet coco.py evaluate() and nms.py)


def rescore(box_scores: np.ndarray, kpt_scores: np.ndarray, in_vis_thre: float = IN_VIS_THRE) -> np.ndarray:
    """Box score x mean of the keypoint scores above ``in_vis_thre`` (box score x 0 if none is)."""
    valid = kpt_scores > in_vis_thre
    cnt = valid.sum(axis=1)
    mean = np.where(cnt > 0, (kpt_scores * valid).sum(axis=1) / np.maximum(cnt, 1), 0.0)
    return box_scores * mean


def oks_iou(g: np.ndarray, d: np.ndarray, a_g: float, a_d: np.ndarray, sigmas: np.ndarray = COCO_SIGMAS
            ) -> np.ndarray:
    """OKS between one (K, 3) pose ``g`` and (M, K, 3) poses ``d`` with areas ``a_g``, ``a_d``."""
    var = (sigmas * 2) ** 2
    dx = d[:, :, 0] - g[None, :, 0]
    dy = d[:, :, 1] - g[None, :, 1]
    e = (dx ** 2 + dy ** 2) / var[None] / ((a_g + a_d)[:, None] / 2 + np.spacing(1)) / 2
    return np.sum(np.exp(-e), axis=1) / e.shape[1]


def oks_nms(kpts: np.ndarray, scores: np.ndarray, areas: np.ndarray, thresh: float = OKS_THRE,
            sigmas: np.ndarray = COCO_SIGMAS) -> list[int]:
    """Greedy NMS on OKS (HRNet nms.py): keep the best pose, drop poses with OKS > thresh to it."""
    if len(scores) == 0:
        return []
    order = np.asarray(scores).argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        ovr = oks_iou(kpts[i], kpts[order[1:]], float(areas[i]), areas[order[1:]], sigmas)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep
