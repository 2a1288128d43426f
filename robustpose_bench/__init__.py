"""robustpose-bench: robustness benchmarks for human pose estimation (COCO-C, MPII-C, OCHuman-C)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("robustpose-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
