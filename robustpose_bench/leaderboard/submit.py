"""``submit``: turn a complete results.json into a ``measured`` leaderboard entry.

The entry copies the file's numbers exactly (check later demands equality) and cites the file's
sha256, the model and manifest sha256 and the package version, so every number traces back. The
results file itself is kept inside the leaderboard folder (``<dataset>/results/``), so that
``check`` can always compare the entry with it.

Refused: partial results (an incomplete 15 x 5 grid, or a file marked partial: mPC over a subset of
corruptions is not comparable with anyone else's), and a run on fewer images or persons than the
full split unless it is submitted as a subset entry, which is shown in a section of its own.
A partial PCKh (MPII-C over the joints a model has) keeps its joints in the entry (``joints``), so
that it is marked and ranked apart from full 16-joint rows.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes, sha256_bytes, sha256_file
from ..errors import UserError
from ..provenance import utc_now
from ..splits import describe_full, full_splits, is_full_split, undeclared_size
from ..vocabulary import (box_source_label, dataset_title, is_path_like, non_standard_text, paradigm_of_boxes,
                          sample_text)
from .entries import (BENCHMARK_ORDER, SCHEMA_VERSION, ensure_new, entry_path, invalid_entry_message, safe_filename,
                      schema_problems, write_entry)
from ..metrics.robustness import describe_missing
from .results_view import (ResultsView, box_source_of, input_size_of, provenance_field,
                           read_results, require, sample_size)

METHODS = ("standard", "advmix", "other")
RESULTS_FOLDER = "results"


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
    subset: bool = False,
) -> dict[str, Any]:
    """A measured entry for ``view`` (refusing partial results, results without provenance, and a
    sample-sized run not declared ``subset``).

    Results from ``score`` (one-stage models, predictions made elsewhere) record no model or build:
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
    box_label, box_sha = _box_source(view, box_source)
    images, persons = _check_sample(view, subset)
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
        "box_sha256": box_sha,
        "sample": {"images": images, "persons": persons},
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
        "architecture": architecture or name,  # the row label: --architecture, else --name (not the spec name)
        "backbone": backbone or view.config.get("backbone") or None,
        "input_size": input_size or input_size_of(view),
        "box_source": box_label,
        "subset": bool(subset),
        "scores": {
            "clean": view.clean,
            "mPC": view.mPC,
            "rPC": view.rPC,
            "per_corruption": per,
            "per_severity": view.per_severity,
        },
        "origin": origin,
    }
    paradigm = paradigm_of_boxes(box_label)
    if paradigm is not None:  # the model finds the persons itself (one-stage) or reads them (top-down)
        entry["paradigm"] = paradigm
    card = card_of_entry(view)
    if card is not None:  # a user's own dataset: the page's title and check's full split come from here
        entry["dataset_card"] = card
    if isinstance(view.config.get("flip"), bool):  # the flip test moves AP by points: say which it was
        entry["flip"] = view.config["flip"]
    if view.joints:  # partial PCKh (a model without all 16 MPII joints): listed apart, never ranked as full
        entry["joints"] = list(view.joints)
    non_standard = non_standard_text(view.config)
    if non_standard:  # eval ran with post-processing thresholds other than HRNet's
        entry["non_standard"] = non_standard
    if notes:
        entry["notes"] = notes
    return entry


def _box_source(view: ResultsView, given: str | None) -> tuple[str, str | None]:
    """(box source by name, sha256 of the box file): recorded in the results, or ``--box-source``.

    A path is never stored: a detection file given by path is recorded by its name and sha256.
    """
    recorded, recorded_sha = box_source_of(view)
    given_sha = None
    if given is not None:
        if is_path_like(given) or given.lower().endswith(".json"):
            if not Path(given).is_file():
                raise UserError(f"--box-source {given}: no such detection file (give the file, so that its "
                                "sha256 is recorded, or 'gt' / 'none')")
            given_sha = sha256_file(given)
        given = box_source_label(given)
    if recorded is not None and given is not None and given != recorded:
        raise UserError(f"--box-source {given!r} contradicts the results file, which used {recorded!r}")
    if recorded_sha is not None and given_sha is not None and given_sha != recorded_sha:
        raise UserError(f"--box-source: the file has sha256 {given_sha[:12]}…, but the results were made with "
                        f"boxes of sha256 {recorded_sha[:12]}…")
    label = recorded or given
    if not label:
        raise UserError(f"{view.path}: provenance has no box source (e.g. results from 'score' without --boxes); "
                        "say where the person boxes came from with --box-source gt|none|FILE")
    return label, recorded_sha or given_sha


def card_of_entry(view: ResultsView) -> dict[str, Any] | None:
    """What an entry of a user's own dataset keeps of the card its results recorded (entry field
    ``dataset_card``): the title the page shows and the split sizes ``check`` compares the sample with.
    None for a registered dataset, whose shipped card says both."""
    from ..datasets.cards import find_card, split_sizes_record

    if find_card(view.dataset) is not None or view.card is None:
        return None
    sizes = split_sizes_record((s.split, s.images, s.persons) for s in full_splits(view.dataset, view.card))
    out: dict[str, Any] = {"title": dataset_title(view.dataset, view.card), "sha256": view.card["sha256"],
                           "split_sizes": sizes}
    if view.card.get("default_split"):
        out["default_split"] = view.card["default_split"]
    return out


def _check_sample(view: ResultsView, subset: bool) -> tuple[int | None, int | None]:
    """The run's sample size; a run below the full split must be a declared subset entry."""
    images, persons = sample_size(view)
    full = is_full_split(view.dataset, images, persons, view.card)
    evaluated = sample_text(images, persons)
    undeclared = undeclared_size(view.dataset, view.card)
    if full is None and not subset and undeclared:
        raise UserError(f"{view.path}: dataset {view.dataset} has no known full split, so nothing shows that the "
                        f"run ({evaluated}) covered all of it: {undeclared}, or submit with --subset")
    if full is None and not subset:
        raise UserError(f"{view.path}: the results record no sample size and their annotation file is not at "
                        f"hand, so nothing shows that the full {view.dataset} split "
                        f"({describe_full(view.dataset, view.card)}) was evaluated; re-score the predictions, or "
                        "submit with --subset")
    if full is False and not subset:
        raise UserError(f"{view.path}: evaluated {evaluated}, fewer than the full {view.dataset} split "
                        f"({describe_full(view.dataset, view.card)}); submit it as a subset entry with --subset "
                        "(listed apart, not ranked with full-split rows)")
    if full is True and subset:
        raise UserError(f"{view.path}: evaluated {evaluated}, the full {view.dataset} split; submit it without "
                        "--subset")
    return images, persons


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
    box_source: str | None = None,
    model_file: str | Path | None = None,
    manifest_file: str | Path | None = None,
    subset: bool = False,
) -> Path:
    """Write the entry, keeping the results file inside the leaderboard folder (copied there unless it
    already lies inside), where ``check`` compares the entry with it."""
    view = read_results(results)
    entry = entry_from_results(view, name, method, architecture, backbone, input_size, notes, box_source,
                               model_file=model_file, manifest_file=manifest_file, subset=subset)
    directory = Path(directory)
    target = entry_path(directory, entry["dataset"], name)
    results = Path(results)
    inside = _inside(results, directory)
    copy = results if inside else target.parent / RESULTS_FOLDER / f"{safe_filename(name)}.results.json"
    entry["origin"]["results_path"] = Path(os.path.relpath(copy.resolve(), target.parent.resolve())).as_posix()
    ensure_new(directory, entry["dataset"], name)  # before anything is copied
    problems = schema_problems(entry)
    if problems:  # refused before the results are copied: a refused submit leaves nothing behind
        raise UserError(invalid_entry_message(entry, problems))
    if not inside:
        data = results.read_bytes()
        if sha256_bytes(data) != view.sha256:
            raise UserError(f"{results} changed while it was being submitted; nothing written")
        atomic_write_bytes(copy, data)
    try:
        return write_entry(directory, entry)
    except BaseException:
        if not inside:
            copy.unlink(missing_ok=True)
        raise


def _inside(path: Path, directory: Path) -> bool:
    """True when ``path`` (symbolic links resolved) lies inside ``directory``."""
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True
