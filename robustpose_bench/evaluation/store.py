"""The predictions folder of one evaluation run: who owns it, which conditions are done.

A run's identity is everything that decides its predictions: the model file and spec, the dataset,
the annotation and box files, the build's manifest, the decoding options and the package version.
Its sha256 (``run_id``) is written to ``PRED/run.json``; each finished condition writes, after its
predictions, ``PRED/<condition>/condition.json`` = the run id, the predictions' sha256 and the
condition's scored rows. So:

- a second run into the same folder with another identity is refused (``--overwrite`` clears the
  files this layout names first, and nothing else);
- the same command again skips every condition whose record matches (resume after a kill), and
  recomputes the rest; the records' rows are reused, so the results are byte-identical;
- ``score`` refuses prediction folders whose conditions come from different runs, and shards of one
  run can be merged because they carry the same run id.

Every file is written atomically, predictions before their record, so a kill leaves either a
finished condition or one that is recomputed.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..atomic import atomic_write_json, sha256_bytes, sha256_file
from ..errors import UserError
from ..jsonfile import read_json
from .conditions import CLEAN

RUN_FILE = "run.json"
CONDITION_FILE = "condition.json"
PREDICTION_FILE = "results.json"
LOCK_FILE = ".lock"
EXTERNAL_TEMP = ".results.json.external"   # where eval-external's command writes, before it is checked
EXTERNAL_REJECTED = ".results.json.rejected"  # a command's predictions that failed the checks, kept to be looked at
RUN_SCHEMA = "robustpose-run/1"


def run_id(identity: Mapping[str, Any]) -> str:
    """sha256 of the identity's canonical JSON."""
    return sha256_bytes(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def _condition_dirs(root: Path) -> Iterable[Path]:
    """The folders this layout writes under ``root``: clean/ and <corruption>/<severity>/."""
    from corruptions import CORRUPTIONS

    if (root / CLEAN).is_dir():
        yield root / CLEAN
    for c in CORRUPTIONS:
        cdir = root / c
        if cdir.is_dir():
            for s in range(1, 6):
                if (cdir / str(s)).is_dir():
                    yield cdir / str(s)


def read_run(root: Path) -> dict | None:
    p = root / RUN_FILE
    if not p.is_file():
        return None
    obj = read_json(p, "run file")
    if not isinstance(obj, dict) or obj.get("schema") != RUN_SCHEMA or not isinstance(obj.get("run_id"), str):
        raise UserError(f"{p}: not a robustpose-bench run file (schema {RUN_SCHEMA})")
    return obj


class PredictionStore:
    """The predictions folder ``root`` for the run with ``identity``."""

    def __init__(self, root: str | os.PathLike, identity: Mapping[str, Any]) -> None:
        self.root = Path(root)
        self.identity = dict(identity)
        self.run_id = run_id(self.identity)

    def claim(self, overwrite: bool = False) -> None:
        """Own the folder: refuse another run's files unless ``overwrite`` (which clears them first),
        and refuse it outright while another run is writing there (``_lock``)."""
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"predictions folder {self.root} exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        exclusive = self._lock()
        existing = read_run(self.root)
        foreign = existing is not None and existing["run_id"] != self.run_id
        unowned = existing is None and any(
            (d / PREDICTION_FILE).exists() or (d / CONDITION_FILE).exists() for d in _condition_dirs(self.root))
        if foreign or unowned:
            if not overwrite:
                what = (f"another run's predictions ({_describe_difference(existing.get('identity', {}), self.identity)})"
                        if foreign else "prediction files of no recorded run")
                self.close()
                raise UserError(f"{self.root} holds {what}; pass --overwrite to replace them, or choose another "
                                "--predictions-out")
            if not exclusive:  # cannot happen: a writer of this run id holds a shared lock only on this run's files
                self.close()
                raise UserError(f"{self.root} is being written by another run; wait for it, or choose another "
                                "--predictions-out")
            self.clear()
        if exclusive:
            atomic_write_json(self.root / RUN_FILE, {"schema": RUN_SCHEMA, "run_id": self.run_id,
                                                     "identity": self.identity})
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH)  # let the other shards of this run in

    def _lock(self) -> bool:
        """Hold ``PRED/.lock`` for the run: exclusively when nobody else writes here (True); shared
        when the process writing here is another shard of this very run (False). A different run
        writing here is refused: two runs' records interleaved under ``--overwrite`` (issue 19).
        The kernel drops the lock when its holder dies, so a killed run never blocks the next."""
        path = self.root / LOCK_FILE
        self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        for _ in range(50):
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            current = read_run(self.root)
            if current is not None and current["run_id"] == self.run_id:
                try:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return False
                except BlockingIOError:
                    pass  # a run is claiming the folder this moment: look again
            else:
                self.close()
                raise UserError(f"{self.root} is being written by another run at this moment; wait for it to end, "
                                "or choose another --predictions-out")
            time.sleep(0.1)
        self.close()
        raise UserError(f"{self.root}: could not lock {path}; another run keeps claiming the folder")

    def close(self) -> None:
        """Release the folder's lock (also released when the process ends)."""
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is not None:
            os.close(fd)

    def clear(self) -> None:
        """Remove the files this layout names (run file, predictions, records); nothing else."""
        for d in list(_condition_dirs(self.root)):
            for name in (PREDICTION_FILE, CONDITION_FILE):
                if (d / name).is_file():
                    (d / name).unlink()
            for folder in (d, d.parent):
                if folder != self.root and folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        if (self.root / RUN_FILE).is_file():
            (self.root / RUN_FILE).unlink()

    def prediction_path(self, key: str) -> Path:
        return self.root / key / PREDICTION_FILE

    def done(self, key: str) -> list[dict] | None:
        """The scored rows of condition ``key`` if this run finished it, else None."""
        rec_path = self.root / key / CONDITION_FILE
        pred = self.prediction_path(key)
        if not rec_path.is_file() or not pred.is_file():
            return None
        try:
            rec = json.loads(rec_path.read_text("utf-8"))
        except (OSError, ValueError):
            return None  # a damaged record: recompute the condition
        if not isinstance(rec, dict) or rec.get("run_id") != self.run_id or rec.get("sha256") != sha256_file(pred):
            return None
        rows = rec.get("rows")
        return rows if isinstance(rows, list) else None

    def save(self, key: str, payload: Any, rows: list[dict], extra: Mapping[str, Any] | None = None) -> str:
        """Write the condition's predictions, then its record (with ``extra`` fields); return the
        predictions' sha256."""
        pred = self.prediction_path(key)
        atomic_write_json(pred, payload, indent=None)
        sha = sha256_file(pred)
        atomic_write_json(self.root / key / CONDITION_FILE,
                          {**(extra or {}), "run_id": self.run_id, "sha256": sha, "rows": rows})
        return sha

    def discard(self, key: str) -> None:
        """Forget condition ``key`` (its record first, so it is never taken as finished)."""
        for name in (CONDITION_FILE, PREDICTION_FILE):
            (self.root / key / name).unlink(missing_ok=True)

    def record(self, key: str) -> dict:
        """A finished condition's record (see ``done``)."""
        return read_json(self.root / key / CONDITION_FILE, "condition record")


def run_writes(pred_dir: Path, keys: Iterable[str], output: Path | None) -> list[tuple[str, Path]]:
    """Every file an eval run writes: its results file and, per condition, this layout's files."""
    writes: list[tuple[str, Path]] = [("-o", Path(output))] if output is not None else []
    writes += [("--predictions-out", pred_dir / name) for name in (RUN_FILE, LOCK_FILE)]
    for k in keys:
        writes += [("--predictions-out", pred_dir / k / name)
                   for name in (PREDICTION_FILE, CONDITION_FILE, EXTERNAL_TEMP, EXTERNAL_REJECTED)]
    return writes


def check_run_outputs(pred_dir: Path, keys: Iterable[str], output: Path | None, inputs: Iterable[tuple[str, Any]],
                      input_dirs: Iterable[tuple[str, Any]]) -> None:
    """The output rule (``robustpose_bench.outputs``) for an eval run: no file it writes is an input,
    or lies in an image folder, the build or another input folder."""
    from ..outputs import check_outputs

    check_outputs(run_writes(pred_dir, keys, output), inputs, input_dirs)


def _describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "different " + ", ".join(diff) if diff else "a different run"


def check_single_run(pred_dir: str | os.PathLike, keys: Iterable[str]) -> str | None:
    """For ``score``: every condition record under ``pred_dir`` must name the same run (the run file's).

    Returns the run id, or None for hand-made predictions (no records at all).
    """
    root = Path(pred_dir)
    run = read_run(root)
    ids: dict[str, str] = {}
    for key in keys:
        p = root / key / CONDITION_FILE
        if p.is_file():
            rec = read_json(p, "condition record")
            rid = rec.get("run_id") if isinstance(rec, dict) else None
            if not isinstance(rid, str):
                raise UserError(f"{p}: no run_id")
            ids[key] = rid
            if rec.get("sha256") != sha256_file(root / key / PREDICTION_FILE):
                raise UserError(f"{root / key / PREDICTION_FILE} was changed after its run wrote it "
                                f"(its sha256 differs from {p})")
    if not ids and run is None:
        return None
    distinct = set(ids.values()) | ({run["run_id"]} if run else set())
    if len(distinct) > 1:
        by = {}
        for k, v in ids.items():
            by.setdefault(v[:12], []).append(k)
        shown = "; ".join(f"run {r}: {', '.join(ks[:3])}{' ...' if len(ks) > 3 else ''}" for r, ks in by.items())
        raise UserError(f"{root}: prediction files from different runs (models, box sources or options): {shown}")
    missing = [k for k in keys if k not in ids]
    if ids and missing:
        raise UserError(f"{root}: conditions {', '.join(missing[:4])} have no run record while the others do; "
                        "they may come from another run")
    return distinct.pop()
