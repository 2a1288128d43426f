"""The -C dataset builder: seeded, checksummed manifests, resumable parallel runs, verification."""
from .manifest import BuildConfig, item_seed, load_spec, output_relpath
from .runner import BuildResult, run_build
from .verify import VerifyReport, verify_dataset

__all__ = [
    "BuildConfig", "BuildResult", "VerifyReport", "item_seed", "load_spec", "output_relpath",
    "run_build", "verify_dataset",
]
