"""Re-render a build's outputs from their sources and compare bytes.

Why: ``verify`` re-hashes files against the build's manifest, and ``eval`` checks every image it
reads against it, so a replaced image is caught, unless the manifest was rewritten to match (and
its ``.sha256`` sidecar with it). The bytes of each output are a function of its source, the
corruption, the severity and the seed alone (the byte-identity promise of the builder), so
rendering it again needs no trust in the manifest's output hashes: only in the source images and in
the seeds, which ``read_manifest`` re-derives from the master seed.
"""
from __future__ import annotations

import os
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import sha256_bytes
from ..errors import UserError
from .manifest import MANIFEST_NAME, engine_versions, read_manifest
from .verify import hash_output


@dataclass
class RecomputeReport:
    seed: int | None             # the sample's seed (None: every output re-rendered)
    total: int                   # outputs in the manifest
    checked: int = 0
    differ: list[tuple[str, str]] = field(default_factory=list)  # (output or source, why)

    @property
    def ok(self) -> bool:
        return not self.differ


def _check_versions(manifest: dict[str, Any], where: Path) -> None:
    """Other library versions may render other bytes: a difference would then prove nothing."""
    built, here = dict(manifest.get("versions") or {}), engine_versions()
    diff = sorted(k for k in set(built) | set(here) if k != "robustpose-bench" and built.get(k) != here.get(k))
    if diff:
        pairs = ", ".join(f"{k} {built.get(k, 'absent')} (here {here.get(k, 'absent')})" for k in diff)
        raise UserError(f"{where}: built with other library versions: {pairs}; re-render with the build's versions")


def _render_source(dataset_dir: str, source_path: str, items: list[dict[str, Any]], fmt: str,
                   quality: int) -> list[tuple[str, str | None]]:
    """(output, problem or None) for each item of one source: decoded once, every item re-rendered."""
    from corruptions import corrupt

    from ..determinism import opencv_single_threaded
    from .tasks import decode_image, encode_image

    try:
        with open(source_path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return [(items[0]["source"], f"cannot read the source {source_path}: {exc.strerror}")]
    got = sha256_bytes(data)
    if got != items[0]["source_sha256"]:
        return [(items[0]["source"], f"the source {source_path} has sha256 {got}, the build's had "
                                     f"{items[0]['source_sha256']}: give the images the build read")]
    image = decode_image(data)
    root = str(dataset_dir)
    real_root, real_dirs = os.path.realpath(root), {}
    out: list[tuple[str, str | None]] = []
    with opencv_single_threaded():  # as the builder renders (determinism.py)
        for it in items:
            blob = encode_image(corrupt(image, it["corruption"], it["severity"], it["seed"]), fmt, quality)
            want = sha256_bytes(blob)
            status, value = hash_output(root, real_root, it["output"], real_dirs)
            if status != "ok":
                out.append((it["output"], f"the built file is {status}" + (f" ({value})" if value else "")))
            elif value != want:
                out.append((it["output"], f"the built file (sha256 {value}) is not what its source renders to ({want})"))
            elif it["output_sha256"] != want:
                out.append((it["output"], f"the manifest's sha256 {it['output_sha256']} is not what its source "
                                          f"renders to ({want})"))
            else:
                out.append((it["output"], None))
    return out


def recompute_outputs(dataset_dir: str | Path, images_dir: str | Path, sample: int | None = None,
                      seed: int | None = None, jobs: int = 1, progress: bool = True) -> RecomputeReport:
    """Re-render every output (or a random ``sample`` of them) from ``images_dir`` and compare.

    The sample is drawn with ``seed``; without one, a fresh seed (reported, so the draw can be
    repeated), so that nobody can know in advance which outputs a check will look at.
    """
    from joblib import Parallel, delayed
    from ..progress import progress_bar

    dataset_dir, images_dir = Path(dataset_dir), Path(images_dir)
    mpath = dataset_dir / MANIFEST_NAME
    if not os.path.lexists(mpath):
        raise UserError(f"no manifest at {mpath}: build the dataset first (robustpose-bench build)")
    if not images_dir.is_dir():
        raise UserError(f"--images {images_dir}: not a folder (the source images the build read)")
    if sample is not None and sample < 1:
        raise UserError(f"--sample {sample}: expected a positive number of outputs")
    manifest, _ = read_manifest(mpath)  # validated, seeds re-derived from the master seed
    _check_versions(manifest, mpath)
    items = manifest["items"]
    if sample is not None and sample < len(items):
        seed = secrets.randbits(32) if seed is None else seed
        chosen = np.random.default_rng(seed).choice(len(items), size=sample, replace=False)
        items = [items[i] for i in sorted(chosen)]
    else:
        seed = None
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        by_source[it["source"]].append(it)
    report = RecomputeReport(seed=seed, total=len(manifest["items"]))
    fmt, quality = manifest["format"], manifest.get("jpeg_quality") or 75
    bar = progress_bar(total=len(items), unit="img", desc="recompute", enabled=progress)
    try:
        tasks = (delayed(_render_source)(str(dataset_dir), str(images_dir / src), its, fmt, quality)
                 for src, its in sorted(by_source.items()))
        for src_items, part in zip(sorted(by_source.items()), Parallel(n_jobs=max(1, jobs), return_as="generator")(tasks)):
            report.checked += len(src_items[1])
            report.differ.extend((name, why) for name, why in part if why is not None)
            bar.update(len(src_items[1]))
    finally:
        bar.close()
    return report
