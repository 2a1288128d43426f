"""Sizes of the full evaluation splits: what tells a benchmark run from a sample-sized one.

A 4-image COCO-C run and the paper's 5,000-image rows are not comparable, so ``submit`` refuses a
run below its full split unless it is declared a subset entry, and tables, figures and the page say
"subset". The sizes are the dataset cards' ``split_sizes`` (``robustpose_bench/dataset_cards/``;
docs/leaderboard.md, "Sample-sized runs", says where each number comes from). A user's own dataset
(``--dataset-card``) has the sizes its card declares, which results files and entries record
(``provenance.dataset_card`` / ``dataset_card``); a card that declares none leaves the size unknown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class SplitSize:
    """One standard split: its name and its size in images or in persons (whichever defines it)."""

    split: str
    images: int | None = None
    persons: int | None = None


#: A card as a results file records it (``provenance.dataset_card``) or an entry (``dataset_card``).
CardRecord = Mapping[str, Any]


@lru_cache(maxsize=None)
def _registered_splits(dataset: str) -> tuple[SplitSize, ...] | None:
    """The split sizes of a registered dataset's card; None when ``dataset`` has no registered card."""
    from .datasets.cards import find_card

    card = find_card(dataset)
    if card is None:
        return None
    return _ordered(card.split_sizes, card.default_split)


def _ordered(sizes: Sequence[tuple[str, int | None, int | None]], default: str | None) -> tuple[SplitSize, ...]:
    out = [SplitSize(split, images=images, persons=persons) for split, images, persons in sizes]
    return tuple(sorted(out, key=lambda s: s.split != default))


def _sizes_in_card_file(card: CardRecord) -> Any:
    """``split_sizes`` of the card file a results file names (``path``), when it is at hand and still
    has the recorded sha256: results written before the sizes were recorded keep their meaning."""
    from .atomic import sha256_file

    path, sha = card.get("path"), card.get("sha256")
    if not isinstance(path, str) or not sha or not Path(path).is_file():
        return None
    try:
        if sha256_file(path) != sha:
            return None
        obj = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return obj.get("split_sizes") if isinstance(obj, Mapping) else None


def _recorded_splits(card: CardRecord | None) -> tuple[SplitSize, ...]:
    """The split sizes a results file or entry recorded of a user's card (empty when it declares none)."""
    from .datasets.cards import parse_split_sizes

    if not isinstance(card, Mapping):
        return ()
    sizes = card["split_sizes"] if "split_sizes" in card else _sizes_in_card_file(card)
    if not sizes:
        return ()
    where = f"dataset card {card.get('path') or card.get('name') or ''}".strip()
    return _ordered(parse_split_sizes(sizes, where), card.get("default_split"))


def full_splits(dataset: str, card: CardRecord | None = None) -> tuple[SplitSize, ...]:
    """The standard split(s) of ``dataset``, the default split first: its registered card's, else (a
    user's own dataset) those of ``card``, the card its results or entry recorded; empty when unknown."""
    registered = _registered_splits(dataset)
    return registered if registered is not None else _recorded_splits(card)


def is_full_split(dataset: str, images: int | None, persons: int | None,
                  card: CardRecord | None = None) -> bool | None:
    """True when the run covered a whole standard split, False when fewer, None when unknown.

    A split defined by persons (MPII's 2,958) is compared on persons, the others on images.
    """
    known = False
    for size in full_splits(dataset, card):
        if size.persons is not None and persons is not None:
            known = True
            if persons >= size.persons:
                return True
        if size.images is not None and images is not None:
            known = True
            if images >= size.images:
                return True
    return False if known else None


def describe_full(dataset: str, card: CardRecord | None = None) -> str:
    """'5,000 images (val2017)' for messages."""
    parts = []
    for size in full_splits(dataset, card):
        n, unit = (size.persons, "persons") if size.persons is not None else (size.images, "images")
        parts.append(f"{n:,} {unit} ({size.split})")
    return " or ".join(parts) or "unknown"


def undeclared_size(dataset: str, card: CardRecord | None) -> str | None:
    """Why a user's dataset has no known full split, in one clause for messages: its card declares no
    ``split_sizes`` (say what to add), or the results predate recording them and the card file is gone
    or changed. None when a size is known or the dataset is registered."""
    if _registered_splits(dataset) is not None or _recorded_splits(card):
        return None
    card = card if isinstance(card, Mapping) else {}
    where = f"its card {card['path']}" if card.get("path") else "its card"
    if "split_sizes" not in card:  # results written before the card's sizes were recorded
        return (f"the results predate recording the card's split sizes and {where} is not at hand unchanged: "
                "re-run score or eval with the card")
    split = card.get("default_split") or "val"
    return (f"{where} declares no split size: add \"split_sizes\": {{\"{split}\": {{\"images\": N}}}} "
            "(the full split's image count) and re-run score or eval")
