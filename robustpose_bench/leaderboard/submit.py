"""``submit``: turn a complete results.json into a ``measured`` leaderboard entry.

The entry copies the file's numbers exactly (check later demands equality) and cites the file's
sha256, the model and manifest sha256 and the package version, so every number traces back.
Partial results (an incomplete 15 x 5 grid, or a file marked partial) are refused: mPC over a
subset of corruptions is not comparable with anyone else's.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..atomic import sha256_file
from ..errors import UserError
from ..provenance import utc_now
from .entries import BENCHMARK_ORDER, SCHEMA_VERSION, ensure_new, entry_path, safe_filename, write_entry
from ..metrics.robustness import describe_missing
from .results_view import ResultsView, display_name, input_size_of, provenance_field, read_results, require

METHODS = ("standard", "advmix", "other")


def entry_from_results(
    view: ResultsView,
    name: str,
    method: str | None = None,
    architecture: str | None = None,
    backbone: str | None = None,
    input_size: str | None = None,
    notes: str | None = None,
    box_source: str | None = None,
    model_file: str | Path | None = None,
    manifest_file: str | Path | None = None,
) -> dict[str, Any]:
    """A measured entry for ``view`` (refusing partial results and results without provenance).

    Results from ``score`` (bottom-up models, predictions made elsewhere) record no model or build:
    ``model_file`` / ``manifest_file`` supply those hashes, and must agree with any the results record.
    """
    if not view.complete:
        what = (f"missing {describe_missing(view.missing)}" if view.missing else "it is marked partial")
        raise UserError(f"{view.path}: partial results cannot be submitted ({what}); "
                        "evaluate clean and all 15 corruptions at severities 1-5")
    prov = view.provenance
    model_sha = _cited_hash(provenance_field(prov, "model.sha256"), model_file, "model", "--model FILE", view.path)
    manifest_sha = _cited_hash(provenance_field(prov, "manifest_sha256"), manifest_file, "manifest",
                               "--manifest OUT/<dataset>/manifest.json", view.path)
    recorded = provenance_field(prov, "boxes.source")
    if recorded is not None and box_source is not None and box_source != recorded:
        raise UserError(f"--box-source {box_source!r} contradicts the results file, which used {recorded!r}")
    box_source = recorded or box_source
    if not box_source:
        raise UserError(f"{view.path}: provenance has no box source (e.g. results from 'score'); "
                        "say where the person boxes came from with --box-source TEXT")
    if method is None:
        method = provenance_field(view.config, "training") or provenance_field(prov, "model.spec.training") or "other"
    if method not in METHODS:
        raise UserError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    per = {c: view.per_corruption[c] for c in BENCHMARK_ORDER}
    origin: dict[str, Any] = {
        "kind": "measured",
        "results_sha256": view.sha256,
        "model_sha256": model_sha,
        "manifest_sha256": manifest_sha,
        "box_sha256": provenance_field(prov, "boxes.sha256"),
        "package_version": require(provenance_field(prov, "package_version"), "package version", view.path),
        "git_hash": provenance_field(prov, "git_hash"),
        "device": _device_text(prov),
        "date": str(provenance_field(prov, "timestamp_utc") or utc_now()),
    }
    entry: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "dataset": view.dataset,
        "metric": view.metric,
        "method": method,
        "architecture": architecture or display_name(view),
        "backbone": backbone or view.config.get("backbone") or "unspecified",
        "input_size": input_size or input_size_of(view),
        "box_source": str(box_source),
        "scores": {
            "clean": view.clean,
            "mPC": view.mPC,
            "rPC": view.rPC,
            "per_corruption": per,
            "per_severity": view.per_severity,
        },
        "origin": origin,
    }
    if notes:
        entry["notes"] = notes
    return entry


def _cited_hash(recorded: str | None, file: str | Path | None, what: str, flag: str, path: Path) -> str:
    """The sha256 the results record, or the one of ``file``; both given, they must agree."""
    if file is None:
        if not recorded:
            raise UserError(f"{path}: provenance has no {what} sha256 (e.g. results from 'score'); "
                            f"a leaderboard entry must cite it: pass {flag}")
        return str(recorded)
    if not Path(file).is_file():
        raise UserError(f"{what} file not found: {file}")
    digest = sha256_file(file)
    if recorded and recorded != digest:
        raise UserError(f"{file} has sha256 {digest[:12]}…, but the results were made with {what} "
                        f"sha256 {str(recorded)[:12]}…")
    return digest


def _device_text(prov: dict[str, Any]) -> str | None:
    device = provenance_field(prov, "device")
    provider = provenance_field(prov, "execution_provider")
    if device and provider and str(provider) not in str(device):
        return f"{device} ({provider})"
    return None if device is None and provider is None else str(device or provider)


def submit(
    results: str | Path,
    name: str,
    directory: str | Path,
    method: str | None = None,
    architecture: str | None = None,
    backbone: str | None = None,
    input_size: str | None = None,
    notes: str | None = None,
    copy_results: bool = False,
    box_source: str | None = None,
    model_file: str | Path | None = None,
    manifest_file: str | Path | None = None,
) -> Path:
    """Write the entry; with ``copy_results`` also keep a copy of the results file beside it."""
    view = read_results(results)
    entry = entry_from_results(view, name, method, architecture, backbone, input_size, notes, box_source,
                               model_file=model_file, manifest_file=manifest_file)
    directory = Path(directory)
    target = entry_path(directory, entry["dataset"], name)
    if copy_results:
        copy = target.parent / "results" / f"{safe_filename(name)}.results.json"
        entry["origin"]["results_path"] = copy.relative_to(target.parent).as_posix()
    else:
        rel = _relative_if_near(Path(results), target.parent, directory)
        if rel is not None:
            entry["origin"]["results_path"] = rel
    ensure_new(directory, entry["dataset"], name)  # before anything is copied
    if copy_results:
        copy.parent.mkdir(parents=True, exist_ok=True)
        tmp = copy.with_name(f".{copy.name}.tmp")
        shutil.copyfile(results, tmp)
        os.replace(tmp, copy)
    path = write_entry(directory, entry)
    return path


def _relative_if_near(results: Path, entry_dir: Path, directory: Path) -> str | None:
    """A results_path relative to the entry, when the results file lives in the leaderboard's own
    parent tree (a repo, a demo output folder); paths into someone's home folder are not recorded."""
    results = results.resolve()
    root = directory.resolve().parent
    try:
        results.relative_to(root)
    except ValueError:
        return None
    return Path(os.path.relpath(results, entry_dir.resolve())).as_posix()
