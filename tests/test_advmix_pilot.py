"""experiments/advmix_pilot.py: its statistics, and its tiny mode end to end (resumable, reproducible)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pilot():
    spec = importlib.util.spec_from_file_location("advmix_pilot", ROOT / "experiments" / "advmix_pilot.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["advmix_pilot"] = mod
    spec.loader.exec_module(mod)
    return mod


def _runs() -> pd.DataFrame:
    rows = [{"run": "base", "arm": "base", "seed": None, "clean": 50.0, "mPC": 20.0, "rPC": 40.0}]
    std = {0: (60.0, 30.0), 1: (62.0, 29.0), 2: (61.0, 31.0)}
    adv = {0: (58.0, 31.0), 1: (61.0, 31.5), 2: (58.0, 33.0)}
    for arm, vals in (("standard", std), ("adv", adv)):
        for seed, (clean, mpc) in vals.items():
            rows.append({"run": f"{arm}-s{seed}", "arm": arm, "seed": seed, "clean": clean, "mPC": mpc,
                         "rPC": 100 * mpc / clean})
    return pd.DataFrame(rows)


def test_paired_summary_is_the_paired_t_interval(pilot):
    summary = pilot.paired_summary(_runs())
    assert set(summary["arm"]) == {"standard", "adv"}          # the base is not an arm
    std_clean = summary[(summary.arm == "standard") & (summary.metric == "clean")].iloc[0]
    assert std_clean["n"] == 3 and std_clean["mean"] == pytest.approx(61.0) and std_clean["std"] == pytest.approx(1.0)
    assert np.isnan(std_clean["diff_mean"])                     # the reference has no difference
    row = summary[(summary.arm == "adv") & (summary.metric == "mPC")].iloc[0]
    d = np.array([31.0 - 30.0, 31.5 - 29.0, 33.0 - 31.0])       # paired by seed
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert row["diff_mean"] == pytest.approx(d.mean())
    assert (row["diff_lo"], row["diff_hi"]) == pytest.approx((d.mean() - half, d.mean() + half))
    # pairing matters: the unpaired spread of adv's mPC alone is wider than the paired one
    assert row["std"] > d.std(ddof=1) * 0.5
    table = pilot.markdown_table(summary, ["standard", "adv"])
    assert "| adv | 59.0 ± 1.7 |" in table and f"+{d.mean():.1f} [" in table and "(reference)" in table


def test_paired_summary_drops_unpaired_seeds(pilot):
    runs = _runs()
    runs = runs[~((runs.arm == "standard") & (runs.seed == 2))]   # seed 2 has no standard run
    row = pilot.paired_summary(runs).query("arm == 'adv' and metric == 'clean'").iloc[0]
    assert row["n"] == 3 and row["diff_n"] == 2
    assert row["diff_mean"] == pytest.approx(((58 - 60) + (61 - 62)) / 2)


@pytest.mark.slow
def test_tiny_pilot_resumes_and_reproduces(pilot, tmp_path):
    """Two runs from scratch give the same checkpoints and numbers; a re-run retrains nothing."""
    outputs = ("runs.csv", "summary.csv", "table.md", "mpc_vs_clean.png", "base_curve.json", "per_corruption.md",
               "mix_weights.csv")
    first = tmp_path / "a"
    assert pilot.main(["--tiny", "--out", str(first), "--jobs", "2", "--no-progress"]) == 0
    report = json.loads((first / "report.json").read_text())
    runs = pd.DataFrame(report["runs"])
    assert len(runs) == 1 + 2 * len(pilot.ARMS)                  # base + arms x seeds
    assert set(runs["arm"]) == {"base", *pilot.ARMS}
    assert runs["clean"].notna().all() and runs["checkpoint_sha256"].str.len().eq(64).all()
    adv = runs[runs.arm == "adv"]
    assert adv["w_clean_first"].between(0, 1).all()             # the generator's weights are recorded
    assert runs[runs.arm == "standard"]["w_clean_first"].isna().all()
    before = {name: (first / name).read_bytes() for name in outputs}
    mtimes = {p: p.stat().st_mtime_ns for p in (first / "runs").glob("*/last.pth")}
    # a re-run (as after a kill) redoes nothing but the report, and writes the same bytes
    (first / "table.md").unlink()
    assert pilot.main(["--tiny", "--out", str(first), "--jobs", "2", "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in (first / "runs").glob("*/last.pth")} == mtimes
    assert {name: (first / name).read_bytes() for name in outputs} == before
    # --report-only rebuilds the same report from the folder's own files
    assert pilot.main(["--tiny", "--out", str(first), "--report-only"]) == 0
    assert {name: (first / name).read_bytes() for name in outputs} == before
    # a second run from scratch, in another folder, reproduces every weight and number (the checkpoint
    # files themselves differ: they store their config, whose paths name the folder)
    second = tmp_path / "b"
    assert pilot.main(["--tiny", "--out", str(second), "--jobs", "1", "--no-progress"]) == 0
    for name in ("summary.csv", "table.md", "base_curve.json"):
        assert (second / name).read_bytes() == before[name], name
    numbers = lambda folder: pd.read_csv(folder / "runs.csv").drop(columns="checkpoint_sha256")  # noqa: E731
    pd.testing.assert_frame_equal(numbers(second), numbers(first))
    for ckpt in (first / "runs").glob("*/last.pth"):
        a = torch.load(ckpt, weights_only=True)["state_dict"]
        b = torch.load(second / "runs" / ckpt.parent.name / "last.pth", weights_only=True)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), ckpt.parent.name


def test_docs_show_the_pilot_table_the_code_computes(pilot):
    """docs/advmix.md shows the committed pilot table, and that table is what the code computes from
    the committed per-run numbers (report.json): the docs cannot drift from the results."""
    results = ROOT / "experiments" / "advmix_pilot_results"
    report = json.loads((results / "report.json").read_text())
    runs = pd.DataFrame(report["runs"])
    assert len(runs) == 1 + 3 * len(pilot.ARMS) and runs.groupby("arm").size().drop("base").eq(3).all()
    table = (results / "table.md").read_text()
    computed = pilot.markdown_table(pilot.paired_summary(runs), list(pilot.ARMS))
    assert table.endswith(computed)
    docs = (ROOT / "docs" / "advmix.md").read_text()
    assert table.strip() in docs
    assert (results / "per_corruption.md").read_text().strip() in docs
    assert (ROOT / "docs" / "figures" / "advmix_pilot_mpc_vs_clean.png").stat().st_size > 10_000
    verify = json.loads((results / "verify.json").read_text())
    assert all(v["identical"] for v in verify.values())


def test_extra_arms_are_asked_for_by_name(pilot, tmp_path, capsys):
    """--extra-arms adds a generator-strength arm after the default ones; an unknown name is refused."""
    fields = pilot.Pilot(tmp_path, pilot.FULL, 1, 1, False).finetune_fields("adv-glr1e-5", 0, tmp_path / "b.pth")
    assert fields["mix"] == "adv" and fields["generator_lr"] == 1e-5 and fields["seed"] == 0
    assert "adv-glr1e-5" not in pilot.FULL.arms                    # not run unless asked for
    with pytest.raises(SystemExit) as e:
        pilot.main(["--out", str(tmp_path / "p"), "--extra-arms", "adv-glr9"])
    assert e.value.code == 2 and "adv-glr9" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_docs_show_the_cpu_replication_the_code_computes(pilot):
    """The CPU replication (with its extra arm) in docs/advmix.md is what the code computes from its
    committed per-run numbers."""
    results = ROOT / "experiments" / "advmix_pilot_results_cpu"
    report = json.loads((results / "report.json").read_text())
    arms = report["settings"]["arms"]
    assert arms == [*pilot.ARMS, "adv-glr1e-5"]
    runs = pd.DataFrame(report["runs"])
    assert len(runs) == 1 + 3 * len(arms) and runs.groupby("arm").size().drop("base").eq(3).all()
    table = (results / "table.md").read_text()
    assert table.endswith(pilot.markdown_table(pilot.paired_summary(runs), arms))
    docs = (ROOT / "docs" / "advmix.md").read_text()
    assert table.strip() in docs and (results / "per_corruption.md").read_text().strip() in docs


def test_docs_show_the_paper_regime_pilot_the_code_computes(pilot):
    """The paper-regime pilot (issue 23) in docs/advmix.md and the README is what the code computes
    from its committed per-run numbers, and its mixing-weight table is what its log says."""
    results = ROOT / "experiments" / "advmix_pilot_results_paper"
    report = json.loads((results / "report.json").read_text())
    assert report["settings"]["regime"] == "paper" and report["settings"]["arms"] == list(pilot.PAPER_ARMS)
    runs = pd.DataFrame(report["runs"])
    assert len(runs) == 1 + 3 * len(pilot.PAPER_ARMS) and runs.groupby("arm").size().drop("base").eq(3).all()
    summary = pilot.paired_summary(runs)
    table = (results / "table.md").read_text()
    assert table.endswith(pilot.markdown_table(summary, list(pilot.PAPER_ARMS)))
    docs = (ROOT / "docs" / "advmix.md").read_text()
    assert table.strip() in docs and (results / "per_corruption.md").read_text().strip() in docs
    assert (ROOT / "docs" / "figures" / "advmix_pilot_paper_mpc_vs_clean.png").stat().st_size > 10_000
    weights = pd.read_csv(results / "mix_weights.csv")
    weights["arm"] = weights["run"].str.rsplit("-s", n=1).str[0]
    mean = weights.groupby(["arm", "epoch"])[["w_clean", "w_gridmask", "clean_share", "erased_share"]].mean()
    for epoch in (0, 4, 16, 33, 43, 57, 66):
        label = {43: "43 (first drop)", 57: "57 (second drop)", 66: "66 (last)"}.get(epoch, str(epoch))
        a, o, e = mean.loc[("adv", epoch)], mean.loc[("adv-official", epoch)], mean.loc[("equal", epoch)]
        row = (f"| {label} | {a.w_clean:.3f} | {a.w_gridmask:.3f} | {a.clean_share:.3f} | {a.erased_share:.3f} | "
               f"{o.erased_share:.3f} | {e.erased_share:.3f} |")
        assert row in docs, row
    readme = (ROOT / "README.md").read_text()
    for arm in ("adv", "equal"):  # the README quotes both intervals
        r = summary[(summary["arm"] == arm) & (summary["metric"] == "mPC")].iloc[0]
        quoted = f"{r.diff_mean:+.1f} [{r.diff_lo:+.1f}, {r.diff_hi:+.1f}]".replace("-", "−")
        assert quoted in readme, quoted


def test_report_only_without_a_finished_pilot_is_one_line(pilot, tmp_path, capsys):
    assert pilot.main(["--out", str(tmp_path / "none"), "--report-only"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report.json not found" in err


def test_paper_schedule_is_the_official_one_scaled(pilot):
    """The official 140-epoch schedule drops at 90 and 120; a 51-epoch base gives drops at 33 and 44."""
    assert pilot.paper_schedule(140, pilot.PAPER_DROPS, strict=True) == [90, 120]
    assert pilot.paper_schedule(51, pilot.PAPER_DROPS, strict=True) == [33, 44]
    assert pilot.paper_schedule(3, pilot.PAPER_DROPS, strict=False) == [2, 2]      # tiny: clamped inside


@pytest.mark.parametrize("argv,message", [
    (["--finetune-epochs", "3", "--lr-drops", "0.5,0.9"], "must fall inside the run"),
    (["--finetune-epochs", "1"], "at least 2"),
    (["--lr-drops", "0.9,0.5"], "increasing fractions"),
    (["--lr-drops", "0.5,1.5"], "increasing fractions"),
    (["--lr-drops", "0.5"], "two fractions"),
    (["--alpha", "-0.1"], "--alpha must be in"),
])
def test_paper_regime_bad_values_are_one_line_before_anything_is_written(pilot, tmp_path, capsys, argv, message):
    out = tmp_path / "p"
    assert pilot.main(["--regime", "paper", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not out.exists()


def test_a_paper_regime_pilot_never_resumes_a_short_one(pilot, tmp_path, capsys):
    (tmp_path / "runs" / "adv-s0").mkdir(parents=True)           # an earlier (short) pilot's folder
    assert pilot.main(["--tiny", "--regime", "paper", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "short-regime" in capsys.readouterr().err


def test_tiny_paper_regime_pilot_reproduces(pilot, tmp_path):
    """--regime paper: every fine-tune as long as the base, both lr drops inside it, the adv-official arm
    with the official loop's three deviations, clean and erased shares per epoch; two runs from scratch
    give the same weights and numbers."""
    first, second = tmp_path / "a", tmp_path / "b"
    assert pilot.main(["--tiny", "--regime", "paper", "--out", str(first), "--jobs", "2", "--no-progress"]) == 0
    report = json.loads((first / "report.json").read_text())
    assert report["settings"]["regime"] == "paper" and report["settings"]["arms"] == list(pilot.PAPER_ARMS)
    base_epochs = json.loads((first / "base_curve.json").read_text())[-1]["epochs"]
    import yaml
    for arm in pilot.PAPER_ARMS:
        cfg = yaml.safe_load((first / "runs" / f"{arm}-s0" / "config.yaml").read_text())
        assert cfg["epochs"] == base_epochs and all(1 <= e < base_epochs for e in cfg["lr_steps"])
        official = {k: cfg[k] for k in pilot.OFFICIAL}
        assert official == (pilot.OFFICIAL if arm == "adv-official" else
                            {"loss": "mse", "generator_loss": "pose", "generator_bn": "frozen"})
    weights = pd.read_csv(first / "mix_weights.csv")
    assert set(weights["run"]) == {f"{a}-s{s}" for a in ("equal", "adv", "adv-official") for s in (0, 1)}
    assert weights["clean_share"].between(weights["w_clean"], 1).all()
    assert (weights["clean_share"] + weights["erased_share"] <= 1 + 1e-9).all()
    assert pilot.main(["--tiny", "--regime", "paper", "--out", str(second), "--jobs", "1", "--no-progress"]) == 0
    for name in ("summary.csv", "table.md", "base_curve.json", "mix_weights.csv", "per_corruption.md"):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    for ckpt in (first / "runs").glob("*/last.pth"):
        a = torch.load(ckpt, weights_only=True)["state_dict"]
        b = torch.load(second / "runs" / ckpt.parent.name / "last.pth", weights_only=True)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), ckpt.parent.name
