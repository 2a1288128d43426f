"""Dataset adapters: turn a standard layout (or --images/--ann overrides) into a list of source images.

Each adapter knows its layout, the split's annotation file and how to read the image file names
out of it; ``sources.resolve_sources`` is the one entry point the builder uses. For evaluation each
dataset also has an ``EvalDataset`` class (``base.py``): ground truth, boxes, result format, scorer;
``eval_dataset(name)`` finds it.
"""
from .base import EvalDataset, EvalSource, Thresholds
from .sources import DATASETS, SourceSet, eval_dataset, resolve_sources

__all__ = ["DATASETS", "EvalDataset", "EvalSource", "SourceSet", "Thresholds", "eval_dataset", "resolve_sources"]
