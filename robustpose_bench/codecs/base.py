"""What every codec shares: the persons type, the two codec interfaces, shape formatting."""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ..types import Persons

#: Maps (..., 2) points in the model's input pixels to image pixels (one-stage geometry inverse).
ToImage = Callable[[np.ndarray], np.ndarray]


def fmt_shape(shape: tuple | list) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


class TopDownCodec(Protocol):
    """Crop outputs -> keypoints in a frame of size ``frame`` (w, h), mapped back by the predictor."""

    names: tuple[str, ...]

    def check_shapes(self, shapes: dict[str, tuple]) -> None: ...

    def decode(self, outs: dict[str, np.ndarray], outs_flip: dict[str, np.ndarray] | None
               ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]: ...


class OneStageCodec(Protocol):
    """One image's outputs (batch index ``b``) -> its persons in image pixels.

    ``flip_test``: the family's own test protocol runs the mirrored image too (HigherHRNet); the
    runner then defaults to it, and ``outs_flip`` holds the mirrored input's outputs (else None).
    """

    names: tuple[str, ...]
    flip_test: bool
    #: how the family's reference writes a person's box into COCO results (``datasets.coco.BBOX_WRITERS``)
    bbox_writer: str | None

    def check_shapes(self, shapes: dict[str, tuple]) -> None: ...

    def decode(self, outs: dict[str, np.ndarray], b: int, to_image: ToImage,
               outs_flip: dict[str, np.ndarray] | None = None) -> Persons: ...
