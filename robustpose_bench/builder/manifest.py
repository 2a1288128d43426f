"""Build specs, per-item seeds, output paths and the materialised manifest.

Why a stable hash: the reference corruptions draw from numpy's global RNG and AdvMix's script
reseeds it with 1 before every call, so "the same" -C dataset differs between people. Here every
item's seed is ``uint32(SHA-256(canonical JSON of [master_seed, dataset, source file name,
corruption, severity]))``: independent of order, job count, sharding and Python's salted ``hash()``.

The materialised manifest (``OUT/<dataset>/manifest.json``) holds no timestamps and no absolute
paths, and its items are sorted, so identical builds give identical bytes; its sha256 identifies
the build and evaluation results cite it.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UserError
from ..jsonfile import read_json

MANIFEST_SCHEMA = "robustpose-bench/build-manifest/1"
SPEC_SCHEMA = "robustpose-bench/dataset-spec/1"
MANIFEST_NAME = "manifest.json"
SEED_RULES = ("hash", "advmix")
ADVMIX_SEED = 1  # AdvMix tools/make_datasets.py: np.random.seed(1) before every corrupt() call
SEED_RULE_TEXT = {
    "hash": (
        "seed = int.from_bytes(sha256(json.dumps([master_seed, dataset, source_file_name, corruption, "
        "severity], separators=(',', ':'), ensure_ascii=False).encode('utf-8')).digest()[:4], 'big'); "
        "severity is 1..5; corrupt(image, corruption, severity, seed) == imagecorruptions 1.1.2 after "
        "np.random.seed(seed)"
    ),
    "advmix": "seed = 1 for every item, as AdvMix's tools/make_datasets.py (np.random.seed(1) before each call)",
}
FORMATS = {"jpeg": ".jpg", "png": ".png"}
LAYOUTS = ("default", "advmix")
# Distributions whose versions decide the output bytes (decode, corrupt, encode).
VERSIONED = ("numpy", "scipy", "opencv-python", "Pillow", "numba", "scikit-image")


def data_manifest_dir() -> Path:
    """The shipped manifests: ``robustpose_bench/_data_manifests``.

    In a checkout that is a link to the repository's top-level ``data_manifests/`` (one copy, under
    version control); in an installed wheel, setuptools has copied the files there.
    """
    return Path(__file__).resolve().parents[1] / "_data_manifests"


def load_spec(dataset: str) -> dict[str, Any]:
    """The shipped, version-controlled spec ``data_manifests/<dataset>.json``."""
    path = data_manifest_dir() / f"{dataset}.json"
    if not path.is_file():
        raise UserError(f"no shipped manifest for {dataset!r}: {path} is missing")
    spec = read_json(path, "shipped manifest")
    if spec.get("schema") != SPEC_SCHEMA or spec.get("dataset") != dataset:
        raise UserError(f"{path}: expected schema {SPEC_SCHEMA!r} for dataset {dataset!r}")
    return spec


def item_seed(master_seed: int, dataset: str, file_name: str, corruption: str, severity: int) -> int:
    """uint32 seed of one output item (see SEED_RULE_TEXT['hash'])."""
    key = json.dumps([int(master_seed), dataset, file_name, corruption, int(severity)],
                     separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big")


def output_name(file_name: str, fmt: str) -> str:
    """The source name for JPEG sources written as JPEG; otherwise the suffix becomes the format's.

    ``a/b.jpg`` stays ``a/b.jpg`` for ``jpeg`` (as AdvMix keeps the basename) and becomes ``a/b.png``
    for ``png``; a ``.png`` or ``.jpeg`` source written as ``jpeg`` keeps ``.jpeg`` / gets ``.jpg``.
    """
    stem, suffix = posixpath.splitext(file_name)
    if fmt == "jpeg" and suffix.lower() in (".jpg", ".jpeg"):
        return file_name
    if fmt == "png" and suffix.lower() == ".png":
        return file_name
    return stem + FORMATS[fmt]


def output_collisions(file_names: list[str] | tuple[str, ...], fmt: str) -> list[tuple[str, str, str]]:
    """``(first source, second source, output name)`` for sources that would write the same output.

    ``x.jpg`` and ``x.png`` both become ``x.jpg`` as JPEG: building both would leave one output for two
    manifest items, so the build refuses them before writing anything.
    """
    seen: dict[str, str] = {}
    clashes = []
    for name in file_names:
        out = output_name(name, fmt)
        first = seen.setdefault(out, name)
        if first != name:
            clashes.append((first, name, out))
    return clashes


def output_relpath(corruption: str, severity: int, file_name: str, fmt: str, layout: str) -> str:
    """``<corruption>/<severity>/<name>``: severity 1..5, or 0..4 with the AdvMix layout."""
    folder = severity - 1 if layout == "advmix" else severity
    return f"{corruption}/{folder}/{output_name(file_name, fmt)}"


def engine_versions() -> dict[str, str]:
    """Versions that decide the bytes; recorded in the manifest and checked before skipping work."""
    out = {"robustpose-bench": __version__}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides which items exist and what their bytes are."""

    dataset: str
    source: str
    split: str
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    master_seed: int
    seed_rule: str = "hash"
    fmt: str = "jpeg"
    jpeg_quality: int = 75
    layout: str = "default"
    spec_sha256: str = ""
    versions: dict[str, str] = field(default_factory=engine_versions, compare=False, hash=False)

    def seed(self, file_name: str, corruption: str, severity: int) -> int:
        if self.seed_rule == "advmix":
            return ADVMIX_SEED
        return item_seed(self.master_seed, self.dataset, file_name, corruption, severity)

    def relpath(self, corruption: str, severity: int, file_name: str) -> str:
        return output_relpath(corruption, severity, file_name, self.fmt, self.layout)

    def item_key(self) -> dict[str, Any]:
        """The fields a journal record must match before an existing output is trusted."""
        return {
            "fmt": self.fmt, "jpeg_quality": self.jpeg_quality if self.fmt == "jpeg" else None,
            "versions": self.versions,
        }


def materialise(
    config: BuildConfig,
    results: list[dict[str, Any]],
    source_facts: dict[str, Any],
    selection: dict[str, Any],
) -> dict[str, Any]:
    """The manifest as a plain dict: sorted items and failures, no timestamps, no absolute paths."""
    items, failed = [], []
    for res in results:
        items.extend(res["items"])
        failed.extend(res["failed"])
    items.sort(key=lambda it: (it["source"], it["corruption"], it["severity"]))
    failed.sort(key=lambda f: (f["source"], f.get("corruption") or "", f.get("severity") or 0))
    return {
        "schema": MANIFEST_SCHEMA,
        "dataset": config.dataset,
        "source": {"dataset": config.source, "split": config.split, **source_facts},
        "spec_sha256": config.spec_sha256,
        "corruptions": list(config.corruptions),
        "severities": list(config.severities),
        "master_seed": config.master_seed,
        "seed_rule": config.seed_rule,
        "seed_rule_text": SEED_RULE_TEXT[config.seed_rule],
        "format": config.fmt,
        "jpeg_quality": config.jpeg_quality if config.fmt == "jpeg" else None,
        "layout": config.layout,
        "selection": selection,
        "versions": config.versions,
        "counts": {"items": len(items), "failed": len(failed), "sources": len(results)},
        "items": items,
        "failed": failed,
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical JSON bytes: sorted keys, one top-level key and one item per line.

    Compact but grep- and diff-friendly (COCO-C has 375,000 items); equal content gives equal bytes.
    """
    def dump(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    lines = []
    for key in sorted(manifest):
        value = manifest[key]
        if key in ("items", "failed") and value:
            body = ",\n".join(f"  {dump(v)}" for v in value)
            lines.append(f"{dump(key)}:[\n{body}\n ]")
        else:
            lines.append(f"{dump(key)}:{dump(value)}")
    return ("{\n " + ",\n ".join(lines) + "\n}\n").encode("utf-8")
