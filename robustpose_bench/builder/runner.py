"""Run the build tasks: joblib (loky) on one machine, joblib's dask backend on a cluster, or a shard.

Items are a pure function of the config, so the bytes and the manifest do not depend on the
backend, the job count or the sharding. ``--shard I/N`` (1 <= I <= N, as in ``eval``) takes every N-th
source of the sorted (and ``--limit``-ed) list, starting at the I-th, writes its shard manifest, and the
shard that finds all N shard manifests present (and agreeing) writes the merged ``manifest.json``,
identical to an unsharded build's.

On disk a shard keeps the 0-based number it has always had (``--shard I/N`` writes
``manifest.shard-{I-1}-of-N.json``, ``build_info.shard-{I-1}-of-N.json``, ``lock.shard-{I-1}-of-N`` and
``selection.shard = [I-1, N]``): a partial build begun when ``build --shard`` counted from 0 resumes and
merges with the same files. ``_on_disk`` is the one place that converts.
"""
from __future__ import annotations

import errno
import fnmatch
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_bytes, sha256_file
from ..datasets.sources import SourceSet
from ..errors import UserError
from ..jsonfile import read_regular_bytes
from .lock import BuildLock
from .manifest import (
    JOURNAL_DIR, MANIFEST_NAME, SETTINGS_NAME, STATE_DIR, BuildConfig, build_settings, manifest_bytes, materialise,
    output_collisions, settings_difference,
)
from .tasks import DiskFullError, Task, cleanup_temp_files, run_task

SHARD_GLOB = "manifest.shard-*-of-*.json"
BUILD_INFO = "build_info.json"
STALE_TEMP_S = 3600.0
# Keys that must agree between shard manifests before they are merged.
_SELECTION_KEYS = ("selection", "items", "failed", "counts")


@dataclass
class BuildResult:
    """What the command reports: where the manifest went and what happened."""

    dataset_dir: Path
    manifest_path: Path | None
    manifest_sha256: str | None
    n_sources: int
    n_items: int
    written: int
    skipped: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    merged: bool = False
    seconds: float = 0.0


def _on_disk(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    """Shard (I, N), numbered 1..N as the command line numbers it, -> its 0-based (I-1, N) of the file
    names and manifests (see the module docstring); checked, since library callers pass tuples."""
    if shard is None:
        return None
    i, n = shard
    if n < 1 or not 1 <= i <= n:
        raise UserError(f"--shard {i}/{n}: needs 1 <= I <= N")
    return i - 1, n


def select_files(files: tuple[str, ...], limit: int | None, part: tuple[int, int] | None) -> list[str]:
    """The sources of a build: the first ``limit``, then every N-th from ``part``'s 0-based index."""
    selected = list(files[:limit] if limit is not None else files)
    if part is not None:
        i, n = part
        selected = selected[i::n]
    return selected


def _iter_results(tasks: list[Task], jobs: int, backend: str, scheduler: str | None) -> Iterable[dict[str, Any]]:
    """Run tasks and yield results as they finish (any order; the manifest sorts them)."""
    if jobs == 1 and backend == "loky":
        for t in tasks:  # in-process: simplest to debug, and no worker start-up
            yield run_task(t)
        return
    from joblib import Parallel, delayed, parallel_config

    if backend == "dask":
        try:
            from dask.distributed import Client
        except ImportError:
            raise UserError("--backend dask needs dask.distributed: pip install 'robustpose-bench[dask]'") from None
        if not scheduler:
            raise UserError("--backend dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.1:8786)")
        try:
            client = Client(scheduler, timeout="30s", set_as_default=True)
        except (OSError, TimeoutError) as exc:
            raise UserError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        try:
            with parallel_config(backend="dask"):
                # The dask backend returns results in order; the generator still streams them.
                yield from Parallel(n_jobs=-1, batch_size=1, return_as="generator")(delayed(run_task)(t) for t in tasks)
        except BaseException:
            # Interrupted (Ctrl-C, a failed task): the futures still in flight fail as the connection
            # closes, and tornado / distributed log each as a 30-line traceback from their own loop
            # thread, after close() returns. The build is stopping and says so in one line; silence
            # them for the rest of this process.
            for name in ("tornado.application", "tornado.general", "distributed", "asyncio"):
                logging.getLogger(name).setLevel(logging.CRITICAL + 1)
            client.close()
            raise
        client.close()
        return
    with parallel_config(backend="loky", n_jobs=jobs, initializer=ignore_sigint):
        yield from Parallel(batch_size=1, return_as="generator_unordered")(delayed(run_task)(t) for t in tasks)


def ignore_sigint() -> None:
    """Loky worker initializer: Ctrl-C is the main process's to handle. A terminal sends SIGINT to the
    whole process group; a worker that took it between tasks (in loky's own loop) printed a 15-line
    traceback after "interrupted". The main process stops the build and joblib terminates the workers;
    a write they leave half done is a temp file, removed on the way out (``run_build``)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_build(
    config: BuildConfig,
    sources: SourceSet,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    shard: tuple[int, int] | None = None,
    limit: int | None = None,
    progress: bool = True,
    provenance: dict[str, Any] | None = None,
    rebuild: bool = False,
) -> BuildResult:
    """Build the selected sources into ``out_dir/<dataset>`` and write the manifest.

    The dataset folder is locked for the whole run (``lock.BuildLock``). A folder that holds a
    build with other settings is refused unless ``rebuild``, which first deletes that build.
    ``shard`` is (I, N) with 1 <= I <= N, as ``--shard I/N``.
    """
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    if backend not in ("loky", "dask"):
        raise UserError(f"--backend must be loky or dask, got {backend!r}")
    if rebuild and shard is not None:
        raise UserError("--rebuild cannot be combined with --shard (other shards may be writing); "
                        "rebuild without --shard, or delete the dataset folder first")
    shard = _on_disk(shard)  # from here on (I-1, N): the numbering of the files (module docstring)
    _refuse_collisions(sources, select_files(sources.files, limit, None), config.fmt)
    t0 = time.perf_counter()
    dataset_dir = Path(out_dir) / config.dataset
    source_facts = {
        "annotation_file": sources.ann_path.name,
        "annotation_sha256": sha256_file(sources.ann_path),
        "image_count": len(sources.files),
    }
    files = select_files(sources.files, limit, shard)
    selection = {"limit": limit, "shard": list(shard) if shard else None, "sources": len(files)}
    lock = BuildLock(dataset_dir, shard)
    with lock as owner:
        _claim_folder(dataset_dir, build_settings(materialise(config, [], source_facts, selection)), rebuild)
        # A killed run may leave hidden temp files; an unsharded build owns the folder, a shard only
        # removes stale ones (another shard may be writing right now).
        cleanup_temp_files(dataset_dir, older_than_s=None if shard is None else STALE_TEMP_S)
        tasks = [Task(f, str(sources.image_dir / f), str(dataset_dir), config, owner) for f in files]
        try:
            results = _run_tasks(tasks, config.dataset, jobs, backend, scheduler, progress)
        except KeyboardInterrupt:
            # The workers ignore Ctrl-C (``ignore_sigint``) and joblib terminates them; one may have been
            # between its temp file and the rename. Stop every further write, wait for those in
            # flight, then remove what killed writers left.
            lock.retire()
            if shard is None:
                cleanup_temp_files(dataset_dir)
            raise
        manifest = materialise(config, results, source_facts, selection)
        written = sum(r["written"] for r in results)
        skipped = sum(r["skipped"] for r in results)
        seconds = time.perf_counter() - t0
        path, digest, merged = _finish(dataset_dir, manifest, shard, provenance or {}, {
            "backend": backend, "jobs": jobs, "scheduler": scheduler, "shard": list(shard) if shard else None,
            "sources": len(files), "items": len(manifest["items"]), "written": written, "skipped": skipped,
            "failed": len(manifest["failed"]), "seconds": round(seconds, 3),
        })
    return BuildResult(dataset_dir, path, digest, len(files), len(manifest["items"]), written, skipped,
                       manifest["failed"], merged, seconds)


def _claim_folder(dataset_dir: Path, settings: dict[str, Any], rebuild: bool) -> None:
    """Refuse a folder holding a build with other settings (``rebuild`` clears it first); then record
    this build's settings before its first output, so that even a killed build is recognised."""
    if rebuild:
        clear_build(dataset_dir)
    existing = _existing_settings(dataset_dir)
    if existing is not None and existing != settings:
        why = settings_difference(existing, settings) if isinstance(existing, dict) else existing
        raise UserError(f"{dataset_dir} holds a build with other settings ({why}); pass --rebuild to "
                        "delete it and build anew, or build into another --data")
    atomic_write_json(dataset_dir / STATE_DIR / SETTINGS_NAME, settings)


def _existing_settings(dataset_dir: Path) -> dict[str, Any] | str | None:
    """The settings of the build already in the folder: its settings record or, for builds made
    before there was one, its manifest. None: no build there; a string: unreadable, and why."""
    import json

    for path, what in ((dataset_dir / STATE_DIR / SETTINGS_NAME, "settings"), (dataset_dir / MANIFEST_NAME, "manifest")):
        if not path.exists():
            continue
        try:
            obj = json.loads(read_regular_bytes(path, f"build {what}"))
        except (UserError, ValueError):
            return f"its {path.name} is unreadable"
        if not isinstance(obj, dict):
            return f"its {path.name} is not a JSON object"
        return obj if what == "settings" else build_settings(obj)
    return None


def clear_build(dataset_dir: Path) -> int:
    """Delete what a build writes in its folder: corruption folders, manifests, build info, journal
    records and temp files. Anything else (and the lock files) is kept. Returns the entries removed."""
    import shutil

    from corruptions import CORRUPTIONS

    from .verify import BOOKKEEPING

    removed = 0
    for entry in sorted(dataset_dir.iterdir()):
        name = entry.name
        if entry.is_dir() and not entry.is_symlink() and name in CORRUPTIONS:
            shutil.rmtree(entry)
        elif entry.is_file() and (any(fnmatch.fnmatchcase(name, pat) for pat in BOOKKEEPING)
                                  or (name.startswith(".") and name.endswith(".tmp"))):
            entry.unlink()
        else:
            continue
        removed += 1
    for record in [*(dataset_dir / JOURNAL_DIR).glob("*.json"), *(dataset_dir / STATE_DIR).glob("*.json")]:
        record.unlink()  # resume records and the settings; the lock files stay (they are held)
        removed += 1
    return removed


def _run_tasks(tasks: list[Task], dataset: str, jobs: int, backend: str, scheduler: str | None,
               progress: bool) -> list[dict[str, Any]]:
    """Every task's result, with a progress bar on stderr."""
    from ..progress import progress_bar

    results: list[dict[str, Any]] = []
    bar = progress_bar(total=len(tasks), unit="img", desc=f"build {dataset}", enabled=progress)
    try:
        for res in _iter_results(tasks, jobs, backend, scheduler):
            results.append(res)
            bar.update(1)
            if res["failed"]:
                bar.set_postfix(failed=sum(len(r["failed"]) for r in results))
    finally:
        bar.close()
    return results


def _finish(dataset_dir: Path, manifest: dict[str, Any], shard: tuple[int, int] | None,
            provenance: dict[str, Any], stats: dict[str, Any]) -> tuple[Path, str, bool]:
    """Write the manifest (a shard's, merged when all shards are there) and build_info."""
    merged = False
    try:
        if shard is None:
            path = dataset_dir / MANIFEST_NAME
            digest = _write_manifest(path, manifest)
        else:
            i, n = shard
            path = dataset_dir / f"manifest.shard-{i}-of-{n}.json"
            digest = _write_manifest(path, manifest, sidecar=False)
            merged_path, merged_digest = merge_shards(dataset_dir, n)
            if merged_path is not None:
                path, digest, merged = merged_path, merged_digest, True
        info = dict(provenance)
        info.update({"dataset": manifest["dataset"], "manifest": path.name, "manifest_sha256": digest, **stats})
        info_name = BUILD_INFO if shard is None else f"build_info.shard-{shard[0]}-of-{shard[1]}.json"
        atomic_write_json(dataset_dir / info_name, info)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"no space left on device while writing the manifest in {dataset_dir}; free space and re-run "
                "(finished outputs are kept and skipped)"
            ) from None
        raise
    return path, digest, merged


def _refuse_collisions(sources: SourceSet, files: list[str], fmt: str) -> None:
    """Refuse, before writing anything, sources that would build to one output (over all shards)."""
    clashes = output_collisions(files, fmt)
    if clashes:
        first, second, out = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise UserError(
            f"{sources.ann_path}: images {first!r} and {second!r} would both build to {out!r} as {fmt}{more}; "
            "remove or rename one of them"
        )


def _write_manifest(path: Path, manifest: dict[str, Any], sidecar: bool = True) -> str:
    data = manifest_bytes(manifest)
    atomic_write_bytes(path, data)
    digest = sha256_bytes(data)
    if sidecar:  # sha256sum-compatible, so `sha256sum -c manifest.json.sha256` works
        atomic_write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
    return digest


def merge_shards(dataset_dir: Path, n: int) -> tuple[Path | None, str | None]:
    """If all N shard manifests exist and agree on the config, write the merged manifest."""
    import json

    parts = []
    for i in range(n):
        p = dataset_dir / f"manifest.shard-{i}-of-{n}.json"
        try:
            parts.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None, None
    base = {k: v for k, v in parts[0].items() if k not in _SELECTION_KEYS}
    for part in parts[1:]:
        if {k: v for k, v in part.items() if k not in _SELECTION_KEYS} != base:
            return None, None
        if part["selection"]["limit"] != parts[0]["selection"]["limit"]:
            return None, None
    items = sorted((it for p in parts for it in p["items"]), key=lambda it: (it["source"], it["corruption"], it["severity"]))
    failed = sorted((f for p in parts for f in p["failed"]),
                    key=lambda f: (f["source"], f.get("corruption") or "", f.get("severity") or 0))
    n_sources = sum(p["selection"]["sources"] for p in parts)
    merged = dict(base)
    merged.update({
        "selection": {"limit": parts[0]["selection"]["limit"], "shard": None, "sources": n_sources},
        "items": items, "failed": failed,
        "counts": {"items": len(items), "failed": len(failed), "sources": n_sources},
    })
    path = dataset_dir / MANIFEST_NAME
    return path, _write_manifest(path, merged)
