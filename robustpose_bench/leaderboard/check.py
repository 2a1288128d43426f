"""``leaderboard check``: every entry valid, self-consistent, and equal to its results file.

Consistency is checked by recomputation, with tolerance ``TOLERANCE`` (0.05 points) on the stated
value. Reported entries give numbers rounded to ``precision`` (0.1 for the paper): a value recomputed
from rounded inputs can be off by the inputs' rounding alone, so that bound (interval arithmetic over
the half-unit of each input) is added to the tolerance. ``strict`` drops that allowance, to show
which published rows only agree up to rounding. Measured entries have no ``precision`` and get
exactly 0.05.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .entries import (
    BENCHMARK_ORDER,
    DATASET_METRIC,
    SEVERITIES,
    entry_files,
    read_json,
    safe_filename,
    schema_problems,
)

TOLERANCE = 0.05


@dataclass(frozen=True)
class Problem:
    path: Path
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


def rpc_of(mpc: float, clean: float) -> float:
    return 100.0 * mpc / clean


def mean_allowance(half_unit: float) -> float:
    """Largest change of a mean when every input moves by at most ``half_unit``."""
    return half_unit


def rpc_allowance(mpc: float, clean: float, half_unit: float) -> float:
    """Largest change of 100*mPC/clean when mPC and clean each move by at most ``half_unit``."""
    if half_unit == 0:
        return 0.0
    centre = rpc_of(mpc, clean)
    corners = [rpc_of(mpc + a, clean + b) for a in (-half_unit, half_unit) for b in (-half_unit, half_unit)
               if clean + b > 0]
    return max(abs(c - centre) for c in corners)


def check_entry(path: Path, data: Any, strict: bool = False) -> list[Problem]:
    """Schema, naming and arithmetic problems of one entry (no results-file comparison)."""
    problems = [Problem(path, *p.split(": ", 1)) for p in schema_problems(data)]
    if problems or not isinstance(data, dict):
        return problems  # arithmetic on an invalid entry would only add noise
    if path.parent.name != data["dataset"]:
        problems.append(Problem(path, "dataset", f"{data['dataset']!r} but the file is in folder {path.parent.name!r}"))
    want = safe_filename(data["name"]) + ".json"
    if path.name != want:
        problems.append(Problem(path, "name", f"file name should be {want!r} for name {data['name']!r}"))
    expected_metric = DATASET_METRIC.get(data["dataset"])
    if expected_metric and data["metric"] != expected_metric:
        problems.append(Problem(path, "metric", f"{data['dataset']} is scored with {expected_metric}, not {data['metric']}"))

    if data.get("joints") and data["metric"] != "PCKh":
        problems.append(Problem(path, "joints", f"lists the joints of a partial PCKh, but the metric is {data['metric']}"))
    problems += _sample_problems(path, data)
    problems += _paradigm_problems(path, data)
    scores = data["scores"]
    half = 0.0 if strict else float(data.get("precision", 0.0)) / 2.0
    per = scores.get("per_corruption")
    if per is not None:
        mpc = sum(per[c] for c in BENCHMARK_ORDER) / len(BENCHMARK_ORDER)
        allowed = TOLERANCE + mean_allowance(half)
        if abs(mpc - scores["mPC"]) > allowed + 1e-9:
            problems.append(Problem(path, "scores.mPC", (
                f"{scores['mPC']} but the mean of the 15 per-corruption scores is {mpc:.4f} "
                f"(allowed difference {allowed:.3f})")))
    if scores["clean"] <= 0:
        # rPC = 100 * mPC / clean is undefined for a model that scores 0 on clean images.
        if scores["rPC"] is not None:
            problems.append(Problem(path, "scores.rPC", f"{scores['rPC']} but clean is 0, so rPC is undefined: use null"))
    elif scores["rPC"] is None:
        problems.append(Problem(path, "scores.rPC", "null, but clean > 0: expected 100*mPC/clean"))
    else:
        rpc = rpc_of(scores["mPC"], scores["clean"])
        allowed = TOLERANCE + rpc_allowance(scores["mPC"], scores["clean"], half)
        if abs(rpc - scores["rPC"]) > allowed + 1e-9:
            problems.append(Problem(path, "scores.rPC", (
                f"{scores['rPC']} but 100*mPC/clean = {rpc:.4f} (allowed difference {allowed:.3f})")))
    for corruption, by_sev in (scores.get("per_severity") or {}).items():
        mean = sum(by_sev[s] for s in SEVERITIES) / len(SEVERITIES)
        if per is None:
            problems.append(Problem(path, f"scores.per_severity.{corruption}",
                                    "per-severity scores given without per-corruption scores"))
            continue
        allowed = TOLERANCE + mean_allowance(half)
        if abs(mean - per[corruption]) > allowed + 1e-9:
            problems.append(Problem(path, f"scores.per_corruption.{corruption}", (
                f"{per[corruption]} but the mean of its 5 severities is {mean:.4f}")))
    return problems


def _sample_problems(path: Path, data: dict[str, Any]) -> list[Problem]:
    """A measured run below its full split must be marked ``subset`` (and a full one must not)."""
    from ..splits import describe_full, is_full_split
    from ..vocabulary import sample_text

    origin = data["origin"]
    if origin["kind"] != "measured":
        return []
    sample = origin["sample"]
    card = data.get("dataset_card")  # a user's own dataset: its card's split sizes
    full = is_full_split(data["dataset"], sample["images"], sample["persons"], card)
    subset = bool(data.get("subset", False))
    evaluated = sample_text(sample["images"], sample["persons"])
    if not subset and full is not True:
        why = "no sample size is recorded" if full is None else f"evaluated {evaluated}"
        return [Problem(path, "subset", f"{why}, but the full {data['dataset']} split is "
                                        f"{describe_full(data['dataset'], card)}: mark the entry subset: true")]
    if subset and full is True:
        return [Problem(path, "subset", f"true, but the run evaluated {evaluated}, the full split")]
    return []


def _paradigm_problems(path: Path, data: dict[str, Any]) -> list[Problem]:
    """``paradigm`` must agree with the box source: a one-stage model has no boxes, a top-down one has."""
    from ..vocabulary import paradigm_label, paradigm_of_boxes

    stated, implied = paradigm_label(data.get("paradigm")), paradigm_of_boxes(data["box_source"])
    if stated is None or implied is None or stated == implied:
        return []
    return [Problem(path, "paradigm", f"{data['paradigm']!r} but box_source {data['box_source']!r} is {implied}")]


def _card_problems(path: Path, data: dict[str, Any], view: Any) -> list[Problem]:
    """An entry of a user's own dataset keeps what its results recorded of the card (title, sha256,
    split sizes): a page title or a full split that the results file does not say fails here."""
    from .submit import card_of_entry

    mine, want = data.get("dataset_card"), card_of_entry(view)
    if mine is None or mine == want:  # entries submitted before the card was kept have none: read by name
        return []
    if want is None:
        return [Problem(path, "dataset_card", "present, but the dataset has a registered card: drop the field")]
    key = next((k for k in ("title", "sha256", "split_sizes", "default_split") if mine.get(k) != want.get(k)), None)
    if key is None:  # only a field the schema does not know differs (the schema check names it)
        return []
    return [Problem(path, f"dataset_card.{key}", f"{mine.get(key)!r} but the results file records {want.get(key)!r}")]


def _close(a: float, b: float) -> bool:
    """'Equal to the file's': the entry copies the file's numbers, so only float noise is allowed."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def check_against_results(path: Path, data: dict[str, Any]) -> tuple[list[Problem], bool]:
    """Compare a measured entry with its results file; (problems, whether the file was compared).

    The file must be at hand, inside the leaderboard folder (symbolic links resolved), and hash to the
    entry's ``results_sha256``: an entry whose numbers were raised and whose results file was dropped
    or swapped fails here.
    """
    from ..vocabulary import box_source_label
    from .results_view import provenance_field, read_results, recorded_sample

    origin = data["origin"]
    if origin.get("kind") != "measured":
        return [], False
    rel = origin["results_path"]
    board = path.parent.parent.resolve()
    results_path = (path.parent / rel).resolve()
    try:
        results_path.relative_to(board)
    except ValueError:
        return [Problem(path, "origin.results_path", f"{rel!r} lies outside the leaderboard folder {board}; "
                        "keep the results file inside it (submit copies it to <dataset>/results/)")], False
    if not results_path.is_file():
        return [Problem(path, "origin.results_path", f"results file {results_path} is missing: "
                        "a measured entry must keep the results file it cites")], False
    problems: list[Problem] = []
    try:
        view = read_results(results_path)
    except UserError as exc:
        return [Problem(path, "origin.results_path", f"results file unreadable: {exc}")], True
    if view.sha256 != origin["results_sha256"]:
        problems.append(Problem(path, "origin.results_sha256",
                                f"{origin['results_sha256'][:12]}… but {results_path} hashes to {view.sha256[:12]}…"))
    problems += _card_problems(path, data, view)
    box_source = box_source_label(provenance_field(view.provenance, "boxes.source"))
    for fld, value in (("dataset", view.dataset), ("metric", view.metric), ("box_source", box_source)):
        if value is not None and data[fld] != value:
            problems.append(Problem(path, fld, f"{data[fld]!r} but the results file says {value!r}"))
    from ..vocabulary import non_standard_text

    if data.get("non_standard") != non_standard_text(view.config):
        problems.append(Problem(path, "non_standard", f"{data.get('non_standard')!r} but the results file says "
                                                      f"{non_standard_text(view.config)!r}"))
    if data.get("joints") != view.joints:  # partial PCKh must say so, over the joints it scored
        problems.append(Problem(path, "joints", f"{data.get('joints')!r} but the results file scores "
                                                + (f"{view.joints!r}" if view.joints else "all 16 MPII joints")))
    flip = view.config.get("flip")
    if isinstance(flip, bool) and data.get("flip") != flip:
        problems.append(Problem(path, "flip", f"{data.get('flip')!r} but the results file says {flip!r}"))
    images, persons = recorded_sample(view)
    for key, value in (("images", images), ("persons", persons)):
        if value is not None and origin["sample"][key] != value:
            problems.append(Problem(path, f"origin.sample.{key}",
                                    f"{origin['sample'][key]} but the results file says {value}"))
    model_sha = provenance_field(view.provenance, "model.sha256")
    manifest_sha = provenance_field(view.provenance, "manifest_sha256")
    box_sha = provenance_field(view.provenance, "boxes.sha256")
    for fld, value in (("model_sha256", model_sha), ("manifest_sha256", manifest_sha), ("box_sha256", box_sha)):
        if value is not None and origin.get(fld) != value:
            problems.append(Problem(path, f"origin.{fld}", f"{str(origin.get(fld))[:12]}… but the results file says {str(value)[:12]}…"))
    scores = data["scores"]
    pairs: list[tuple[str, float, float | None]] = [
        ("scores.clean", scores["clean"], view.clean),
        ("scores.mPC", scores["mPC"], view.mPC),
        ("scores.rPC", scores["rPC"], view.rPC),
    ]
    for c, v in (scores.get("per_corruption") or {}).items():
        pairs.append((f"scores.per_corruption.{c}", v, view.per_corruption.get(c)))
    for c, by_sev in (scores.get("per_severity") or {}).items():
        for s, v in by_sev.items():
            pairs.append((f"scores.per_severity.{c}.{s}", v, view.per_severity.get(c, {}).get(s)))
    for fld, mine, theirs in pairs:
        if mine is None and theirs is None:  # e.g. rPC when clean is 0: undefined on both sides
            continue
        if theirs is None:
            problems.append(Problem(path, fld, f"{mine} but the results file has no such number"))
        elif not _close(mine, theirs):
            problems.append(Problem(path, fld, f"{mine} but the results file says {theirs}"))
    return problems, True


@dataclass
class CheckReport:
    entries: int
    problems: list[Problem]
    results_compared: int

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dir(directory: Path, strict: bool = False) -> CheckReport:
    """Check every entry under ``directory``; collect all problems rather than stop at the first."""
    files = entry_files(directory)
    problems: list[Problem] = []
    compared = 0
    names: dict[tuple[str, str], Path] = {}
    for path in files:
        try:
            data = read_json(path)
        except UserError as exc:
            problems.append(Problem(path, "(file)", str(exc).split(": ", 1)[-1]))
            continue
        found = check_entry(path, data, strict=strict)
        problems.extend(found)
        if found:
            continue
        key = (data["dataset"], data["name"])
        if key in names:
            problems.append(Problem(path, "name", f"{data['name']!r} is also the name of {names[key]}"))
        names[key] = path
        more, at_hand = check_against_results(path, data)
        problems.extend(more)
        compared += at_hand
    return CheckReport(entries=len(files), problems=problems, results_compared=compared)
