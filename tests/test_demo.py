"""The one-command demo, end to end at a tiny size: every stage runs and every documented output exists."""
from __future__ import annotations

import json
from pathlib import Path

from robustpose_bench.cli import main
from robustpose_bench.results import load_results


def test_demo_runs_offline_and_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--images", "3", "--train-images", "6",
                 "--pretrain-iters", "3", "--finetune-iters", "2", "--jobs", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]

    # the built dataset: full 15 x 5 grid of the 3 evaluation images
    manifest = json.loads((out / "data/synth-c/manifest.json").read_text())
    assert len(manifest["items"]) == 3 * 15 * 5
    for method in ("standard", "advmix"):
        assert (out / "runs" / method / "last.pth").is_file()
        assert (out / "models" / f"{method}.onnx").is_file()
        res = load_results(out / "results" / f"{method}.json")  # validates schema and summary
        assert res["dataset"] == "synth-c" and not res["summary"]["partial"]
        assert len(res["summary"]["per_corruption"]) == 15
        assert (out / "predictions" / method / "clean" / "results.json").is_file()
        assert (out / "figures" / f"{method}.png").stat().st_size > 10_000
        entry = json.loads((out / "leaderboard/synth-c" / f"demo-{method}.json").read_text())
        assert entry["origin"]["kind"] == "measured" and entry["method"] == method
    assert (out / "figures/standard_vs_advmix.png").stat().st_size > 10_000
    for name in ("LEADERBOARD.md", "index.html", "leaderboard.tex", "leaderboard.csv"):
        assert (out / "leaderboard" / name).stat().st_size > 0
    # the table on stdout has both models
    table = captured.out[captured.out.index("# synth-c robustness"):]
    assert "| standard" in table and "| advmix" in table and "mPC" in table
    # one line under the table says what it shows and what it does not
    from robustpose_bench.demo import CAVEAT, TRAIN_THREADS
    assert CAVEAT in table and "not a finding" in CAVEAT
    assert json.loads((out / "runs/advmix/run.json").read_text())["torch_threads"] == TRAIN_THREADS
    # the README quotes no demo numbers that no test produces (issue 11)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### What the demo does and writes"):readme.index("## The real-data path")]
    assert "| standard |" not in section and "| advmix |" not in section
