"""Sizes of the full evaluation splits: what tells a benchmark run from a sample-sized one.

A 4-image COCO-C run and the paper's 5,000-image rows are not comparable, so ``submit`` refuses a
run below its full split unless it is declared a subset entry, and tables, figures and the page say
"subset". The sizes come from the shipped manifests (``data_manifests/<dataset>.json``, field
``source``) where they state them; OCHuman's manifest does not, so its two split sizes are kept here
(docs/leaderboard.md, "Sample-sized runs", says where each number comes from).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class SplitSize:
    """One standard split: its name and its size in images or in persons (whichever defines it)."""

    split: str
    images: int | None = None
    persons: int | None = None


# OCHuman (Zhang et al., CVPR 2019): 4,731 images in all, split by the OCHumanApi into val (2,500) and
# test (2,231); ochuman-c builds val by default and test on request.
OCHUMAN_SPLITS = (SplitSize("val", images=2500), SplitSize("test", images=2231))


@lru_cache(maxsize=None)
def full_splits(dataset: str) -> tuple[SplitSize, ...]:
    """The standard split(s) of ``dataset``; empty when no size is known."""
    from .builder.manifest import load_spec
    from .errors import UserError

    if dataset == "ochuman-c":
        return OCHUMAN_SPLITS
    try:
        source = load_spec(dataset).get("source") or {}
    except UserError:  # an unknown dataset has no shipped manifest, hence no known size
        return ()
    split = str(source.get("split", "full"))
    if source.get("person_count"):
        return (SplitSize(split, persons=int(source["person_count"])),)
    if source.get("image_count"):
        return (SplitSize(split, images=int(source["image_count"])),)
    return ()


def is_full_split(dataset: str, images: int | None, persons: int | None) -> bool | None:
    """True when the run covered a whole standard split, False when fewer, None when unknown.

    A split defined by persons (MPII's 2,958) is compared on persons, the others on images.
    """
    known = False
    for size in full_splits(dataset):
        if size.persons is not None and persons is not None:
            known = True
            if persons >= size.persons:
                return True
        if size.images is not None and images is not None:
            known = True
            if images >= size.images:
                return True
    return False if known else None


def describe_full(dataset: str) -> str:
    """'5,000 images (val2017)' for messages."""
    parts = []
    for size in full_splits(dataset):
        n, unit = (size.persons, "persons") if size.persons is not None else (size.images, "images")
        parts.append(f"{n:,} {unit} ({size.split})")
    return " or ".join(parts) or "unknown"
