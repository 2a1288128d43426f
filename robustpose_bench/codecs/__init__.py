"""Codecs: one per model output kind, apart from models and datasets (as mmpose 1.x).

A codec knows how to check a model's output shapes against the spec and how to decode raw outputs:

- top-down codecs (``heatmaps``, ``keypoints``, ``simcc``) turn a batch of crop outputs (and, for
  the flip test, the outputs of the mirrored crops) into keypoints in a coordinate frame of known
  size, which the top-down predictor maps back into the image;
- one-stage codecs (``yolo-pose``, ``persons``, ``associative-embedding``) turn one image's outputs
  (and, for a family whose protocol has a flip test, the mirrored image's) into a list of persons,
  using the input geometry's inverse to reach image pixels.

``make_codec`` picks the codec for a spec; ``CODECS`` is the explicit registry.
"""
from __future__ import annotations

from typing import Any

from .associative_embedding import AssociativeEmbeddingCodec
from ..types import Persons
from .base import OneStageCodec, TopDownCodec, fmt_shape
from .heatmap import HeatmapCodec
from .persons import PersonsCodec
from .regression import KeypointCodec
from .simcc import SimCCCodec
from .yolo_pose import YoloPoseCodec

CODECS: dict[str, type] = {
    "heatmaps": HeatmapCodec,
    "keypoints": KeypointCodec,
    "simcc": SimCCCodec,
    "yolo-pose": YoloPoseCodec,
    "persons": PersonsCodec,
    "associative-embedding": AssociativeEmbeddingCodec,
}


def make_codec(spec: Any, names: tuple[str, ...], **options: Any) -> TopDownCodec | OneStageCodec:
    """The codec of ``spec.output.kind``, reading the model outputs ``names`` (resolved by the loader)."""
    return CODECS[spec.output.kind](spec, names, **options)


__all__ = ["CODECS", "OneStageCodec", "Persons", "TopDownCodec", "fmt_shape", "make_codec"]
