"""Tables from results.json objects, in the AdvMix paper's layout (pandas for the frame).

Columns: Model, Backbone, Input size, Boxes, then the metric columns. With one metric (the primary
one, AP or PCKh, by default) that is the paper's layout: ``<metric> (clean)``, mPC, rPC and the 15
benchmark corruptions. ``metrics`` asks for other column sets (AP50, AP75, APM, APL, AR, ... on the
COCO-style sets; PCKh@0.1 and HRNet's per-joint PCKh on MPII); with several, each gets its clean,
mPC and rPC columns. Values are in percent (AP x 100, PCKh as is), as in the paper; rPC is already
a percentage. A partial PCKh (MPII-C scored over the joints a model has) is marked beside the model
in every format: "(partial PCKh: 12/16 joints)". Words follow ``robustpose_bench.vocabulary`` and each format escapes names its own way
(``robustpose_bench.escape``).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import escape
from .errors import UserError
from .vocabulary import (CORRUPTION_TITLE, MISSING, box_source_label, clean_title, disambiguate, non_standard_text,
                         partial_joints_text)

FORMATS: tuple[str, ...] = ("md", "csv", "latex", "json")
ID_COLUMNS: tuple[str, ...] = ("Model", "Backbone", "Input size", "Boxes", "Flip", "Sample")

COCO_METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
CROWD_METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP(E)", "AP(M)", "AP(H)")
MPII_JOINT_GROUPS: tuple[str, ...] = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")
# --metrics names (case-insensitive) -> the results' row metrics they add, per scorer (a card's ``scorer``).
METRIC_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "pycocotools": {m.lower(): (m,) for m in COCO_METRICS},
    "xtcocotools-crowd": {m.lower(): (m,) for m in CROWD_METRICS},
    "hrnet-pckh": {"pckh": ("PCKh",), "pckh@0.1": ("PCKh@0.1",),
                   "joints": tuple(f"PCKh/{g}" for g in MPII_JOINT_GROUPS)},
}


def _kind(dataset: str, primary: str) -> str:
    """The scorer of ``dataset``: its card's; for a user's own dataset, the one its primary metric implies
    (a user's card is COCO-format, so AP there is pycocotools' unless the card said crowd)."""
    from .datasets.cards import find_card

    card = find_card(dataset)
    if card is not None:
        return card.scorer
    return "hrnet-pckh" if primary == "PCKh" else "pycocotools"


def parse_metrics(text: str | None, dataset: str, primary: str) -> list[str]:
    """``'ap,ap50,ar'`` -> ['AP', 'AP50', 'AR'] for ``dataset``; None -> [primary]."""
    if text is None:
        return [primary]
    sets = METRIC_SETS[_kind(dataset, primary)]
    out: list[str] = []
    for name in (n.strip().lower() for n in text.split(",")):
        if not name:
            continue
        if name not in sets:
            raise UserError(f"--metrics: {name!r} is not a column set of {dataset}; expected some of "
                            f"{', '.join(sets)}")
        out += [m for m in sets[name] if m not in out]
    if not out:
        raise UserError("--metrics is empty")
    return out


def _input_size(results: Mapping) -> str | None:
    cfg = results.get("config") or {}
    if cfg.get("input_size"):
        return str(cfg["input_size"])
    model = (results.get("provenance") or {}).get("model") or {}
    spec_in = ((model.get("spec") or {}).get("input") or {})
    if spec_in.get("height") and spec_in.get("width"):
        return f"{spec_in['height']}x{spec_in['width']}"
    return None


def _model(results: Mapping) -> str | None:
    """config.method (``eval`` / ``score`` ``--method``: the row label), else the spec's name, else the
    model file's stem."""
    cfg = results.get("config") or {}
    if cfg.get("method"):
        return str(cfg["method"])
    model = (results.get("provenance") or {}).get("model") or {}
    spec = model.get("spec") or {}
    if spec.get("name"):
        return str(spec["name"])
    if model.get("path"):
        return Path(model["path"]).stem
    return None


def _boxes(results: Mapping) -> str | None:
    boxes = (results.get("provenance") or {}).get("boxes") or {}
    return box_source_label(boxes.get("source"))


def _flip(results: Mapping) -> str | None:
    """'flip' / 'no flip': the flip test changes AP by points (BlazePose: 13.1 with, 20.0 without)."""
    flip = (results.get("config") or {}).get("flip")
    return None if flip is None else ("flip" if flip else "no flip")


def _sample(results: Mapping) -> str | None:
    """The run's sample size, marked when it is below the full split: a 16-person run must not read
    like a paper row (an OCHuman run of 5 persons printed rPC 122.9)."""
    from .splits import is_full_split
    from .vocabulary import sample_text

    data = (results.get("provenance") or {}).get("data") or {}
    images, persons = data.get("num_images"), data.get("num_persons")
    if images is None and persons is None:
        return None
    full = is_full_split(results["dataset"], images, persons, (results.get("provenance") or {}).get("dataset_card"))
    return sample_text(images, persons) + (" (subset)" if full is False else "")


def _facts(results: Sequence[Mapping], sources: Sequence[str] | None) -> list[list[str | None]]:
    """What can tell two results apart: box source, date and time, file."""
    dates = [str((r.get("provenance") or {}).get("timestamp_utc") or "")[:19].replace("T", " ") or None
             for r in results]
    return [[_boxes(r) for r in results], dates, [str(s) for s in sources] if sources else [None] * len(results)]


def _value(v: Any, factor: float) -> float | None:
    """Percent, or None for a missing value and for COCOeval's -1 (no person in that area range)."""
    if v is None or v < 0:
        return None
    return float(v) * factor


def _summaries(r: Mapping, metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """clean, mPC, rPC and per-corruption means of each metric, in percent (None where undefined).

    The primary metric's summary is the file's own (validated); another metric is summarised from the
    rows the same way, with gaps (e.g. APM on a set without medium persons) left undefined.
    """
    from .metrics.robustness import summarize

    f = float(r["percent_factor"])
    out: dict[str, dict[str, Any]] = {}
    for m in metrics:
        if m == r["metric"]:
            s = r["summary"]
            out[m] = {"clean": _value(s["clean"], f), "mPC": _value(s["mPC"], f), "rPC": s["rPC"],
                      "per_corruption": {c: _value(v, f) for c, v in s["per_corruption"].items()}}
            continue
        rows = [dict(row, value=None if row["value"] is None or row["value"] < 0 else row["value"])
                for row in r["rows"] if row["metric"] == m]
        if not rows:
            out[m] = {"clean": None, "mPC": None, "rPC": None, "per_corruption": {}}
            continue
        s = summarize(rows, m, dataset=r["dataset"], partial=True)
        gaps = bool(s.missing) and not r["summary"]["partial"]
        per = {c: _value(v, f) for c, v in s.per_corruption.items()
               if not gaps or not any(x.startswith(f"{c}/") for x in s.missing)}
        out[m] = {"clean": _value(s.clean, f), "mPC": None if gaps else _value(s.mPC, f),
                  "rPC": None if gaps else s.rPC, "per_corruption": per}
    return out


def results_frame(results: Sequence[Mapping], names: Sequence[str] | None = None,
                  metrics: str | None = None, sources: Sequence[str] | None = None):
    """A pandas DataFrame in the paper's layout (numbers in percent, None where not available).

    ``metrics``: comma-separated column sets (``--metrics``); ``sources``: the files the results came
    from, used to tell apart two runs that would otherwise get the same label.
    """
    import pandas as pd

    from corruptions import BENCHMARK_CORRUPTIONS

    if not results:
        raise UserError("no results to tabulate")
    if names is not None and len(names) != len(results):
        raise UserError(f"--name given {len(names)} time(s) for {len(results)} results file(s); give one per file")
    primaries = sorted({r["metric"] for r in results})
    datasets = sorted({r["dataset"] for r in results})
    if len(primaries) > 1 or len(datasets) > 1:
        raise UserError(f"results mix datasets {datasets}; make one table per dataset")
    chosen = parse_metrics(metrics, datasets[0], primaries[0])
    labels = [names[i] if names is not None else (_model(r) or f"results {i + 1}") for i, r in enumerate(results)]
    if names is None:
        labels = disambiguate(labels, _facts(results, sources))
    records = []
    for label, r in zip(labels, results):
        cfg = r.get("config") or {}
        rec: dict[str, Any] = {
            "Model": label + (" (partial)" if r["summary"].get("partial") else "")
            + (f" ({partial_joints_text(r['summary'].get('joints'))})" if r["summary"].get("joints") else "")
            + (f" ({non_standard_text(cfg)})" if non_standard_text(cfg) else ""),
            "Backbone": cfg.get("backbone") or None,
            "Input size": _input_size(r),
            "Boxes": _boxes(r),
            "Flip": _flip(r),
            "Sample": _sample(r),
        }
        summaries = _summaries(r, chosen)
        if len(chosen) == 1:
            s = summaries[chosen[0]]
            rec.update({clean_title(chosen[0]): s["clean"], "mPC": s["mPC"], "rPC": s["rPC"]})
            for c in BENCHMARK_CORRUPTIONS:
                rec[c] = s["per_corruption"].get(c)
        else:
            for m in chosen:
                s = summaries[m]
                rec.update({clean_title(m): s["clean"], f"{m} mPC": s["mPC"], f"{m} rPC": s["rPC"]})
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=list(records[0]))


def _cell(v: Any, decimals: int) -> str:
    if isinstance(v, str):
        return v
    return MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{decimals}f}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A GitHub Markdown table of already escaped cells; ``right`` marks the right-aligned (number)
    columns."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def tex_tabular(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """A booktabs tabular of already escaped cells (needs \\usepackage{booktabs})."""
    return (["\\begin{tabular}{" + "".join("r" if r else "l" for r in right) + "}", "\\toprule",
             " & ".join(header) + " \\\\", "\\midrule"]
            + [" & ".join(r) + " \\\\" for r in rows] + ["\\bottomrule", "\\end{tabular}"])


def render_table(frame, fmt: str, decimals: int = 1) -> str:
    """``md`` / ``latex`` round to ``decimals`` like the paper; ``csv`` / ``json`` keep full precision.

    md and LaTeX title the corruption columns with the paper's short names; csv and json keep the
    engine's names as keys (docs/results.md, "Vocabulary").
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown table format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return escape.csv_frame(frame).to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2, double_precision=15) + "\n"
    header = [CORRUPTION_TITLE.get(c, c) for c in frame.columns]
    right = [c not in ID_COLUMNS for c in frame.columns]
    cells = [[_cell(v, decimals) for v in row] for row in frame.itertuples(index=False)]
    if fmt == "md":
        return md_table([escape.md(h) for h in header], [[escape.md(c) for c in r] for r in cells], right)
    return "\n".join(tex_tabular([escape.tex(h) for h in header], [[escape.tex(c) for c in r] for r in cells],
                                 right)) + "\n"
