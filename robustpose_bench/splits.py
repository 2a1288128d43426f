"""Sizes of the full evaluation splits: what tells a benchmark run from a sample-sized one.

A 4-image COCO-C run and the paper's 5,000-image rows are not comparable, so ``submit`` refuses a
run below its full split unless it is declared a subset entry, and tables, figures and the page say
"subset". The sizes are the dataset cards' ``split_sizes`` (``robustpose_bench/dataset_cards/``;
docs/leaderboard.md, "Sample-sized runs", says where each number comes from); a dataset without a
registered card has no known size.
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


@lru_cache(maxsize=None)
def full_splits(dataset: str) -> tuple[SplitSize, ...]:
    """The standard split(s) of ``dataset`` (its card's), the default split first; empty when no size is known."""
    from .datasets.cards import find_card

    card = find_card(dataset)
    if card is None:
        return ()
    sizes = [SplitSize(split, images=images, persons=persons) for split, images, persons in card.split_sizes]
    return tuple(sorted(sizes, key=lambda s: s.split != card.default_split))


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
