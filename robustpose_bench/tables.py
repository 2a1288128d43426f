"""Tables in the AdvMix paper's layout, built with pandas from results.json objects.

Columns: Method, Backbone, Input size, ``<metric>*`` (clean), mPC, rPC, then the 15 benchmark
corruptions in ``BENCHMARK_CORRUPTIONS`` order (the paper's order). One row per results file. Values
are shown in percent (AP x 100, PCKh as is), as in the paper; rPC is already a percentage.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from .errors import UserError

FORMATS: tuple[str, ...] = ("md", "csv", "latex", "json")
ID_COLUMNS: tuple[str, ...] = ("Method", "Backbone", "Input size")


def _input_size(results: Mapping) -> str | None:
    cfg = results.get("config") or {}
    if cfg.get("input_size"):
        return str(cfg["input_size"])
    model = (results.get("provenance") or {}).get("model") or {}
    spec_in = ((model.get("spec") or {}).get("input") or {})
    if spec_in.get("height") and spec_in.get("width"):
        return f"{spec_in['height']}x{spec_in['width']}"
    return None


def _method(results: Mapping) -> str | None:
    cfg = results.get("config") or {}
    if cfg.get("method"):
        return str(cfg["method"])
    model = (results.get("provenance") or {}).get("model") or {}
    spec = model.get("spec") or {}
    if spec.get("name"):
        return str(spec["name"])
    if model.get("path"):
        from pathlib import Path

        return Path(model["path"]).stem
    return None


def results_frame(results: Sequence[Mapping], names: Sequence[str] | None = None):
    """A pandas DataFrame in the paper's layout (numbers in percent, None where not available)."""
    import pandas as pd

    from corruptions import BENCHMARK_CORRUPTIONS

    if not results:
        raise UserError("no results to tabulate")
    if names is not None and len(names) != len(results):
        raise UserError(f"--name given {len(names)} time(s) for {len(results)} results file(s); give one per file")
    metrics = sorted({r["metric"] for r in results})
    datasets = sorted({r["dataset"] for r in results})
    if len(metrics) > 1 or len(datasets) > 1:
        raise UserError(f"results mix datasets {datasets}; make one table per dataset")
    metric = metrics[0]
    records = []
    for i, r in enumerate(results):
        f = float(r["percent_factor"])
        s = r["summary"]

        def pct(v: Any) -> float | None:
            return None if v is None else float(v) * f

        method = names[i] if names is not None else (_method(r) or f"results {i + 1}")
        if s.get("partial"):
            method += " (partial)"
        cfg = r.get("config") or {}
        rec = {
            "Method": method,
            "Backbone": cfg.get("backbone") or "-",
            "Input size": _input_size(r) or "-",
            f"{metric}*": pct(s["clean"]),
            "mPC": pct(s["mPC"]),
            "rPC": s["rPC"],
        }
        for c in BENCHMARK_CORRUPTIONS:
            rec[c] = pct(s["per_corruption"].get(c))
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=list(records[0]))


def render_table(frame, fmt: str, decimals: int = 1) -> str:
    """``md`` / ``latex`` round to ``decimals`` like the paper; ``csv`` / ``json`` keep full precision."""
    if fmt not in FORMATS:
        raise UserError(f"unknown table format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2, double_precision=15) + "\n"
    numeric = [c for c in frame.columns if c not in ID_COLUMNS]
    shown = frame.copy()
    for c in numeric:
        shown[c] = [("-" if v is None or v != v else f"{v:.{decimals}f}") for v in frame[c]]
    if fmt == "md":
        return shown.to_markdown(index=False, disable_numparse=True) + "\n"
    # escape=True turns the corruption names' underscores (and any in method names) into \_
    return shown.to_latex(index=False, escape=True, column_format="lll" + "r" * len(numeric))
