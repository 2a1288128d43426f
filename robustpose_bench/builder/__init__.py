"""The -C dataset builder: seeded, checksummed manifests, resumable parallel runs, verification."""
from .manifest import (
    BuildConfig, item_seed, load_manifest, load_spec, output_relpath, path_problem, read_manifest, validate_manifest,
)
from .runner import BuildResult, run_build
from .verify import VerifyReport, verify_dataset

__all__ = [
    "BuildConfig", "BuildResult", "VerifyReport", "item_seed", "load_manifest", "load_spec", "output_relpath",
    "path_problem", "read_manifest", "run_build", "validate_manifest", "verify_dataset",
]
