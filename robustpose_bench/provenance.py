"""Provenance recorded with every result: versions, git hash, device, timestamp.

Kept in one place so manifests, results.json and leaderboard entries all cite the same facts.
"""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import __version__

# Distribution names whose versions affect the numbers we produce.
TRACKED_LIBRARIES = (
    "numpy",
    "scipy",
    "opencv-python",
    "Pillow",
    "numba",
    "pycocotools",
    "xtcocotools",
    "onnxruntime-gpu",
    "onnxruntime",
    "torch",
    "pandas",
    "joblib",
)


def library_versions(names: tuple[str, ...] = TRACKED_LIBRARIES) -> dict[str, str]:
    """Installed versions of ``names``; libraries that are not installed are left out."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_hash() -> str | None:
    """The commit of the source tree this package runs from, or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = res.stdout.strip()
    return sha if res.returncode == 0 and len(sha) == 40 else None


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def base_provenance() -> dict:
    """The facts common to every output: package, git, Python, platform, libraries, time."""
    return {
        "package": "robustpose-bench",
        "package_version": __version__,
        "git_hash": git_hash(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "timestamp_utc": utc_now(),
    }
