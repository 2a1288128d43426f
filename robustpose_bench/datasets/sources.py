"""Resolve a dataset's sources, and open its evaluation adapter, from its card.

Sources: either the card's standard layout under ``--root`` or explicit ``--images``/``--ann``
overrides (so the samples in ../shared/data build directly). A missing root names the expected
layout and how to get it, in one line. The adapter of a card is the class of its ``format``
(``ADAPTERS``): COCO-format datasets (COCO, OCHuman, CrowdPose, a user's own) share one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from . import coco, mpii
from .base import EvalDataset, Thresholds
from .cards import DatasetCard, check_annotation_keypoints, resolve_card
from .synth import SynthEval

#: card ``format`` -> the adapter that reads it
ADAPTERS: dict[str, type[EvalDataset]] = {"coco": coco.CocoEval, "mpii-hrnet": mpii.MpiiEval, "synth": SynthEval}


def adapter_class(card: DatasetCard) -> type[EvalDataset]:
    """The evaluation adapter of a card."""
    return ADAPTERS[card.format]


def open_dataset(dataset: "str | DatasetCard", thresholds: Thresholds = Thresholds(), **source: Any) -> EvalDataset:
    """The adapter of ``dataset`` (a registered name or a card) on its clean source: ``root``,
    ``images``, ``ann``, ``gt_mat``, ``data`` as ``eval`` takes them."""
    card = resolve_card(dataset)
    return adapter_class(card).open(card, thresholds=thresholds, **source)


def scoring_dataset(dataset: "str | DatasetCard", ann: str | Path) -> EvalDataset:
    """The adapter of ``dataset`` holding only its ground truth ``ann`` (what ``score`` needs)."""
    card = resolve_card(dataset)
    return adapter_class(card).for_scoring(card, Path(ann))


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


def _image_files(card: DatasetCard, ann_path: Path) -> list[str]:
    if card.format == "mpii-hrnet":
        return mpii.image_files(ann_path)
    data = coco.load_json(ann_path)
    names = coco.coco_image_files(ann_path, data)
    check_annotation_keypoints(card, data, str(ann_path))  # before anything is built
    return names


def resolve_sources(
    dataset: "str | DatasetCard",
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
    card = resolve_card(dataset)
    name = card.name
    if card.format == "synth":
        from .. import synth

        if images is not None or ann is not None:
            raise UserError(f"{name} is generated: use --root (or nothing), not --images/--ann")
        target = Path(root) if root is not None else Path(synth_root)
        count = synth_count if synth_count is not None else synth.DEFAULT_COUNT
        image_dir, ann_path = synth.ensure_synth(target, count=count)
        names = [check_file_name(n, ann_path) for n in _image_files(card, ann_path)]
        return SourceSet(name, card.source, synth.SPLIT, image_dir, ann_path, tuple(sorted(set(names))))

    hint = card.download
    if images is None or ann is None:
        if (images is None) != (ann is None) and root is None:
            raise UserError(f"{name}: give both --images DIR and --ann FILE, or --root DIR ({card.layout_text(split)})")
        if root is None:
            raise UserError(f"{name}: no source given; expected --root DIR with the layout "
                            f"{card.layout_text(split)} ({hint}), or --images DIR --ann FILE")
        split, lay = card.split(split)
        if images is None and ann is None and not Path(root).is_dir():
            raise UserError(f"{name}: root {root} does not exist; expected the layout {card.layout_text(split)} ({hint})")
    else:
        split, lay = card.split(split) if card.splits else (split or "custom", None)
    image_dir = Path(images) if images is not None else Path(root) / lay.images
    ann_path = Path(ann) if ann is not None else Path(root) / lay.annotations
    for path, what, ok in ((image_dir, "image folder", image_dir.is_dir()), (ann_path, "annotation file", ann_path.is_file())):
        if not ok:
            where = f"expected the layout {card.layout_text(split)}" if card.splits else "check the path"
            raise UserError(f"{name}: {what} {path} not found; {where} ({hint})")
    names = [check_file_name(n, ann_path) for n in _image_files(card, ann_path)]
    if not names:
        raise UserError(f"{ann_path}: lists no images")
    return SourceSet(name, card.source, split, image_dir, ann_path, tuple(sorted(set(names))))
