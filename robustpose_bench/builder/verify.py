"""Re-hash a built -C dataset against its manifest: missing, extra and mismatched files.

Hashing is I/O bound and ``hashlib`` releases the GIL on large buffers, so threads (joblib's
threading backend) parallelise it without process start-up or pickling costs.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import sha256_bytes
from ..errors import UserError
from ..jsonfile import read_regular_bytes
from .manifest import MANIFEST_NAME, read_manifest
from .tasks import JOURNAL_DIR

# Bookkeeping files that live beside the outputs and are not items.
BOOKKEEPING = ("manifest.json", "manifest.json.sha256", "build_info*.json", "manifest.shard-*-of-*.json")


@dataclass
class VerifyReport:
    manifest_sha256: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)  # (path, expected, got)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why): not a regular file inside
    extra: list[str] = field(default_factory=list)
    failed_items: list[dict[str, Any]] = field(default_factory=list)
    manifest_problem: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.refused or self.extra or self.failed_items
                    or self.manifest_problem)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a device, FIFO or socket"


def hash_output(root: str, real_root: str, rel: str, real_dirs: dict[str, bool]) -> tuple[str, str | None]:
    """``("ok", sha256)``, ``("missing", None)`` or ``("refused", why)`` for one output.

    Only a regular file inside the dataset folder is ever opened: a symlink, a device or a FIFO at an
    output path (``/dev/zero`` hung verify), or a linked folder leading outside, is refused unread.
    ``real_dirs`` caches which parent folders resolve inside ``real_root``.
    """
    path = os.path.join(root, rel)
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing", None
    if not stat.S_ISREG(mode):
        return "refused", _kind(mode)
    parent = os.path.dirname(path)
    inside = real_dirs.get(parent)
    if inside is None:
        real = os.path.realpath(parent)
        inside = real_dirs[parent] = real == real_root or real.startswith(real_root + os.sep)
    if not inside:
        return "refused", "reached through a linked folder outside the dataset folder"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return "missing", None
    except OSError as exc:  # ELOOP: it became a symlink since the lstat
        return "refused", f"cannot be opened safely ({exc.strerror})"
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "refused", "not a regular file"
        h = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "ok", h.hexdigest()


def _hash_chunk(root: str, rels: list[str]) -> list[tuple[str, str | None]]:
    real_root = os.path.realpath(root)
    real_dirs: dict[str, bool] = {}
    return [hash_output(root, real_root, r, real_dirs) for r in rels]


def verify_dataset(dataset_dir: str | Path, jobs: int = 4, progress: bool = True) -> VerifyReport:
    """Check every item of ``dataset_dir/manifest.json``; never stops at the first problem.

    The manifest is validated first (:func:`..manifest.validate_manifest`): a name that could reach
    outside the folder, a missing field or a seed that does not follow the seed rule is a UserError.
    """
    from joblib import Parallel, delayed
    from ..progress import progress_bar

    dataset_dir = Path(dataset_dir)
    mpath = dataset_dir / MANIFEST_NAME
    if not os.path.lexists(mpath):
        raise UserError(f"no manifest at {mpath}: build the dataset first (robustpose-bench build)")
    manifest, raw = read_manifest(mpath)
    report = VerifyReport(manifest_sha256=sha256_bytes(raw))
    sidecar = mpath.with_name(MANIFEST_NAME + ".sha256")
    if sidecar.is_file():
        fields = read_regular_bytes(sidecar, "manifest checksum").decode("utf-8", "replace").split()
        recorded = fields[0] if fields else ""
        if recorded != report.manifest_sha256:
            report.manifest_problem = f"{MANIFEST_NAME}: sha256 {report.manifest_sha256} differs from {sidecar.name} ({recorded})"
    report.failed_items = list(manifest["failed"])

    items = manifest["items"]
    rels = [it["output"] for it in items]
    chunk = 64
    chunks = [rels[i:i + chunk] for i in range(0, len(rels), chunk)]
    results: list[tuple[str, str | None]] = []
    bar = progress_bar(total=len(rels), unit="file", desc="verify", enabled=progress)
    try:
        for part in Parallel(n_jobs=max(1, jobs), prefer="threads", return_as="generator")(
            delayed(_hash_chunk)(str(dataset_dir), c) for c in chunks
        ):
            results.extend(part)
            bar.update(len(part))
    finally:
        bar.close()
    for it, (status, value) in zip(items, results):
        report.checked += 1
        if status == "missing":
            report.missing.append(it["output"])
        elif status == "refused":
            report.refused.append((it["output"], value or ""))
        elif value != it["output_sha256"]:
            report.mismatched.append((it["output"], it["output_sha256"], value))

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
