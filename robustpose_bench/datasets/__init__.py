"""Datasets: one card per dataset (``cards.py``, the registry) and the adapters that read them.

A card (``robustpose_bench/dataset_cards/<name>.json``, or a user's ``--dataset-card FILE.json``)
says what makes a dataset; the adapter of its ``format`` reads the source: ``coco.py`` (any
COCO-format keypoint dataset: COCO, OCHuman, CrowdPose, your own), ``mpii.py`` (HRNet's MPII layout),
``synth.py`` (the procedural set). ``sources.resolve_sources`` is the one entry point the builder
uses; for evaluation and scoring ``open_dataset`` / ``scoring_dataset`` give the card's
``EvalDataset`` (``base.py``): ground truth, boxes, result format, scorer.

Names are resolved lazily, so that ``datasets.cards`` (read by results, vocabulary and leaderboard
code) imports no image code.
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "EvalDataset": "base", "EvalSource": "base", "Thresholds": "base",
    "SourceSet": "sources", "open_dataset": "sources", "scoring_dataset": "sources", "resolve_sources": "sources",
    "adapter_class": "sources",
    "DatasetCard": "cards", "get_card": "cards", "find_card": "cards", "list_datasets": "cards",
    "load_card_file": "cards", "resolve_card": "cards",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
