"""The one-command demo, end to end at a tiny size: every stage runs, every documented output exists,
and nothing is written outside --out."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from robustpose_bench.leaderboard.check import check_dir
from robustpose_bench.results import load_results

REPO = Path(__file__).resolve().parents[1]


def _readme_outputs() -> set[str]:
    """The top-level folders of --out that the README's 'What the demo does and writes' table lists."""
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("### What the demo does and writes", 1)[1].split("\n## ", 1)[0]
    paths = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    return {p.split("/")[0] for p in paths}


def test_demo_runs_offline_and_writes_its_outputs(tmp_path, capsys, monkeypatch):
    import robustpose_bench.cli as cli

    cwd = tmp_path / "checkout"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    # the demo calls the library, not the command line
    monkeypatch.setattr(cli, "main", lambda *a, **k: pytest.fail("the demo must not go through cli.main"))
    out = cwd / "demo"
    code = cli.build_parser().parse_args(["demo", "--out", str(out), "--images", "3", "--train-images", "6",
                                          "--pretrain-iters", "3", "--finetune-iters", "2", "--jobs", "1",
                                          "--no-progress"])
    assert code.func(code) == 0
    captured = capsys.readouterr()

    # nothing outside --out, and every folder it holds is in the README's table
    assert sorted(p.name for p in cwd.iterdir()) == ["demo"]
    assert {p.name for p in out.iterdir()} == _readme_outputs()

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
        assert entry["subset"] is True and entry["origin"]["sample"]["images"] == 3  # 3 of synth's 300
    assert (out / "figures/standard_vs_advmix.png").stat().st_size > 10_000
    for name in ("LEADERBOARD.md", "index.html", "leaderboard.tex", "leaderboard.csv"):
        assert (out / "leaderboard" / name).stat().st_size > 0
    assert check_dir(out / "leaderboard").ok
    # the table on stdout has both models, named as everywhere else
    table = captured.out[captured.out.index("# synth-c robustness"):]
    assert "| SimpleBaseline |" in table and "| SimpleBaseline + AdvMix |" in table and "mPC" in table
    board = (out / "leaderboard/LEADERBOARD.md").read_text("utf-8")
    assert "| SimpleBaseline + AdvMix |" in board and "synth-C: subset runs" in board
    # one line under the table says what it shows and what it does not; training ran at fixed threads
    from robustpose_bench.demo import CAVEAT, TRAIN_THREADS
    assert CAVEAT in table and "not a finding" in CAVEAT
    assert json.loads((out / "runs/advmix/run.json").read_text())["torch_threads"] == TRAIN_THREADS
    # the README quotes no demo numbers that no test produces (issue 11)
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("### What the demo does and writes", 1)[1].split("\n## ", 1)[0]
    assert "| SimpleBaseline" not in section and "| standard |" not in section and "| advmix |" not in section
