"""Heatmaps (HRNet, SimpleBaseline, ViTPose): one map per keypoint at ``1/stride`` of the input.

Decoding and the flip test are HRNet's (``robustpose_bench.topdown``): mirrored maps are flipped
back, left/right channels swapped and shifted one pixel (SHIFT_HEATMAP), then averaged before the
argmax and its quarter-pixel (or DARK) refinement.
"""
from __future__ import annotations


from .. import topdown
from ..errors import UserError
from .base import fmt_shape

POST_PROCESSING = ("default", "dark", "none")


class HeatmapCodec:
    def __init__(self, spec, names: tuple[str, ...], post: str = "default") -> None:
        if post not in POST_PROCESSING:
            raise UserError(f"post-processing must be one of {', '.join(POST_PROCESSING)}, got {post!r}")
        self.spec, self.names, self.post = spec, names, post
        self.perm = spec.flip_permutation()

    def check_shapes(self, shapes: dict[str, tuple]) -> None:
        o, k, i = self.spec.output, self.spec.keypoints, self.spec.input
        name = self.names[0]
        shape = shapes[name]
        s = fmt_shape(shape)
        if len(shape) != 4:
            raise UserError(f"spec output.kind=heatmaps needs a 4-D output but model output '{name}' has shape {s}")
        kk, hh, ww = (shape[1], shape[2], shape[3]) if o.layout == "NKHW" else (shape[3], shape[1], shape[2])
        if kk != k.num:
            raise UserError(f"spec keypoints.num={k.num} but model output '{name}' has shape {s} "
                            f"({kk} heatmaps in layout {o.layout})")
        eh, ew = i.height / o.stride, i.width / o.stride
        if (hh, ww) != (eh, ew):
            raise UserError(f"spec output.stride={o.stride} with a {i.height}x{i.width} input implies "
                            f"{eh:g}x{ew:g} heatmaps, but model output '{name}' has shape {s} (layout {o.layout})")

    def decode(self, outs, outs_flip):
        layout = self.spec.output.layout
        hm = topdown.to_nkhw(outs[self.names[0]], layout)
        if outs_flip is not None:
            hm = (hm + topdown.flip_back(topdown.to_nkhw(outs_flip[self.names[0]], layout), self.perm)) * 0.5
        xy, sc = topdown.decode_heatmaps(hm, self.post)
        return xy, sc, (hm.shape[3], hm.shape[2])
