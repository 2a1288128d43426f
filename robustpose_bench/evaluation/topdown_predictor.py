"""Top-down models: person boxes -> crops -> keypoints, HRNet's geometry for every output kind.

Each person instance (a box turned into HRNet's centre and scale, or MPII's annotated centre and
scale) is cropped with HRNet's affine, preprocessed as the spec says, run (with its mirror for the
flip test), decoded by the output kind's codec and mapped back through the inverse affine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import topdown
from ..models.loader import LoadedModel
from ..types import Instances, Predictions
from .images import SWAP_ORDER, read_image_bgr
from .pipeline import run_batched


def crop_geometry(spec, instances: Instances) -> tuple[Callable, Callable]:
    """(warp(img, j), back(xy, j, frame)) for instance j in the spec's crop convention (``topdown.py``)."""
    W, H = spec.input.width, spec.input.height
    if spec.input.crop != "mmpose":
        return (lambda img, j: topdown.warp_crop(img, instances.centers[j], instances.scales[j], (W, H)),
                lambda xy, j, frame: topdown.transform_preds(xy, instances.centers[j], instances.scales[j], frame))
    if instances.from_gt and instances.mmpose_boxes is not None:  # mmpose's clipped ground-truth box
        cs = [topdown.mmpose_center_scale_xyxy(b, W / H) for b in instances.mmpose_boxes]
    elif instances.boxes is not None:  # detections: float64 corners, bit-identical to rtmlib
        cs = [topdown.mmpose_center_scale(b, W / H) for b in instances.boxes]
    else:  # annotated centre and scale (MPII): the same region, in float64 pixels
        cs = [(c.astype(np.float64), s.astype(np.float64) * topdown.PIXEL_STD)
              for c, s in zip(instances.centers, instances.scales)]
    return (lambda img, j: topdown.mmpose_warp_crop(img, cs[j][0], cs[j][1], (W, H)),
            lambda xy, j, frame: topdown.mmpose_transform_preds(xy, cs[j][0], cs[j][1], frame))


def flip_input(x: np.ndarray, layout: str) -> np.ndarray:
    """Mirror preprocessed inputs left-right (HRNet flips the normalised tensor, np.flip(x, 3))."""
    return np.ascontiguousarray(x[..., ::-1] if layout == "NCHW" else x[:, :, ::-1])


def predict_topdown(
    model: LoadedModel,
    instances: Instances,
    image_path: Callable[[str], Path],
    kp_set: str | Sequence[int],
    *,
    flip: bool = True,
    batch: int = 32,
    workers: int | None = None,
    prefetch: int | None = None,
    progress: bool | str = False,
    image_sha256: Callable[[str], str | None] | None = None,
) -> Predictions:
    """Predict every instance, reading image ``f`` from ``image_path(f)``."""
    from ..progress import progress_bar

    from ..errors import UserError

    if batch < 1:
        raise UserError(f"--batch must be at least 1, got {batch}")
    spec, codec = model.spec, model.codec
    # a keypoint set's name (the spec's dataset_map entry), or the dataset's indices already resolved
    # (``models.keypoint_map.dataset_indices``: by name for a dataset card)
    ds_idx = np.asarray(spec.dataset_indices(kp_set) if isinstance(kp_set, str) else kp_set, dtype=np.int64)
    inp = spec.input
    n = len(instances)
    # float32 like HRNet's all_preds: the written coordinates are the float32 values HRNet would write
    coords = np.zeros((n, spec.keypoints.num, 2), np.float32)
    scores = np.zeros((n, spec.keypoints.num), np.float32)
    files, groups = instances.groups()
    warp, back = crop_geometry(spec, instances)

    def load(gi: int) -> tuple[np.ndarray, list[np.ndarray]]:
        idx = groups[gi]
        img = read_image_bgr(image_path(files[gi]), image_sha256(files[gi]) if image_sha256 else None)
        crops = np.stack([warp(img, j) for j in idx])
        x = topdown.preprocess(crops, inp.layout, inp.dtype, SWAP_ORDER[inp.channel_order], inp.mean, inp.std)
        return idx, ([x, flip_input(x, inp.layout)] if flip else [x])

    def infer(arrays: list[np.ndarray]) -> tuple[dict, dict | None]:
        if not flip:
            return model.run(arrays[0]), None
        x, xf = arrays
        if model.max_batch is None:  # one call for both halves: fewer, larger batches
            both = model.run(np.concatenate([x, xf]))
            return {k: v[: len(x)] for k, v in both.items()}, {k: v[len(x):] for k, v in both.items()}
        return model.run(x), model.run(xf)

    def decode(idx: np.ndarray, outs: tuple[dict, dict | None]) -> None:
        xy, sc, frame = codec.decode(*outs)
        for r, j in enumerate(idx):
            coords[j] = back(xy[r], j, frame)
        scores[idx] = sc

    desc = progress if isinstance(progress, str) else "predict"
    with progress_bar(total=n, desc=desc, unit="crop", enabled=progress, leave=False) as bar:
        run_batched(len(groups), load, infer, decode, batch=batch, workers=workers, prefetch=prefetch,
                    on_rows=bar.update)
    out_xy, out_sc = coords[:, np.maximum(ds_idx, 0)], scores[:, np.maximum(ds_idx, 0)]
    absent = ds_idx < 0  # dataset joints the model lacks (MPII joints of a COCO model): NaN, written null
    out_xy[:, absent], out_sc[:, absent] = np.nan, np.nan
    return Predictions(out_xy, out_sc)
