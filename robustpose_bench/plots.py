"""Robustness figures from results.json files (matplotlib, no pyplot global state).

- per-corruption bars against the clean score (the AdvMix paper's Figure 4a);
- score against severity, one panel per corruption family (Figure 4b); clean is drawn at severity 0;
- with two or more results, a side-by-side comparison of clean, mPC and rPC, and of each
  corruption's change relative to the first result (e.g. AdvMix minus standard).

All scores are in percent (AP x 100 or PCKh@0.5 in %), read through the leaderboard's results view.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .errors import UserError
from .leaderboard.entries import BENCHMARK_ORDER
from .leaderboard.results_view import ResultsView, display_name, read_results

FORMATS = (".png", ".svg", ".pdf")
FAMILIES = ("noise", "blur", "weather", "digital")
DATASET_TITLE = {"coco-c": "COCO-C", "mpii-c": "MPII-C", "ochuman-c": "OCHuman-C", "synth-c": "synth-C"}
METRIC_LABEL = {"AP": "AP (%)", "PCKh": "PCKh@0.5 (%)"}
SHORT = {
    "gaussian_noise": "Gauss", "shot_noise": "Shot", "impulse_noise": "Impulse",
    "defocus_blur": "Defocus", "glass_blur": "Glass", "motion_blur": "Motion", "zoom_blur": "Zoom",
    "snow": "Snow", "frost": "Frost", "fog": "Fog", "brightness": "Bright",
    "contrast": "Contrast", "elastic_transform": "Elastic", "pixelate": "Pixel", "jpeg_compression": "JPEG",
}
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def _labels(views: Sequence[ResultsView], names: Sequence[str] | None) -> list[str]:
    if names is not None and len(names) != len(views):
        raise UserError(f"--name given {len(names)} time(s) for {len(views)} results file(s); give one per file")
    labels = list(names) if names is not None else [display_name(v) for v in views]
    out, seen = [], {}
    for label, v in zip(labels, views):
        seen[label] = seen.get(label, 0) + 1
        label = label if seen[label] == 1 else f"{label} ({seen[label]})"
        out.append(label + (" (partial)" if v.partial else ""))
    return out


def build_figure(views: Sequence[ResultsView], names: Sequence[str] | None = None) -> Any:
    """The matplotlib Figure for ``views`` (one dataset); panels as in the module docstring."""
    from matplotlib.figure import Figure

    from corruptions import CORRUPTIONS

    if not views:
        raise UserError("no results to plot")
    datasets = sorted({v.dataset for v in views})
    if len(datasets) > 1:
        raise UserError(f"results mix datasets {datasets}; plot one dataset per figure")
    dataset, metric = views[0].dataset, views[0].metric
    title = DATASET_TITLE.get(dataset, dataset)
    ylabel = METRIC_LABEL.get(metric, metric)
    labels = _labels(views, names)
    n = len(views)
    colors = [f"C{i}" for i in range(n)]

    rows = 3 if n >= 2 else 2
    fig = Figure(figsize=(15, 4.2 * rows), layout="constrained")
    grid = fig.add_gridspec(rows, 4)
    fig.suptitle(f"Robustness on {title}: {ylabel} under the 15 benchmark corruptions", fontsize=14)

    # (a) per-corruption bars (mean over severities 1-5), clean score as a dashed line per result.
    ax = fig.add_subplot(grid[0, :])
    width = 0.8 / n
    xs = range(len(BENCHMARK_ORDER))
    for i, (v, label) in enumerate(zip(views, labels)):
        heights = [v.per_corruption.get(c, float("nan")) for c in BENCHMARK_ORDER]
        pos = [x - 0.4 + width * (i + 0.5) for x in xs]
        mpc = "n/a" if v.mPC is None else f"{v.mPC:.1f}"
        ax.bar(pos, heights, width=width * 0.95, color=colors[i], label=f"{label}: mPC {mpc}")
        if v.clean is not None:
            ax.axhline(v.clean, color=colors[i], linestyle="--", linewidth=1.4,
                       label=f"{label}: clean {v.clean:.1f}")
    ax.set_xticks(list(xs), [SHORT[c] for c in BENCHMARK_ORDER], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_xlabel("corruption (mean over severities 1–5)" if not any(v.partial for v in views)
                  else "corruption (mean over the severities evaluated: partial results)")
    ax.set_title(f"(a) Per-corruption {metric} against the clean {metric}")
    top = max([v.clean or 0 for v in views] + [max(v.per_corruption.values(), default=0) for v in views])
    ax.set_ylim(0, max(1.0, top * 1.15))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, 2 * n), loc="upper right")

    # (b) score against severity, one panel per family; clean at severity 0.
    family_axes = []
    for j, family in enumerate(FAMILIES):
        fax = fig.add_subplot(grid[1, j], sharey=family_axes[0] if family_axes else None)
        family_axes.append(fax)
        members = [c for c in BENCHMARK_ORDER if CORRUPTIONS[c].family == family]
        for k, c in enumerate(members):
            for i, v in enumerate(views):
                sev = v.by_severity.get(c, {})
                pts = sorted(sev.items())
                if v.clean is not None:
                    pts = [(0, v.clean)] + pts
                if not pts:
                    continue
                fax.plot([p[0] for p in pts], [p[1] for p in pts], color=f"C{k}",
                         linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)],
                         markersize=4, label=SHORT[c] if i == 0 else None)
        fax.set_title(f"(b) {family}")
        fax.set_xlabel("severity (0 = clean)")
        fax.set_xticks(range(6))
        fax.grid(alpha=0.3)
        # Colours name the corruptions; with several results, line styles name the results (below).
        fax.add_artist(fax.legend(fontsize=8, loc="lower left", title="corruption"))
        if j == 0:
            fax.set_ylabel(ylabel)
    if n >= 2:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color="0.3", linestyle=LINESTYLES[i % len(LINESTYLES)],
                          marker=MARKERS[i % len(MARKERS)], label=label) for i, label in enumerate(labels)]
        family_axes[-1].legend(handles=handles, fontsize=8, loc="upper right", title="results")

        # (c) side by side: clean, mPC, rPC.
        cax = fig.add_subplot(grid[2, :2])
        keys = ("clean", "mPC", "rPC")
        for i, (v, label) in enumerate(zip(views, labels)):
            vals = [getattr(v, k) for k in keys]
            pos = [x - 0.4 + width * (i + 0.5) for x in range(len(keys))]
            bars = cax.bar(pos, [float("nan") if x is None else x for x in vals], width=width * 0.95,
                           color=colors[i], label=label)
            cax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
        cax.set_xticks(range(len(keys)), [f"clean {metric}", "mPC", "rPC"])
        cax.set_ylabel("%  (clean and mPC in " + ylabel.split(" ")[0] + "; rPC = 100·mPC/clean)")
        cax.set_title("(c) Side by side: clean, mPC and rPC")
        cax.set_ylim(0, 115)
        cax.grid(axis="y", alpha=0.3)
        cax.legend(fontsize=8, loc="upper right")

        # (d) change of each corruption's score relative to the first result.
        dax = fig.add_subplot(grid[2, 2:])
        base = views[0]
        wd = 0.8 / (n - 1)
        for i, (v, label) in enumerate(zip(views[1:], labels[1:]), start=1):
            diffs = [v.per_corruption.get(c, float("nan")) - base.per_corruption.get(c, float("nan"))
                     for c in BENCHMARK_ORDER]
            pos = [x - 0.4 + wd * (i - 0.5) for x in xs]
            dax.bar(pos, diffs, width=wd * 0.95, color=colors[i], label=f"{label} − {labels[0]}")
        dax.axhline(0, color="0.2", linewidth=0.8)
        dax.set_xticks(list(xs), [SHORT[c] for c in BENCHMARK_ORDER], rotation=30, ha="right")
        dax.set_ylabel(f"Δ {ylabel}")
        dax.set_title(f"(d) Per-corruption change relative to {labels[0]}")
        dax.grid(axis="y", alpha=0.3)
        dax.legend(fontsize=8)
    return fig


def plot_views(views: Sequence[ResultsView], out: str | Path, names: Sequence[str] | None = None) -> Path:
    """Draw the figure for ``views`` into ``out`` (.png, .svg or .pdf), atomically."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise UserError(f"-o {out}: the figure must end in {', '.join(FORMATS)}")
    fig = build_figure(views, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    try:
        fig.savefig(tmp, dpi=110)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def plot_results(paths: Sequence[str | Path], out: str | Path, names: Sequence[str] | None = None) -> Path:
    """Read each results.json and draw the figure (see the module docstring)."""
    return plot_views([read_results(p) for p in paths], out, names)
