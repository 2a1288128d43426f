"""``results.json``: build, validate, write and load (schema ``robustpose-results/1``).

One file per (model or prediction set, dataset): keyed rows of every metric in every condition, the
summary (clean, mPC, rPC, per-corruption means) of the primary metric, the provenance and the
config. ``eval`` and ``score`` both write it; ``table``, ``plot`` and the leaderboard read it.
The JSON Schema lives in ``schemas/results.schema.json``; docs/results.md explains every field.
"""
from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

from .atomic import atomic_write_json
from .datasets.cards import DatasetCard, find_card, registry, resolve_card
from .errors import UserError
from .jsonfile import read_json
from .metrics.robustness import normalize_rows, summarize
from .provenance import base_provenance

SCHEMA_ID = "robustpose-results/1"
#: The registered datasets and what their cards say (``datasets/cards.py``); a results file of a
#: user's own dataset carries its card in ``provenance.dataset_card``.
DATASETS: tuple[str, ...] = tuple(registry())
PRIMARY_METRIC: dict[str, str] = {name: card.primary_metric for name, card in registry().items()}
# Values are stored as the reference library reports them; this factor turns them into percent.
PERCENT_FACTOR: dict[str, int] = {"AP": 100, "PCKh": 1}
# Provenance fields every results.json states, null when they do not apply (e.g. no model for `score`).
PROVENANCE_FIELDS: tuple[str, ...] = (
    "model", "manifest_sha256", "boxes", "device", "execution_provider", "flip", "seeds", "scorer",
)
SCORER_FOR_DATASET: dict[str, str] = {name: card.library for name, card in registry().items()}


@lru_cache(maxsize=1)
def results_schema() -> dict:
    """The JSON Schema of results.json (shipped as package data)."""
    return json.loads(files("robustpose_bench").joinpath("schemas/results.schema.json").read_text("utf-8"))


def _field_path(error) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "(top level)"


def validate_results(obj: Any, source: str = "results.json") -> None:
    """Schema check plus the facts a schema cannot state; a one-line ``UserError`` naming the field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(results_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        msg = error.message if len(error.message) <= 200 else error.message[:200] + "..."
        raise UserError(f"{source}: field {_field_path(error)}: {msg}")
    top = 100.0 / PERCENT_FACTOR.get(obj["metric"], 1)
    for i, row in enumerate(obj["rows"]):
        if row["dataset"] != obj["dataset"]:
            raise UserError(f"{source}: field rows[{i}].dataset: {row['dataset']!r} differs from dataset {obj['dataset']!r}")
        v = row["value"]
        # a score is a fraction (AP, AR) or a percentage (PCKh); -1 is pycocotools' "no ground truth here"
        if v is not None and not (0.0 <= v <= top or (v == -1 and obj["metric"] == "AP")):
            raise UserError(f"{source}: field rows[{i}].value: {v!r} is outside 0..{top:g} for {row['metric']}")
    primary = primary_metric_of(obj, source)
    if obj["metric"] != primary:
        raise UserError(f"{source}: field metric: {obj['dataset']} is scored by {primary}, not {obj['metric']}")
    if obj["percent_factor"] != PERCENT_FACTOR[obj["metric"]]:
        raise UserError(f"{source}: field percent_factor: must be {PERCENT_FACTOR[obj['metric']]} for {obj['metric']}")
    try:
        rows = normalize_rows(obj["rows"])
    except UserError as exc:
        raise UserError(f"{source}: field rows: {exc}") from None
    # The summary must be the one the rows give: a hand-edited number is caught here.
    summary = obj["summary"]
    try:
        expect = summarize(rows, obj["metric"], dataset=obj["dataset"], partial=True)
    except UserError as exc:
        raise UserError(f"{source}: field rows: {exc}") from None
    try:
        joints = scored_joints(obj["dataset"], rows)
    except UserError as exc:
        raise UserError(f"{source}: field rows: {exc}") from None
    if summary.get("joints") != (None if joints is None else list(joints)):
        raise UserError(f"{source}: field summary.joints: {summary.get('joints')!r} but the rows score "
                        + ("all 16 MPII joints (or record no per-joint row)" if joints is None else f"{list(joints)}"))
    if expect.partial != summary["partial"]:
        raise UserError(f"{source}: field summary.partial: the rows say {expect.partial}")
    for key in ("clean", "mPC", "rPC"):
        if not _close(summary[key], getattr(expect, key)):
            raise UserError(f"{source}: field summary.{key}: {summary[key]!r} does not match the rows ({getattr(expect, key)!r})")
    if set(summary["per_corruption"]) != set(expect.per_corruption) or not all(
        _close(summary["per_corruption"][c], v) for c, v in expect.per_corruption.items()
    ):
        raise UserError(f"{source}: field summary.per_corruption: does not match the rows")


def scored_joints(dataset: str, rows: Any) -> tuple[str, ...] | None:
    """The MPII joints of partial PCKh (a model without all 16 joints; ``metrics/pckh.py``), from the
    per-joint rows, which every condition must agree on; None for full PCKh, other datasets, and rows
    without per-joint rows."""
    from .metrics.pckh import MPII_JOINTS, scored_joints_of_rows

    if dataset != "mpii-c":
        return None
    grouped: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        grouped.setdefault((r["corruption"], r["severity"]), []).append(r)
    by_condition = {key: found for key, rs in grouped.items() if (found := scored_joints_of_rows(rs)) is not None}
    sets = set(by_condition.values())
    if len(sets) > 1:
        (c1, s1) = first = next(iter(by_condition))
        (c2, s2) = next(k for k in by_condition if by_condition[k] != by_condition[first])
        raise UserError(f"condition {c1}/{s1} scores {len(by_condition[(c1, s1)])} MPII joints but {c2}/{s2} "
                        f"scores {len(by_condition[(c2, s2)])}: one run scores the same joints everywhere")
    joints = sets.pop() if sets else None
    return None if joints is None or len(joints) == len(MPII_JOINTS) else joints
def primary_metric_of(obj: Mapping[str, Any], source: str = "results.json") -> str:
    """The primary metric of a results object's dataset: its registered card's, or, for a user's own
    dataset, the card recorded in ``provenance.dataset_card`` (which must name that dataset)."""
    dataset = obj["dataset"]
    card = find_card(dataset)
    if card is not None:
        return card.primary_metric
    recorded = (obj.get("provenance") or {}).get("dataset_card")
    if not isinstance(recorded, Mapping) or recorded.get("name") != dataset:
        raise UserError(f"{source}: field provenance.dataset_card: {dataset!r} is not a registered dataset, so the "
                        "results must carry its card (name, primary_metric, ...) as `--dataset-card` records it")
    return str(recorded.get("primary_metric"))


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def make_results(
    dataset: "str | DatasetCard",
    rows: Any,
    metric: str | None = None,
    partial: bool = False,
    provenance: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict:
    """A validated results object: rows + summary of ``metric`` + provenance + config.

    ``provenance`` adds to :func:`base_provenance` (model sha256 and spec, manifest sha256, boxes,
    device, execution provider, flip, seeds, predictions...); fields it leaves out are recorded as
    null, except ``scorer``, which defaults to the library that scores ``dataset``, and
    ``dataset_card`` (the card's name, sha256, metric, scorer, keypoints and sigmas). ``dataset``: a
    registered name or a card (a user's ``--dataset-card``). Raises ``UserError`` when the 15 x 5 grid
    is incomplete and ``partial`` is False.
    """
    card = resolve_card(dataset)
    dataset = card.name
    metric = metric or card.primary_metric
    norm = normalize_rows(rows)
    summary = summarize(norm, metric, dataset=dataset, partial=partial)
    summary_dict = summary.to_dict()
    joints = scored_joints(dataset, norm)
    if joints is not None:  # partial PCKh: over the joints the model has (docs/results.md)
        summary_dict["joints"] = list(joints)
    prov: dict[str, Any] = base_provenance()
    for key in PROVENANCE_FIELDS:
        prov[key] = None
    prov["scorer"] = {"library": card.library, "annotations": None}
    prov["dataset_card"] = card.provenance()
    prov.update(dict(provenance or {}))
    obj = {
        "schema": SCHEMA_ID,
        "dataset": dataset,
        "metric": metric,
        "percent_factor": PERCENT_FACTOR.get(metric, 1),
        "rows": norm,
        "summary": summary_dict,
        "provenance": prov,
        "config": dict(config or {}),
    }
    validate_results(obj, source=f"results for {dataset}")
    return obj


def write_results(path: str | os.PathLike, obj: Mapping) -> None:
    """Validate, then write atomically (sorted keys, so equal content gives equal bytes)."""
    validate_results(obj, source=str(path))
    atomic_write_json(path, obj)


#: eval's threshold keys in ``config`` as results files written before one name per threshold hold them
#: (the flag was ``--oks-thre``, the key ``oks_nms``), -> the names of today (flag ``--oks-thr``, key ``oks_thr``)
OLD_THRESHOLD_KEYS = {"det_thre": "det_thr", "in_vis_thre": "in_vis_thr", "oks_nms": "oks_thr"}
#: likewise the names in ``config.non_standard``
OLD_NON_STANDARD_NAMES = {"det": "det_thr", "in_vis": "in_vis_thr", "oks_nms": "oks_thr"}


def upgrade_config(config: Any) -> Any:
    """``config`` with older threshold spellings read as today's (a copy; the file is not touched), so that
    results files on disk and the leaderboard's copies of them keep their meaning."""
    if not isinstance(config, Mapping):
        return config
    out = dict(config)
    for old, new in OLD_THRESHOLD_KEYS.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    if isinstance(out.get("non_standard"), list):
        out["non_standard"] = [OLD_NON_STANDARD_NAMES.get(n, n) if isinstance(n, str) else n
                               for n in out["non_standard"]]
    return out


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate a results.json; ``UserError`` naming the file and field on any problem. Older
    threshold spellings in ``config`` are read as today's (``upgrade_config``)."""
    path = Path(path)
    obj = read_json(path, "results file")
    validate_results(obj, source=str(path))
    obj["config"] = upgrade_config(obj["config"])
    return obj
