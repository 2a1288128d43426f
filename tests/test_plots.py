"""`robustpose-bench plot`: the figures exist, and what they draw is the results' numbers."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from results_factory import write_fake_results
from robustpose_bench.cli import main
from robustpose_bench.errors import UserError
from robustpose_bench.leaderboard.entries import BENCHMARK_ORDER
from robustpose_bench.leaderboard.results_view import read_results
from robustpose_bench.plots import build_figure, plot_results


@pytest.fixture
def two(tmp_path):
    std = write_fake_results(tmp_path / "std.json", method="SimpleBaseline", robustness=0.65, seed=1)
    adv = write_fake_results(tmp_path / "adv.json", method="SimpleBaseline+AdvMix", robustness=0.8, seed=2,
                             clean=0.69, model_byte="c")
    return std, adv


def test_one_result_png(tmp_path, two, capsys):
    out = tmp_path / "fig" / "one.png"
    assert main(["plot", str(two[0]), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 1000 and im.height > 600
        # not blank: many distinct colours (bars, lines, text)
        assert len(im.convert("RGB").getcolors(1 << 20)) > 50
    assert not list(out.parent.glob(".*tmp*"))  # written atomically, no temp left


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_two_results_all_formats(tmp_path, two, suffix):
    out = tmp_path / f"cmp{suffix}"
    plot_results(list(two), out, names=["standard", "AdvMix"])
    data = out.read_bytes()
    assert len(data) > 10_000
    head = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[suffix]
    assert data.startswith(head)
    if suffix == ".svg":
        text = data.decode()
        for label in ("standard", "AdvMix", "COCO-C", "AP (%)", "severity (0 = clean)"):
            assert label in text


def test_figure_draws_the_results_numbers(two):
    views = [read_results(p) for p in two]
    fig = build_figure(views, names=["standard", "AdvMix"])
    axes = fig.axes
    bars_ax = axes[0]
    assert "COCO-C" in fig.get_suptitle() and bars_ax.get_ylabel() == "AP (%)"
    # (a) grouped bars: first 15 patches are the first result's per-corruption scores, in paper order
    heights = [p.get_height() for p in bars_ax.patches]
    assert len(heights) == 30
    for i, v in enumerate(views):
        assert heights[15 * i:15 * (i + 1)] == pytest.approx([v.per_corruption[c] for c in BENCHMARK_ORDER])
    # dashed clean lines at each result's clean score
    clean_lines = [ln.get_ydata()[0] for ln in bars_ax.lines]
    assert clean_lines == pytest.approx([v.clean for v in views])
    legend = [t.get_text() for t in bars_ax.get_legend().get_texts()]
    # the bars are per-corruption scores: the legend says so, and that their mean is mPC
    assert f"standard: per corruption (mean: mPC {views[0].mPC:.1f})" in legend
    assert any(t.startswith("AdvMix: clean") for t in legend)
    # (b) four family panels, noise first; with two results, one line per result (2, not 8): the mean
    # over the family's corruptions, clean at severity 0
    noise = axes[1]
    assert noise.get_title() == "(b) noise" and noise.get_xlabel() == "severity (0 = clean)"
    assert len(noise.lines) == 2
    for line, v in zip(noise.lines, views):
        assert list(line.get_xdata()) == [0, 1, 2, 3, 4, 5]
        members = ("gaussian_noise", "shot_noise", "impulse_noise")
        expect = [v.clean] + [sum(v.by_severity[c][s] for c in members) / 3 for s in range(1, 6)]
        assert list(line.get_ydata()) == pytest.approx(expect)
    assert [t.get_text() for t in noise.get_legend().get_texts()] == ["standard", "AdvMix"]
    assert [a.get_title() for a in axes[1:5]] == ["(b) noise", "(b) blur", "(b) weather", "(b) digital"]
    # (c) clean and mPC on the metric's axis, (d) rPC on an axis of its own; (e) per-corruption difference
    side, ratio = axes[5], axes[6]
    assert side.get_title() == "(c) Clean score and mPC" and ratio.get_title() == "(d) rPC"
    assert axes[7].get_title().startswith("(e) ")
    assert [p.get_height() for p in side.patches] == pytest.approx(
        [views[0].clean, views[0].mPC, views[1].clean, views[1].mPC])
    assert side.get_ylabel() == "AP (%)" and "rPC" in ratio.get_ylabel()
    assert [p.get_height() for p in ratio.patches] == pytest.approx([views[0].rPC, views[1].rPC])
    assert side.get_ylim()[1] < 100 < ratio.get_ylim()[1]  # the AP bars are not squashed by rPC's scale
    diff = axes[7]
    assert [p.get_height() for p in diff.patches] == pytest.approx(
        [views[1].per_corruption[c] - views[0].per_corruption[c] for c in BENCHMARK_ORDER])


def test_single_result_has_no_comparison_panels(two):
    v = read_results(two[0])
    fig = build_figure([v])
    assert len(fig.axes) == 5
    # (b) one result: a line per corruption; Gauss starts at clean, then severities 1..5
    first = fig.axes[1].lines[0]
    assert list(first.get_ydata()) == pytest.approx([v.clean] + [v.by_severity["gaussian_noise"][s] for s in range(1, 6)])
    assert len(fig.axes[1].lines) == 3


def test_labels_say_whether_the_flip_test_ran(tmp_path, two):
    import dataclasses

    views = [read_results(p) for p in two]
    views = [dataclasses.replace(views[0], config={**views[0].config, "flip": False}),
             dataclasses.replace(views[1], config={**views[1].config, "flip": True})]
    fig = build_figure(views, names=["MoveNet", "HRNet"])
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["MoveNet (no flip)", "HRNet (flip)"]


def test_pckh_units_and_errors(tmp_path, two, capsys):
    mpii = write_fake_results(tmp_path / "mpii.json", dataset="mpii-c")
    fig = build_figure([read_results(mpii)])
    assert fig.axes[0].get_ylabel() == "PCKh@0.5 (%)" and "MPII-C" in fig.get_suptitle()
    # PCKh is stored in percent already: the bars are the raw per-corruption values
    raw = json.loads(mpii.read_text())["summary"]["per_corruption"]
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([raw[c] for c in BENCHMARK_ORDER])

    with pytest.raises(UserError, match="mix datasets"):
        plot_results([two[0], mpii], tmp_path / "x.png")
    assert main(["plot", str(two[0]), "-o", str(tmp_path / "fig.jpg")]) == 2
    assert ".png, .svg, .pdf" in capsys.readouterr().err
    assert main(["plot", str(two[0]), str(two[1]), "--name", "only-one", "-o", str(tmp_path / "f.png")]) == 2
    assert "--name given 1 time(s) for 2" in capsys.readouterr().err


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    return fig


def test_legends_sit_outside_the_data_and_axes_start_at_zero(two, tmp_path):
    views = [read_results(p) for p in two]
    fig = _drawn(build_figure(views, names=["standard", "AdvMix"]))
    from matplotlib.legend import Legend

    legends = 0
    for ax in fig.axes:
        for legend in (c for c in ax.get_children() if isinstance(c, Legend)):
            legends += 1
            assert not legend.get_window_extent().overlaps(ax.get_window_extent()), ax.get_title()
        if ax.get_title() != "(e) Per-corruption change relative to standard":
            assert ax.get_ylim()[0] == 0, ax.get_title()
    assert legends == 7  # (a), four (b) legends naming the results, (d), (e)
    # the MPII severity panels start at 0 like every other score axis
    mpii = write_fake_results(tmp_path / "mpii.json", dataset="mpii-c", robustness=0.95)
    fig = build_figure([read_results(mpii)])
    assert [ax.get_ylim()[0] for ax in fig.axes] == [0] * 5


def test_shared_scale_for_figures_drawn_apart(two, tmp_path, capsys):
    low = write_fake_results(tmp_path / "low.json", clean=0.08, seed=4)
    scales = {p: build_figure([read_results(p)], ymax=80).axes[0].get_ylim() for p in (two[0], low)}
    assert set(scales.values()) == {(0, 80)}
    assert build_figure([read_results(low)]).axes[0].get_ylim()[1] < 20  # fitted without --ymax
    assert main(["plot", str(low), "-o", str(tmp_path / "f.png"), "--ymax", "0"]) == 2
    assert "--ymax must be above 0" in capsys.readouterr().err


def test_title_gives_the_sample_size_and_says_subset(two, tmp_path):
    full = build_figure([read_results(two[0])])
    assert "(5,000 images, 6,352 persons)" in full.get_suptitle()
    tiny = write_fake_results(tmp_path / "tiny.json", sample=(4, 12))
    assert "(4 images, 12 persons; subset)" in build_figure([read_results(tiny)]).get_suptitle()
    mixed = build_figure([read_results(two[0]), read_results(tiny)]).get_suptitle()
    assert "samples differ: 5,000 images, 6,352 persons vs 4 images, 12 persons; subset" in mixed


def test_two_runs_of_one_model_get_telling_labels(tmp_path):
    gt = write_fake_results(tmp_path / "gt.json", method="movenet")
    det = write_fake_results(tmp_path / "det.json", method="movenet", seed=5,
                             boxes={"source": "/data/dets.json", "sha256": "d" * 64})
    fig = build_figure([read_results(gt), read_results(det)])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "movenet (GT boxes): per corruption (mean: mPC" in " ".join(legend) and "movenet (detections: dets.json): per corruption (mean: mPC" in " ".join(legend)
