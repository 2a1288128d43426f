"""Exact, fast, reproducible ports of the imagecorruptions 1.1.2 corruptions.

Stand-alone: no pose knowledge, no global RNG. ``corrupt(image, name, severity, seed)``.
"""
from .registry import (
    BENCHMARK_CORRUPTIONS,
    CORRUPTIONS,
    SEVERITIES,
    VALIDATION_CORRUPTIONS,
    Corruption,
    corrupt,
    get_corruption,
    list_corruptions,
)

__all__ = [
    "BENCHMARK_CORRUPTIONS",
    "CORRUPTIONS",
    "SEVERITIES",
    "VALIDATION_CORRUPTIONS",
    "Corruption",
    "corrupt",
    "get_corruption",
    "list_corruptions",
]
