"""One-stage models: the whole image in, a list of persons out; no boxes are involved.

Each image is letterboxed to the model's input, or resized to a size of its own (HigherHRNet's
``short-side-align64``; ``robustpose_bench.letterbox``, in the convention the spec names),
preprocessed as the spec says, run, and decoded by the output kind's codec, which maps boxes and
keypoints back to the image through the geometry's exact inverse. A family whose protocol has a
flip test (the codec's ``flip_test``) also runs the mirrored input when ``flip`` is on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import topdown
from ..letterbox import AlignedResize, BottomupResize, Letterbox, make_aligned_resize, make_bottomup, make_letterbox
from ..models.loader import LoadedModel
from ..types import Persons
from .images import SWAP_ORDER, read_image_bgr
from .pipeline import run_batched
from .topdown_predictor import flip_input


Geometry = Letterbox | AlignedResize | BottomupResize


def letterbox_input(image_bgr: np.ndarray, spec) -> tuple[np.ndarray, Geometry]:
    """(1, ...) model input of one BGR image, and the geometry (letterbox, aligned or bottom-up resize)
    that made it."""
    inp = spec.input
    if inp.resize == "short-side-align64":
        lb: Geometry = make_aligned_resize(image_bgr.shape[:2], inp.height)
    elif inp.resize == "bottomup":
        lb = make_bottomup(image_bgr.shape[:2], (inp.height, inp.width))
    else:
        lb = make_letterbox(image_bgr.shape[:2], (inp.height, inp.width), inp.align)
    padded = lb.apply(image_bgr, inp.pad_value)
    x = topdown.preprocess(padded[None], inp.layout, inp.dtype, SWAP_ORDER[inp.channel_order], inp.mean, inp.std)
    return x, lb


def predict_onestage(
    model: LoadedModel,
    files: Sequence[str],
    image_path: Callable[[str], Path],
    kp_set: str | Sequence[int],
    *,
    batch: int = 1,
    flip: bool = False,
    workers: int | None = None,
    prefetch: int | None = None,
    progress: bool | str = False,
    image_sha256: Callable[[str], str | None] | None = None,
) -> list[Persons]:
    """The persons of every image, in the dataset's keypoints, in ``files`` order.

    ``flip`` runs the mirrored input too, for codecs whose family has a flip test (``flip_test``).
    """
    from ..progress import progress_bar

    from ..errors import UserError

    if batch < 1:
        raise UserError(f"--batch must be at least 1, got {batch}")
    spec, codec = model.spec, model.codec
    if flip and not codec.flip_test:
        raise UserError(f"output.kind={spec.output.kind} has no flip test")
    # a keypoint set's name (the spec's dataset_map entry), or the dataset's indices already resolved
    # (``models.keypoint_map.dataset_indices``: by name for a dataset card)
    ds_idx = np.asarray(spec.dataset_indices(kp_set) if isinstance(kp_set, str) else kp_set, dtype=np.int64)
    boxes: list[Geometry | None] = [None] * len(files)
    results: list[Persons | None] = [None] * len(files)

    def load(i: int) -> tuple[np.ndarray, list[np.ndarray]]:
        x, lb = letterbox_input(read_image_bgr(image_path(files[i]), image_sha256(files[i]) if image_sha256 else None), spec)
        boxes[i] = lb
        return np.array([i]), [x]

    def infer(arrays: list[np.ndarray]) -> tuple[dict, dict | None]:
        x = arrays[0]
        return model.run(x), (model.run(flip_input(x, spec.input.layout)) if flip else None)

    def decode(ids: np.ndarray, outs_pair: tuple[dict, dict | None]) -> None:
        outs, outs_flip = outs_pair
        for b, i in enumerate(ids):
            p = codec.decode(outs, b, boxes[i].points_to_image, outs_flip)
            results[i] = Persons(p.boxes, p.scores, p.keypoints[:, ds_idx], p.keypoint_scores[:, ds_idx])

    desc = progress if isinstance(progress, str) else "predict"
    with progress_bar(total=len(files), desc=desc, unit="img", enabled=progress, leave=False) as bar:
        run_batched(len(files), load, infer, decode, batch=batch, workers=workers, prefetch=prefetch,
                    on_rows=bar.update)
    return results  # type: ignore[return-value]
