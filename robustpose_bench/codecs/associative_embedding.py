"""Associative embedding (HigherHRNet): heatmaps and tags at two resolutions, grouped into persons.

The model gives, for a ``H x W`` input, ``low`` ``[N, 2K, H/4, W/4]`` (K heatmaps, then K tags) and
``high`` ``[N, K, H/2, W/2]`` (K heatmaps). Decoded as HigherHRNet's ``tools/valid.py`` with its COCO
test configs (``get_multi_stage_outputs``, ``aggregate_results``, ``HeatmapParser.parse``,
``get_final_preds``):

1. ``low`` is upsampled to ``high``'s size; the two heatmaps are averaged; the tags come from
   ``low`` only (``TEST.WITH_HEATMAPS (True, True)``, ``WITH_AE (True, False)``);
2. flip test (``TEST.FLIP_TEST``, on by default): the mirrored input's outputs are upsampled, mirrored
   back, their left/right channels swapped (``FLIP_INDEX``), averaged the same way;
3. heatmaps and tags are projected to the input size (``PROJECT2IMAGE``); the two passes' heatmaps
   are averaged, their tags stacked (T = 2);
4. grouping (``robustpose_bench.ae_grouping``), then keypoints back to the image through the
   input geometry's inverse (``get_final_preds``). The person score is ``parse``'s; joints not found
   are kept with score 0 at the back-projected map origin, as the official results hold them.

The resizes are torch's ``interpolate`` (bilinear, ``align_corners=False``), the call the official
code makes: torch is already a dependency, and a hand-written bilinear would have to match its float32
rounding to keep NMS ties and the top-k order the same.
"""
from __future__ import annotations

import numpy as np

from ..ae_grouping import COCO_JOINT_ORDER, GroupingParams, parse
from ..errors import UserError
from ..types import Persons
from .base import ToImage, fmt_shape


class AssociativeEmbeddingCodec:
    #: HigherHRNet's own test protocol has a flip test: the runner runs it unless --no-flip.
    flip_test = True
    bbox_writer = None  # no box from the grouping; HigherHRNet writes the keypoints' extent (bbox 'keypoints')

    def __init__(self, spec, names: tuple[str, ...], **_: object) -> None:
        self.spec, self.names = spec, names
        self.k = spec.keypoints.num
        if self.k != len(COCO_JOINT_ORDER):
            raise UserError(f"spec keypoints.num={self.k}: output.kind=associative-embedding groups joints in "
                            f"HigherHRNet's COCO joint order and needs {len(COCO_JOINT_ORDER)} keypoints")
        o = spec.output
        self.params = GroupingParams(detection_threshold=o.peak_thr, tag_threshold=o.tag_thr,
                                     max_people=o.max_people, nms_kernel=o.nms_kernel)
        self.perm = list(spec.flip_permutation())

    def check_shapes(self, shapes: dict[str, tuple]) -> None:
        """Both outputs at their stride of the (probe) input: ``[N, 2K, H/4, W/4]`` and ``[N, K, H/2, W/2]``."""
        (lname, low), (hname, high) = ((n, tuple(shapes[n])) for n in self.names)
        h, w = self.spec.input.height, self.spec.input.width
        want_low = (2 * self.k, h / 4, w / 4)
        want_high = (self.k, h / 2, w / 2)
        if len(low) != 4 or len(high) != 4 or tuple(low[1:]) != want_low or tuple(high[1:]) != want_high:
            raise UserError(
                f"output.kind=associative-embedding expects '{lname}' [N,{2 * self.k},H/4,W/4] ({self.k} heatmaps + "
                f"{self.k} tags) and '{hname}' [N,{self.k},H/2,W/2] ({self.k} heatmaps), but for a {h}x{w} input the "
                f"model gives '{lname}' {fmt_shape(low)} and '{hname}' {fmt_shape(high)}")

    def aggregate(self, outs: dict, b: int, outs_flip: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(K, H, W) heatmaps and (K, H, W, T) tags at the input size, as ``valid.py`` aggregates them."""
        import torch
        from torch.nn.functional import interpolate

        def passes(o: dict, flip: bool) -> tuple:
            low = torch.from_numpy(np.asarray(o[self.names[0]][b:b + 1], dtype=np.float32))
            high = torch.from_numpy(np.asarray(o[self.names[1]][b:b + 1], dtype=np.float32))
            low = interpolate(low, size=high.shape[2:], mode="bilinear", align_corners=False)
            if flip:
                low, high = torch.flip(low, [3]), torch.flip(high, [3])
            heat = (low[:, : self.k] + high) / 2
            tags = low[:, self.k:]
            if flip:
                heat, tags = heat[:, self.perm], tags[:, self.perm]
            size = (2 * high.shape[2], 2 * high.shape[3])  # the input size (PROJECT2IMAGE)
            return (interpolate(heat, size=size, mode="bilinear", align_corners=False),
                    interpolate(tags, size=size, mode="bilinear", align_corners=False))

        with torch.no_grad():
            heat, tags = passes(outs, False)
            tag_list = [tags]
            if outs_flip is not None:
                heat_f, tags_f = passes(outs_flip, True)
                heat = (heat + heat_f) / 2.0
                tag_list.append(tags_f)
            tag = torch.stack(tag_list, dim=4)
        return heat[0].numpy(), tag[0].numpy()

    def decode(self, outs: dict, b: int, to_image: ToImage, outs_flip: dict | None = None) -> Persons:
        det, tag = self.aggregate(outs, b, outs_flip)
        ans, scores = parse(det, tag, self.params)
        if len(ans) == 0:
            return Persons.empty(self.k)
        return Persons(np.full((len(ans), 4), np.nan, np.float32), np.asarray(scores, dtype=np.float32),
                       to_image(ans[..., :2]), ans[..., 2].copy())
