"""End-to-end person outputs (RTMO, mmdeploy end2end exports): ``dets`` + ``keypoints``.

``dets`` is ``[N, P, 5]`` = box ``(x1, y1, x2, y2)`` in input pixels and a score; ``keypoints`` is
``[N, P, K, 3]`` = ``(x, y, score)`` in input pixels. The export already ran its own score filter and
NMS, so by default every person it returns is kept (``score_thr`` 0, no NMS), as mmpose's RTMO test
config scores them (``score_mode='bbox'``, ``nms_mode='none'``). For parity with rtmlib's ``RTMO``,
set ``score_thr`` and ``iou_thr`` (rtmlib: 0.7 and 0.45 with ``nms_pixel_offset`` 1). As rtmlib does,
the boxes and keypoints are mapped to the image first and the filter and NMS run there.

At most ``max_det`` persons (default 300, ultralytics' ``max_det``) are kept per image, the best
scoring: an output tensor is the model's to size, and one that returns millions of candidates must
not turn into millions of prediction records. COCOeval scores only the best 20 per image
(``maxDets``), so the cap never changes AP or AR; below it nothing changes at all (same persons,
same order).
"""
from __future__ import annotations

import numpy as np

from ..boxes import nms
from ..errors import UserError
from ..types import Persons
from .base import ToImage, fmt_shape


class PersonsCodec:
    flip_test = False  # no flip test in the family's protocol
    bbox_writer = "mmpose"  # mmpose's CocoMetric writes the box as bbox_xyxy2xywh

    def __init__(self, spec, names: tuple[str, ...], **_: object) -> None:
        self.spec, self.names = spec, names
        self.k = spec.keypoints.num

    def check_shapes(self, shapes: dict[str, tuple]) -> None:
        dname, kname = self.names
        d, k = shapes[dname], shapes[kname]
        if len(d) != 3 or d[2] != 5:
            raise UserError(f"spec output.kind=persons expects dets [N, P, 5] (x1, y1, x2, y2, score), but model "
                            f"output '{dname}' has shape {fmt_shape(d)}")
        if len(k) != 4 or k[2] != self.k or k[3] != 3:
            raise UserError(f"spec output.kind=persons expects keypoints [N, P, {self.k}, 3] (x, y, score; "
                            f"keypoints.num={self.k}), but model output '{kname}' has shape {fmt_shape(k)}")
        if d[1] != k[1]:
            raise UserError(f"model outputs '{dname}' {fmt_shape(d)} and '{kname}' {fmt_shape(k)} disagree on the "
                            "number of persons")

    def decode(self, outs, b: int, to_image: ToImage, outs_flip=None) -> Persons:
        o = self.spec.output
        dets = np.asarray(outs[self.names[0]][b], dtype=np.float32)
        kps = np.asarray(outs[self.names[1]][b], dtype=np.float32)
        persons = Persons(to_image(dets[:, :4].reshape(-1, 2, 2)).reshape(-1, 4), dets[:, 4].copy(),
                          to_image(kps[..., :2]), kps[..., 2].copy())
        keep = np.flatnonzero(persons.scores > np.float32(o.score_thr))
        if o.iou_thr is not None and len(keep):
            keep = keep[nms(persons.boxes[keep], persons.scores[keep], o.iou_thr, o.nms_pixel_offset,
                            max_keep=o.max_det)]
        elif len(keep) > o.max_det:
            # the best max_det, ties broken by position (as COCOeval's stable sort does), in output order
            best = np.argsort(-persons.scores[keep], kind="stable")[: o.max_det]
            keep = keep[np.sort(best)]
        return persons.take(keep)
