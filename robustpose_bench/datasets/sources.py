"""Resolve a -C dataset's sources: the image folder, the annotation file and the image list.

Either a standard layout under ``--root`` or explicit ``--images``/``--ann`` overrides (so the
samples in ../shared/data build directly). A missing root names the expected layout and how to
get it, in one line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import UserError
from . import coco, mpii, ochuman
from .base import EvalDataset
from .synth import SynthEval


@dataclass(frozen=True)
class DatasetInfo:
    """One row of the dataset registry: the -C name, its source dataset, its build layout adapter
    and its evaluation adapter."""

    name: str  # the -C dataset, e.g. "coco-c"
    source: str  # the clean dataset, e.g. "coco"
    adapter: ModuleType | None  # None for synth (resolved by robustpose_bench.synth)
    evaluator: type[EvalDataset]


DATASETS: dict[str, DatasetInfo] = {
    "coco-c": DatasetInfo("coco-c", "coco", coco, coco.CocoEval),
    "mpii-c": DatasetInfo("mpii-c", "mpii", mpii, mpii.MpiiEval),
    "ochuman-c": DatasetInfo("ochuman-c", "ochuman", ochuman, ochuman.OchumanEval),
    "synth-c": DatasetInfo("synth-c", "synth", None, SynthEval),
}


def eval_dataset(name: str) -> type[EvalDataset]:
    """The evaluation adapter of a -C dataset."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name].evaluator


@dataclass(frozen=True)
class SourceSet:
    """What a build reads: sorted, distinct image file names relative to ``image_dir``."""

    dataset: str
    source: str
    split: str
    image_dir: Path
    ann_path: Path
    files: tuple[str, ...]


def check_file_name(name: str, ann_path: Path) -> str:
    """Refuse names that would escape the image or output folder: the builder's one rule for paths
    (``builder.manifest.path_problem``: absolute, ``..``, backslashes, control characters, ...)."""
    from ..builder.manifest import path_problem

    problem = path_problem(name)
    if problem:
        raise UserError(f"{ann_path}: unsafe image file name {name!r} ({problem})")
    return name


def layout_text(info: DatasetInfo, split: str) -> str:
    mod = info.adapter
    return f"ROOT/{mod.IMAGE_DIR[split]}/ + ROOT/{mod.ANNOTATION[split]}"


def resolve_sources(
    dataset: str,
    root: str | Path | None = None,
    images: str | Path | None = None,
    ann: str | Path | None = None,
    split: str | None = None,
    synth_root: str | Path | None = None,
    synth_count: int | None = None,
) -> SourceSet:
    """Find the image folder, annotation file and image list of ``dataset``'s source.

    ``synth-c`` generates its source (deterministically, once) under ``root`` or ``synth_root``.
    """
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    info = DATASETS[dataset]
    if info.adapter is None:
        from .. import synth

        if images is not None or ann is not None:
            raise UserError("synth-c is generated: use --root (or nothing), not --images/--ann")
        target = Path(root) if root is not None else Path(synth_root)
        count = synth_count if synth_count is not None else synth.DEFAULT_COUNT
        image_dir, ann_path = synth.ensure_synth(target, count=count)
        split = synth.SPLIT
        names = [check_file_name(n, ann_path) for n in coco.coco_image_files(ann_path)]
        return SourceSet(dataset, info.source, split, image_dir, ann_path, tuple(sorted(set(names))))

    mod = info.adapter
    split = split or mod.DEFAULT_SPLIT
    if split not in mod.ANNOTATION:
        raise UserError(f"{dataset}: unknown split {split!r}; expected one of {', '.join(mod.ANNOTATION)}")
    if (images is None) != (ann is None) and root is None:
        raise UserError(f"{dataset}: give both --images DIR and --ann FILE, or --root DIR ({layout_text(info, split)})")
    if root is None and images is None:
        raise UserError(
            f"{dataset}: no source given; expected --root DIR with the layout {layout_text(info, split)} "
            f"({mod.DOWNLOAD_HINT}), or --images DIR --ann FILE"
        )
    if root is not None and images is None and ann is None and not Path(root).is_dir():
        raise UserError(
            f"{dataset}: root {root} does not exist; expected the layout {layout_text(info, split)} "
            f"({mod.DOWNLOAD_HINT})"
        )
    image_dir = Path(images) if images is not None else Path(root) / mod.IMAGE_DIR[split]
    ann_path = Path(ann) if ann is not None else Path(root) / mod.ANNOTATION[split]
    for path, what, ok in ((image_dir, "image folder", image_dir.is_dir()), (ann_path, "annotation file", ann_path.is_file())):
        if not ok:
            raise UserError(
                f"{dataset}: {what} {path} not found; expected the layout {layout_text(info, split)} "
                f"({mod.DOWNLOAD_HINT})"
            )
    names = [check_file_name(n, ann_path) for n in mod.image_files(ann_path)]
    if not names:
        raise UserError(f"{ann_path}: lists no images")
    return SourceSet(dataset, info.source, split, image_dir, ann_path, tuple(sorted(set(names))))
