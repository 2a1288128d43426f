"""The one-command demo, end to end at a tiny size: every stage runs and every documented output exists."""
from __future__ import annotations

import json

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
