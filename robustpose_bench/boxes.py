"""Box conversions and greedy box NMS, in the two conventions one-stage pose models are decoded with.

- ``pixel_offset=0``: torchvision ``ops.nms`` (what ultralytics calls): area ``(x2-x1)*(y2-y1)``,
  boxes sorted by descending score, a box is dropped when its IoU with a kept one is ``> iou``.
- ``pixel_offset=1``: the legacy "+1" pixel convention of py-faster-rcnn, which rtmlib's numpy
  ``nms`` keeps: widths and heights are ``x2-x1+1``.

Written here (numpy, float32 like the references' tensors) because the evaluator must not depend on
torchvision, whose wheels are pinned to one torch build each, and because the two references differ
in exactly these details. Ties in score are broken as numpy's ``argsort`` does; the references' sorts
are not stable either, so exactly tied scores are the one place results may legitimately differ.
"""
from __future__ import annotations

import numpy as np


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """(..., 4) centre-size boxes -> corner boxes, as ultralytics ``xywh2xyxy`` (float32)."""
    b = np.asarray(b, dtype=np.float32)
    out = np.empty_like(b)
    half = b[..., 2:] / np.float32(2)
    out[..., :2] = b[..., :2] - half
    out[..., 2:] = b[..., :2] + half
    return out


def ultralytics_json_bbox(boxes_xyxy: np.ndarray) -> list[list[float]]:
    """ultralytics' COCO ``bbox`` (``PoseValidator.pred_to_json``): ``xyxy2xywh`` in float32, the centre
    moved back by half the size, then each value rounded to 3 decimals."""
    b = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    c = np.empty_like(b)
    c[:, 0] = (b[:, 0] + b[:, 2]) / np.float32(2)
    c[:, 1] = (b[:, 1] + b[:, 3]) / np.float32(2)
    c[:, 2] = b[:, 2] - b[:, 0]
    c[:, 3] = b[:, 3] - b[:, 1]
    c[:, :2] -= c[:, 2:] / np.float32(2)
    return [[round(float(v), 3) for v in row] for row in c]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, pixel_offset: int = 0,
        descending_order: np.ndarray | None = None, max_keep: int | None = None) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, best first.

    ``descending_order``: the visiting order, if the caller already sorted (ultralytics sorts by
    score with torch's sort); default ``argsort(scores)[::-1]``. ``max_keep``: stop once that many
    are kept. Greedy NMS keeps boxes in visiting order and a box is only ever suppressed by an
    earlier one, so the first ``max_keep`` kept are the same as those of the full run truncated
    (ultralytics' ``max_det``), at a fraction of the cost when thousands of candidates pass.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    n = boxes.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    off = np.float32(pixel_offset)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + off) * (y2 - y1 + off)
    order = np.asarray(scores).argsort()[::-1] if descending_order is None else np.asarray(descending_order)
    thr = np.float32(iou)
    keep: list[int] = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + off)
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + off)
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            ovr = inter / (areas[i] + areas[rest] - inter)
        # torchvision suppresses where IoU > thr (a NaN IoU of two empty boxes keeps the box);
        # rtmlib keeps where IoU <= thr (a NaN drops it)
        order = rest[~(ovr > thr)] if pixel_offset == 0 else rest[ovr <= thr]
    return np.asarray(keep, dtype=np.int64)
