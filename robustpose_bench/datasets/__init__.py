"""Dataset adapters: turn a standard layout (or --images/--ann overrides) into a list of source images.

Each adapter knows its layout, the split's annotation file and how to read the image file names
out of it; ``sources.resolve_sources`` is the one entry point the builder uses.
"""
from .sources import DATASETS, SourceSet, resolve_sources

__all__ = ["DATASETS", "SourceSet", "resolve_sources"]
