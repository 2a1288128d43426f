"""YOLO-pose (ultralytics): the raw head output ``[N, 4 + nc + K*v, A]`` of an ONNX/TorchScript export.

Per anchor: box ``(cx, cy, w, h)`` in input pixels, ``nc`` class scores (after the sigmoid), then K
keypoints as ``(x, y[, visibility])`` in input pixels with the visibility after its sigmoid. Decoded
as ultralytics' predictor does (``utils/nms.py non_max_suppression`` then ``construct_result``):

1. candidates: best class score ``> score_thr`` (strictly; ultralytics' ``conf``);
2. boxes to corners; more than ``max_nms`` candidates keeps the best ``max_nms``;
3. class-offset greedy NMS at IoU ``iou_thr`` (torchvision's rule), then the first ``max_det``;
4. boxes and keypoints back through the letterbox (which clips to the image).

The person score is the box confidence; the keypoint score its visibility (1 when v = 2). The
defaults are ultralytics' validation settings (its ``conf`` 0.001 is our ``score_thr``, its ``iou`` 0.7
our ``iou_thr``; ``max_det`` 300). ultralytics also stops NMS after a time limit; an evaluator must
not depend on the machine's speed, so there is none.
"""
from __future__ import annotations

import numpy as np

from ..boxes import nms, xywh_to_xyxy
from ..errors import UserError
from ..types import Persons
from .base import ToImage, fmt_shape

#: ultralytics' per-class coordinate offset that keeps classes apart in one NMS call.
MAX_WH = 7680


class YoloPoseCodec:
    flip_test = False  # no flip test in the family's protocol
    bbox_writer = "ultralytics"  # PoseValidator.pred_to_json's box

    def __init__(self, spec, names: tuple[str, ...], **_: object) -> None:
        self.spec, self.names = spec, names
        o = spec.output
        self.nc, self.vpk, self.k = o.num_classes, o.values_per_keypoint, spec.keypoints.num

    @property
    def channels(self) -> int:
        return 4 + self.nc + self.k * self.vpk

    def check_shapes(self, shapes: dict[str, tuple]) -> None:
        name = self.names[0]
        shape = shapes[name]
        if len(shape) != 3 or shape[1] != self.channels:
            raise UserError(f"spec output.kind=yolo-pose expects [N, {self.channels}, anchors] (4 box + {self.nc} "
                            f"class + {self.k}x{self.vpk} keypoint values), but model output '{name}' has shape "
                            f"{fmt_shape(shape)}")

    def decode(self, outs, b: int, to_image: ToImage, outs_flip=None) -> Persons:
        o = self.spec.output
        x = np.asarray(outs[self.names[0]][b], dtype=np.float32).T  # (A, C)
        cls = x[:, 4:4 + self.nc]
        conf, j = cls.max(axis=1), cls.argmax(axis=1)
        m = conf > np.float32(o.score_thr)
        x, conf, j = x[m], conf[m], j[m]
        if len(x) == 0:
            return Persons.empty(self.k)
        boxes = xywh_to_xyxy(x[:, :4])
        if len(x) > o.max_nms:
            top = np.argsort(-conf, kind="stable")[: o.max_nms]
            x, conf, j, boxes = x[top], conf[top], j[top], boxes[top]
        offset = (j.astype(np.float32) * np.float32(MAX_WH))[:, None]
        keep = nms(boxes + offset, conf, o.iou_thr, max_keep=o.max_det)
        kp = x[keep, 4 + self.nc:].reshape(len(keep), self.k, self.vpk)
        kscores = kp[..., 2] if self.vpk == 3 else np.ones(kp.shape[:2], np.float32)
        return Persons(to_image(boxes[keep].reshape(-1, 2, 2)).reshape(-1, 4), conf[keep],
                       to_image(kp[..., :2]), kscores.astype(np.float32))
