"""synth: the procedural COCO-format person set (``robustpose_bench.synth``), as an eval dataset.

Evaluated like COCO. Its source is read as it is, never regenerated (the builder would regenerate
for another count, and the built conditions were made from exactly these images): ``--root DIR``
or ``--data OUT`` (the builder writes the source to ``OUT/synth``), or ``--images`` + ``--ann``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError
from .base import EvalSource, Thresholds
from .coco import CocoEval


class SynthEval(CocoEval):
    name = "synth-c"

    @classmethod
    def open(cls, root=None, images=None, ann=None, data=None, thresholds: Thresholds = Thresholds(),
             **_: Any) -> "SynthEval":
        from ..synth import ANNOTATION_NAME

        if images is not None or ann is not None:
            if images is None or ann is None:
                raise UserError("synth-c: give both --images DIR and --ann FILE, or --root DIR")
            image_dir, ann_path = Path(images), Path(ann)
        else:
            if root is None and data is None:
                raise UserError("synth-c: pass --data OUT (where `robustpose-bench build synth-c` wrote it) or --root")
            base = Path(root) if root is not None else Path(data) / "synth"
            image_dir, ann_path = base / "images", base / "annotations" / ANNOTATION_NAME
        if not ann_path.is_file() or not image_dir.is_dir():
            raise UserError(f"synth-c: no generated source at {image_dir} + {ann_path} "
                            "(run `robustpose-bench build synth-c --data DIR`, or pass --root)")
        return cls(EvalSource(image_dir, ann_path), thresholds)
