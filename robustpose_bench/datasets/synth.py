"""synth: the procedural COCO-format person set (``robustpose_bench.synth``), as an eval dataset.

Evaluated like COCO. Its source is read as it is, never regenerated (the builder would regenerate
for another count, and the built conditions were made from exactly these images): ``--root DIR``
or ``--data OUT`` (the builder writes the source to ``OUT/synth``), or ``--images`` + ``--ann``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from .base import EvalSource, Thresholds
from .coco import CocoEval

if TYPE_CHECKING:  # pragma: no cover
    from .cards import DatasetCard


class SynthEval(CocoEval):
    """The generated set (card format ``synth``): found where the builder generated it."""

    @classmethod
    def open(cls, card: "DatasetCard", root=None, images=None, ann=None, data=None,
             thresholds: Thresholds = Thresholds(), **_: Any) -> "SynthEval":
        name = card.name
        if images is not None or ann is not None:
            if images is None or ann is None:
                raise UserError(f"{name}: give both --images DIR and --ann FILE, or --root DIR")
            image_dir, ann_path = Path(images), Path(ann)
        else:
            if root is None and data is None:
                raise UserError(f"{name}: pass --data OUT (where `robustpose-bench build {name}` wrote it) or --root")
            base = Path(root) if root is not None else Path(data) / card.source
            _, lay = card.split(None)
            image_dir, ann_path = base / lay.images, base / lay.annotations
        if not ann_path.is_file() or not image_dir.is_dir():
            raise UserError(f"{name}: no generated source at {image_dir} + {ann_path} "
                            f"(run `robustpose-bench build {name} --data DIR`, or pass --root)")
        return cls(card, EvalSource(image_dir, ann_path), thresholds)
