"""robustpose-bench: robustness benchmarks for human pose estimation (COCO-C, MPII-C, OCHuman-C)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("robustpose-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "evaluate"]


def evaluate(model, dataset, **kwargs):
    """Evaluate a model file or an in-memory ``torch.nn.Module`` on a built -C dataset and return the
    results dict: see :func:`robustpose_bench.api.evaluate` (imported on first use, so that importing
    the package stays light)."""
    from .api import evaluate as _evaluate

    return _evaluate(model, dataset, **kwargs)
