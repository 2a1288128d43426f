"""mPC and rPC from keyed rows, never from positions.

A row is ``{"dataset", "corruption", "severity", "metric", "value"}``. Corrupted conditions use a
corruption name from the engine's registry and severity 1..5; the clean condition is
``corruption="clean"``, ``severity=0``.

- per-corruption score = mean of that corruption's values over severities 1..5;
- mPC = mean of the per-corruption scores of the 15 ``BENCHMARK_CORRUPTIONS``;
- rPC = 100 x mPC / clean.

The 15 x 5 grid plus clean must be complete; otherwise :func:`summarize` raises a ``UserError`` that
lists exactly what is missing, unless ``partial=True``, which averages over what exists and marks the
summary partial (with the same ``missing`` list recorded).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import UserError

CLEAN = "clean"
CLEAN_SEVERITY = 0
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
ROW_FIELDS: tuple[str, ...] = ("dataset", "corruption", "severity", "metric", "value")


def _corruption_names() -> tuple[tuple[str, ...], frozenset[str]]:
    from corruptions import BENCHMARK_CORRUPTIONS, CORRUPTIONS

    return tuple(BENCHMARK_CORRUPTIONS), frozenset(CORRUPTIONS)


def make_row(dataset: str, corruption: str, severity: int, metric: str, value: float | None) -> dict:
    """One keyed row (validated)."""
    return _check_row({"dataset": dataset, "corruption": corruption, "severity": severity,
                       "metric": metric, "value": value}, 0)


def _check_row(row: Mapping, i: int) -> dict:
    missing = [f for f in ROW_FIELDS if f not in row]
    if missing:
        raise UserError(f"row {i}: missing field(s) {', '.join(missing)} (rows are keyed: {', '.join(ROW_FIELDS)})")
    _, known = _corruption_names()
    c, s = row["corruption"], row["severity"]
    if isinstance(s, float) and s.is_integer():
        s = int(s)  # pandas turns an int column with gaps into floats
    if isinstance(s, bool) or not isinstance(s, numbers.Integral):
        raise UserError(f"row {i}: severity must be an integer, got {s!r}")
    s = int(s)
    if c == CLEAN:
        if s != CLEAN_SEVERITY:
            raise UserError(f"row {i}: the clean condition has severity 0, got {s}")
    elif c not in known:
        raise UserError(f"row {i}: unknown corruption {c!r}")
    elif s not in SEVERITIES:
        raise UserError(f"row {i}: severity must be 1..5 for {c}, got {s}")
    v = row["value"]
    if v is not None:
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise UserError(f"row {i}: value must be a number or null, got {v!r}") from None
        if math.isnan(v):
            v = None  # pandas' missing value; JSON has no NaN
        elif not math.isfinite(v):
            raise UserError(f"row {i}: value must be finite, got {v!r}")
    return {"dataset": str(row["dataset"]), "corruption": str(c), "severity": s,
            "metric": str(row["metric"]), "value": v}


def normalize_rows(rows: Any) -> list[dict]:
    """Validated plain-dict rows from a list of mappings or a pandas DataFrame; no duplicate keys."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        rows = rows.to_dict(orient="records")
    out = [_check_row(r, i) for i, r in enumerate(rows)]
    seen: set = set()
    for r in out:
        key = (r["dataset"], r["corruption"], r["severity"], r["metric"])
        if key in seen:
            raise UserError(f"duplicate row for {key[0]} {key[1]}/{key[2]} {key[3]}")
        seen.add(key)
    return out


def rows_frame(rows: Any):
    """The rows as a pandas DataFrame with columns dataset, corruption, severity, metric, value."""
    import pandas as pd

    return pd.DataFrame(normalize_rows(rows), columns=list(ROW_FIELDS))


@dataclass(frozen=True)
class RobustnessSummary:
    """clean, mPC, rPC and per-corruption means of one metric (None where undefined)."""

    metric: str
    clean: float | None
    mPC: float | None
    rPC: float | None
    per_corruption: dict[str, float] = field(default_factory=dict)
    partial: bool = False
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"metric": self.metric, "clean": self.clean, "mPC": self.mPC, "rPC": self.rPC,
                "per_corruption": dict(self.per_corruption), "partial": self.partial,
                "missing": list(self.missing)}


def describe_missing(missing: Sequence[str]) -> str:
    """'clean; gaussian_noise severities 3,5; snow all severities' from 'corruption/severity' keys."""
    parts: list[str] = []
    by: dict[str, list[str]] = {}
    for m in missing:
        if m == CLEAN:
            parts.append(CLEAN)
        else:
            c, s = m.split("/")
            by.setdefault(c, []).append(s)
    for c, sev in by.items():
        parts.append(f"{c} all severities" if len(sev) == len(SEVERITIES) else f"{c} severit{'y' if len(sev) == 1 else 'ies'} {','.join(sev)}")
    return "; ".join(parts)


def summarize(rows: Any, metric: str, dataset: str | None = None, partial: bool = False,
              corruptions: Sequence[str] | None = None) -> RobustnessSummary:
    """clean, per-corruption means, mPC and rPC of ``metric`` from keyed ``rows``.

    ``corruptions`` defaults to the 15 benchmark corruptions (the paper's mPC). Rows of other
    corruptions (e.g. the 4 validation ones) get per-corruption means but never enter mPC.
    Rows whose value is null count as missing.
    """
    bench = tuple(corruptions) if corruptions is not None else _corruption_names()[0]
    rs = [r for r in normalize_rows(rows) if r["metric"] == metric]
    datasets = sorted({r["dataset"] for r in rs})
    if dataset is not None:
        rs = [r for r in rs if r["dataset"] == dataset]
    elif len(datasets) > 1:
        raise UserError(f"rows for metric {metric} mix datasets {datasets}; pass the dataset to summarize")
    values = {(r["corruption"], r["severity"]): r["value"] for r in rs if r["value"] is not None}

    missing: list[str] = []
    if (CLEAN, CLEAN_SEVERITY) not in values:
        missing.append(CLEAN)
    missing += [f"{c}/{s}" for c in bench for s in SEVERITIES if (c, s) not in values]
    if missing and not partial:
        raise UserError(
            f"incomplete grid for {metric}"
            + (f" on {dataset or datasets[0]}" if (dataset or datasets) else "")
            + f": missing {describe_missing(missing)} (score them, or use --partial)"
        )

    order = list(bench) + sorted({c for c, _ in values if c != CLEAN and c not in bench})
    per_corruption: dict[str, float] = {}
    for c in order:
        vals = [values[(c, s)] for s in SEVERITIES if (c, s) in values]
        if vals:
            per_corruption[c] = math.fsum(vals) / len(vals)
    in_mpc = [per_corruption[c] for c in bench if c in per_corruption]
    mpc = math.fsum(in_mpc) / len(in_mpc) if in_mpc else None
    clean = values.get((CLEAN, CLEAN_SEVERITY))
    rpc = 100.0 * mpc / clean if (mpc is not None and clean not in (None, 0.0)) else None
    return RobustnessSummary(metric, clean, mpc, rpc, per_corruption, bool(missing), tuple(missing))
