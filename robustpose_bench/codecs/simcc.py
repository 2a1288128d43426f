"""SimCC (RTMPose, RTMW, DWPose): per keypoint, a 1-D classification vector along x and along y.

``simcc_x`` is ``[N, K, W * r]`` and ``simcc_y`` ``[N, K, H * r]`` for an ``H x W`` input and split
ratio ``r``. Decoding follows mmpose's ``SimCCLabel.decode``: the argmax of each vector divided by
``r`` gives input pixels; a keypoint whose score is not positive gets location -1 (before the
division), as ``get_simcc_maximum`` does. The score combines the two maxima: mmpose takes the
smaller (``score: "min"``, the default); rtmlib's ``get_simcc_maximum`` takes their mean
(``"mean"``). Flip test as mmpose's ``flip_vectors``: the mirrored crop's x vectors are reversed,
left/right keypoints swapped (y vectors are only swapped), then both passes are averaged before the
argmax. Back to the image through the crop transform, as every top-down model.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from .base import fmt_shape


def simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray, score: str = "min") -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) bin locations (float32, -1 where the score <= 0) and (N, K) scores."""
    n, k, _ = simcc_x.shape
    sx = simcc_x.reshape(n * k, -1)
    sy = simcc_y.reshape(n * k, -1)
    locs = np.stack([np.argmax(sx, axis=1), np.argmax(sy, axis=1)], axis=-1).astype(np.float32)
    mx, my = np.amax(sx, axis=1), np.amax(sy, axis=1)
    vals = np.minimum(mx, my) if score == "min" else (mx + my) * np.float32(0.5)
    locs[vals <= 0.0] = -1
    return locs.reshape(n, k, 2), vals.reshape(n, k)


class SimCCCodec:
    def __init__(self, spec, names: tuple[str, ...], **_: object) -> None:
        self.spec, self.names = spec, names
        self.perm = list(spec.flip_permutation())

    def check_shapes(self, shapes: dict[str, tuple]) -> None:
        o, k, i = self.spec.output, self.spec.keypoints, self.spec.input
        for name, side, size in ((self.names[0], "width", i.width), (self.names[1], "height", i.height)):
            shape = shapes[name]
            s = fmt_shape(shape)
            if len(shape) != 3:
                raise UserError(f"spec output.kind=simcc needs 3-D [N, K, bins] outputs but model output '{name}' "
                                f"has shape {s}")
            if shape[1] != k.num:
                raise UserError(f"spec keypoints.num={k.num} but model output '{name}' has shape {s}")
            want = size * o.split_ratio
            if shape[2] != want:
                raise UserError(f"spec input.{side}={size} x output.split_ratio={o.split_ratio:g} = {want:g} SimCC bins, "
                                f"but model output '{name}' has shape {s}")

    def decode(self, outs, outs_flip):
        x = np.asarray(outs[self.names[0]], dtype=np.float32)
        y = np.asarray(outs[self.names[1]], dtype=np.float32)
        if outs_flip is not None:
            xf = np.asarray(outs_flip[self.names[0]], dtype=np.float32)[:, self.perm, ::-1]
            yf = np.asarray(outs_flip[self.names[1]], dtype=np.float32)[:, self.perm]
            x = (x + xf) * np.float32(0.5)
            y = (y + yf) * np.float32(0.5)
        locs, vals = simcc_maximum(x, y, self.spec.output.score)
        locs /= np.float32(self.spec.output.split_ratio)
        return locs, vals, (self.spec.input.width, self.spec.input.height)
