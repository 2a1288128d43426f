"""Keypoint coordinates regressed directly (MoveNet, BlazePose): ``keypoints.num x values`` per crop.

Read as edge-based coordinates (TF/MediaPipe convention), normalised or in input pixels; the flip
test mirrors the coordinates back (``x -> W-1-x``), swaps left/right and averages coordinates and
scores (``robustpose_bench.topdown``).
"""
from __future__ import annotations

import numpy as np

from .. import topdown
from ..errors import UserError
from .base import fmt_shape


class KeypointCodec:
    def __init__(self, spec, names: tuple[str, ...], **_: object) -> None:
        self.spec, self.names = spec, names
        self.perm = spec.flip_permutation()
        o, i = spec.output, spec.input
        self._args = (spec.keypoints.num, o.values_per_keypoint, o.coords, o.order, o.score_index,
                      o.score_activation or "none", (i.width, i.height))

    def check_shapes(self, shapes: dict[str, tuple]) -> None:
        k, o = self.spec.keypoints, self.spec.output
        name = self.names[0]
        shape = shapes[name]
        per = int(np.prod(shape[1:])) if len(shape) > 1 else 0
        if per != k.num * o.values_per_keypoint:
            raise UserError(f"spec keypoints.num={k.num} x output.values_per_keypoint={o.values_per_keypoint} = "
                            f"{k.num * o.values_per_keypoint} values per crop, but model output '{name}' has shape "
                            f"{fmt_shape(shape)}")

    def decode(self, outs, outs_flip):
        xy, sc = topdown.decode_keypoint_output(outs[self.names[0]], *self._args)
        if outs_flip is not None:
            xyf, scf = topdown.unflip_keypoints(*topdown.decode_keypoint_output(outs_flip[self.names[0]], *self._args),
                                                self.perm, self.spec.input.width)
            xy, sc = (xy + xyf) * 0.5, (sc + scf) * 0.5
        return xy, sc, (self.spec.input.width, self.spec.input.height)
