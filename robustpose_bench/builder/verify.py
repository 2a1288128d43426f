"""Re-hash a built -C dataset against its manifest: missing, extra and mismatched files.

Hashing is I/O bound and ``hashlib`` releases the GIL on large buffers, so threads (joblib's
threading backend) parallelise it without process start-up or pickling costs.
"""
from __future__ import annotations

import fnmatch
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import sha256_bytes, sha256_file
from ..errors import UserError
from .manifest import MANIFEST_NAME, MANIFEST_SCHEMA
from .tasks import JOURNAL_DIR

# Bookkeeping files that live beside the outputs and are not items.
BOOKKEEPING = ("manifest.json", "manifest.json.sha256", "build_info*.json", "manifest.shard-*-of-*.json")


@dataclass
class VerifyReport:
    manifest_sha256: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)  # (path, expected, got)
    extra: list[str] = field(default_factory=list)
    failed_items: list[dict[str, Any]] = field(default_factory=list)
    manifest_problem: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.extra or self.failed_items or self.manifest_problem)


def _hash_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None


def _hash_chunk(root: str, rels: list[str]) -> list[str | None]:
    return [_hash_or_none(Path(root) / r) for r in rels]


def verify_dataset(dataset_dir: str | Path, jobs: int = 4, progress: bool = True) -> VerifyReport:
    """Check every item of ``dataset_dir/manifest.json``; never stops at the first problem."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    dataset_dir = Path(dataset_dir)
    mpath = dataset_dir / MANIFEST_NAME
    try:
        raw = mpath.read_bytes()
    except FileNotFoundError:
        raise UserError(f"no manifest at {mpath}: build the dataset first (robustpose-bench build)") from None
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise UserError(f"{mpath}: not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise UserError(f"{mpath}: not a robustpose-bench build manifest (schema {MANIFEST_SCHEMA})")
    report = VerifyReport(manifest_sha256=sha256_bytes(raw))
    sidecar = mpath.with_name(MANIFEST_NAME + ".sha256")
    if sidecar.is_file():
        fields = sidecar.read_text(encoding="utf-8").split()
        recorded = fields[0] if fields else ""
        if recorded != report.manifest_sha256:
            report.manifest_problem = f"{MANIFEST_NAME}: sha256 {report.manifest_sha256} differs from {sidecar.name} ({recorded})"
    report.failed_items = list(manifest.get("failed", []))

    items = manifest.get("items", [])
    rels = [it["output"] for it in items]
    chunk = 64
    chunks = [rels[i:i + chunk] for i in range(0, len(rels), chunk)]
    hashes: list[str | None] = []
    bar = tqdm(total=len(rels), unit="file", desc="verify", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    try:
        for part in Parallel(n_jobs=max(1, jobs), prefer="threads", return_as="generator")(
            delayed(_hash_chunk)(str(dataset_dir), c) for c in chunks
        ):
            hashes.extend(part)
            bar.update(len(part))
    finally:
        bar.close()
    for it, got in zip(items, hashes):
        report.checked += 1
        if got is None:
            report.missing.append(it["output"])
        elif got != it["output_sha256"]:
            report.mismatched.append((it["output"], it["output_sha256"], got))

    expected = set(rels)
    for dirpath, dirs, files in os.walk(dataset_dir):
        rel_dir = os.path.relpath(dirpath, dataset_dir)
        if rel_dir == ".":
            dirs[:] = [d for d in dirs if d != JOURNAL_DIR]
        for f in files:
            rel = f if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{f}"
            if rel_dir == "." and any(fnmatch.fnmatchcase(f, pat) for pat in BOOKKEEPING):
                continue
            if rel not in expected:
                report.extra.append(rel)
    report.extra.sort()
    return report
