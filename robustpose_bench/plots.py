"""Robustness figures from results.json files (matplotlib, no pyplot global state).

- (a) per-corruption bars against the clean score (the AdvMix paper's Figure 4a);
- (b) score against severity, one panel per corruption family (Figure 4b); clean is drawn at severity 0;
  one line per corruption for one result, one line per result (the family's mean) for several;
- with two or more results, (c) clean and mPC on the metric's axis, (d) rPC on its own axis, and
  (e) each corruption's change relative to the first result (e.g. AdvMix minus standard).

All scores are in percent (AP x 100 or PCKh@0.5 in %), read through the leaderboard's results view.
Score axes start at 0 (``ymax`` fixes their top, so that figures drawn separately compare); legends
sit outside the data; the title gives the sample size and says "subset" for a run below the full
split. Words follow ``robustpose_bench.vocabulary``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .errors import UserError
from .leaderboard.entries import BENCHMARK_ORDER
from .leaderboard.results_view import ResultsView, box_source_of, display_name, read_results, sample_size
from .splits import is_full_split
from .vocabulary import (CORRUPTION_TITLE, METRIC_UNIT, dataset_title, disambiguate, partial_joints_text,
                         sample_text)

FORMATS = (".png", ".svg", ".pdf")
FAMILIES = ("noise", "blur", "weather", "digital")
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def _labels(views: Sequence[ResultsView], names: Sequence[str] | None) -> list[str]:
    if names is not None and len(names) != len(views):
        raise UserError(f"--name given {len(names)} time(s) for {len(views)} results file(s); give one per file")
    if names is not None:
        labels = list(names)
    else:
        dates = [str(v.provenance.get("timestamp_utc") or "")[:19].replace("T", " ") or None for v in views]
        labels = disambiguate([display_name(v) for v in views],
                              [[box_source_of(v)[0] for v in views], dates, [str(v.path) for v in views]])
    # names are text: matplotlib reads "$...$" as mathtext (a name "$\\frac$" raised deep inside the
    # renderer), so every "$" is escaped
    return [label.replace("$", r"\$") + _protocol_note(v) + (" (partial)" if v.partial else "")
            + (f" ({partial_joints_text(v.joints)})" if v.joints else "")
            for label, v in zip(labels, views)]


def _protocol_note(v: ResultsView) -> str:
    """' (no flip)' / ' (flip)': the flip test moves AP by points, so every label says which it was."""
    flip = v.config.get("flip")
    return "" if flip is None else (" (flip)" if flip else " (no flip)")


def _sample_note(views: Sequence[ResultsView]) -> str:
    """'4 images, 12 persons; subset' (one sample size for all), or per result when they differ."""
    def one(v: ResultsView) -> str:
        images, persons = sample_size(v)
        full = is_full_split(v.dataset, images, persons, v.card)
        return sample_text(images, persons) + ("; subset" if full is False else "")

    notes = [one(v) for v in views]
    return notes[0] if len(set(notes)) == 1 else "samples differ: " + " vs ".join(notes)


def _top(values: list[float], ymax: float | None) -> float:
    """Top of a score axis: ``ymax`` when given, else a margin above the largest value."""
    if ymax is not None:
        return ymax
    return max(1.0, max(values, default=0.0) * 1.12)


def build_figure(views: Sequence[ResultsView], names: Sequence[str] | None = None, ymax: float | None = None) -> Any:
    """The matplotlib Figure for ``views`` (one dataset); panels as in the module docstring."""
    from matplotlib.figure import Figure

    from corruptions import CORRUPTIONS

    if not views:
        raise UserError("no results to plot")
    if ymax is not None and not ymax > 0:
        raise UserError(f"--ymax must be above 0, got {ymax}")
    datasets = sorted({v.dataset for v in views})
    if len(datasets) > 1:
        raise UserError(f"results mix datasets {datasets}; plot one dataset per figure")
    dataset, metric = views[0].dataset, views[0].metric
    ylabel = METRIC_UNIT.get(metric, metric)
    labels = _labels(views, names)
    n = len(views)
    colors = [f"C{i}" for i in range(n)]
    scores = [x for v in views for x in [v.clean or 0.0, *v.per_corruption.values(),
                                         *(s for sev in v.by_severity.values() for s in sev.values())]]
    top = _top(scores, ymax)

    rows = 3 if n >= 2 else 2
    fig = Figure(figsize=(16, 4.6 * rows), layout="constrained")
    grid = fig.add_gridspec(rows, 4)
    title = dataset_title(dataset, views[0].card).replace("$", r"\$")  # text, not mathtext (see _labels)
    fig.suptitle(f"Robustness on {title} ({_sample_note(views)}): {ylabel} under "
                 "the 15 benchmark corruptions", fontsize=14)

    # (a) per-corruption bars (mean over severities 1-5), clean score as a dashed line per result.
    ax = fig.add_subplot(grid[0, :])
    width = 0.8 / n
    xs = range(len(BENCHMARK_ORDER))
    for i, (v, label) in enumerate(zip(views, labels)):
        heights = [v.per_corruption.get(c, float("nan")) for c in BENCHMARK_ORDER]
        pos = [x - 0.4 + width * (i + 0.5) for x in xs]
        mpc = "n/a" if v.mPC is None else f"{v.mPC:.1f}"
        ax.bar(pos, heights, width=width * 0.95, color=colors[i], label=f"{label}: per corruption (mean: mPC {mpc})")
        if v.clean is not None:
            ax.axhline(v.clean, color=colors[i], linestyle="--", linewidth=1.4,
                       label=f"{label}: clean {v.clean:.1f}")
    ax.set_xticks(list(xs), [CORRUPTION_TITLE[c] for c in BENCHMARK_ORDER], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_xlabel("corruption (mean over severities 1–5)" if not any(v.partial for v in views)
                  else "corruption (mean over the severities evaluated: partial results)")
    ax.set_title(f"(a) Per-corruption {metric} against the clean {metric}")
    ax.set_ylim(0, top)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0)

    # (b) score against severity, one panel per family; clean at severity 0. One result: a line per
    # corruption. Several: a line per result, the mean over the family's corruptions (a line per
    # corruption and result gave 8 tangled lines a panel with two results). Legends go below each
    # panel, where no curve can be.
    family_axes = []
    for j, family in enumerate(FAMILIES):
        fax = fig.add_subplot(grid[1, j], sharey=family_axes[0] if family_axes else None)
        family_axes.append(fax)
        members = [c for c in BENCHMARK_ORDER if CORRUPTIONS[c].family == family]
        if n == 1:
            v = views[0]
            for k, c in enumerate(members):
                pts = sorted(v.by_severity.get(c, {}).items())
                if v.clean is not None:
                    pts = [(0, v.clean)] + pts
                if pts:
                    fax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{k}", marker=MARKERS[0],
                             markersize=4, label=CORRUPTION_TITLE[c])
            legend_title = "corruption"
        else:
            for i, (v, label) in enumerate(zip(views, labels)):
                pts = [(0, v.clean)] if v.clean is not None else []
                for sev in range(1, 6):
                    vals = [v.by_severity[c][sev] for c in members if sev in v.by_severity.get(c, {})]
                    if len(vals) == len(members):  # a mean over some of the family would mislead
                        pts.append((sev, sum(vals) / len(vals)))
                if pts:
                    fax.plot([p[0] for p in pts], [p[1] for p in pts], color=colors[i],
                             linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)],
                             markersize=4, label=label)
            legend_title = f"mean over {', '.join(CORRUPTION_TITLE[c] for c in members)}"
        fax.set_title(f"(b) {family}")
        fax.set_xlabel("severity (0 = clean)")
        fax.set_xticks(range(6))
        fax.set_ylim(0, top)
        fax.grid(alpha=0.3)
        fax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=1 if n > 1 else 2,
                   title=legend_title, title_fontsize=8)
        if j == 0:
            fax.set_ylabel(ylabel)
    if n < 2:
        return fig

    # (c) clean and mPC share the metric's axis; (d) rPC (a ratio) gets its own.
    sub = grid[2, :2].subgridspec(1, 2, width_ratios=(2, 1))
    cax, rax = fig.add_subplot(sub[0, 0]), fig.add_subplot(sub[0, 1])
    for axis, keys, ticks in ((cax, ("clean", "mPC"), [f"clean {metric}", "mPC"]), (rax, ("rPC",), ["rPC"])):
        for i, (v, label) in enumerate(zip(views, labels)):
            vals = [getattr(v, k) for k in keys]
            pos = [x - 0.4 + width * (i + 0.5) for x in range(len(keys))]
            bars = axis.bar(pos, [float("nan") if x is None else x for x in vals], width=width * 0.95,
                            color=colors[i], label=label)
            axis.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
        axis.set_xticks(range(len(keys)), ticks)
        axis.grid(axis="y", alpha=0.3)
    cax.set_ylabel(ylabel)
    cax.set_ylim(0, _top([x for v in views for x in (v.clean or 0.0, v.mPC or 0.0)], ymax) * 1.08)
    cax.set_title("(c) Clean score and mPC")
    rax.set_ylabel("rPC (%) = 100·mPC/clean")
    rax.set_ylim(0, max(100.0, max((v.rPC or 0.0) for v in views)) * 1.12)
    rax.set_title("(d) rPC")
    rax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=min(n, 2))

    # (e) change of each corruption's score relative to the first result.
    dax = fig.add_subplot(grid[2, 2:])
    base = views[0]
    wd = 0.8 / (n - 1)
    for i, (v, label) in enumerate(zip(views[1:], labels[1:]), start=1):
        diffs = [v.per_corruption.get(c, float("nan")) - base.per_corruption.get(c, float("nan"))
                 for c in BENCHMARK_ORDER]
        pos = [x - 0.4 + wd * (i - 0.5) for x in xs]
        dax.bar(pos, diffs, width=wd * 0.95, color=colors[i], label=f"{label} − {labels[0]}")
    dax.axhline(0, color="0.2", linewidth=0.8)
    dax.set_xticks(list(xs), [CORRUPTION_TITLE[c] for c in BENCHMARK_ORDER], rotation=30, ha="right")
    dax.set_ylabel(f"Δ {ylabel}")
    dax.set_title(f"(e) Per-corruption change relative to {labels[0]}")
    dax.grid(axis="y", alpha=0.3)
    dax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0)
    return fig


def plot_views(views: Sequence[ResultsView], out: str | Path, names: Sequence[str] | None = None,
               ymax: float | None = None) -> Path:
    """Draw the figure for ``views`` into ``out`` (.png, .svg or .pdf), atomically."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise UserError(f"-o {out}: the figure must end in {', '.join(FORMATS)}")
    fig = build_figure(views, names, ymax=ymax)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    try:
        fig.savefig(tmp, dpi=110)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def plot_results(paths: Sequence[str | Path], out: str | Path, names: Sequence[str] | None = None,
                 ymax: float | None = None) -> Path:
    """Read each results.json and draw the figure (see the module docstring)."""
    return plot_views([read_results(p) for p in paths], out, names, ymax=ymax)
