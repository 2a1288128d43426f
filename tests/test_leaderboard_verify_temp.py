"""leaderboard verify leaves nothing behind: its temporary folder goes when the run ends, failed or not,
unless the user gave --out."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from results_factory import write_fake_results
from robustpose_bench.atomic import sha256_file
from robustpose_bench.cli import main
from robustpose_bench.errors import UserError


@pytest.fixture
def entry(tmp_path, capsys) -> tuple[Path, Path, Path]:
    """A measured entry whose model and build are the files made here; (entry, model, data folder)."""
    res = write_fake_results(tmp_path / "runs" / "results.json")
    board = tmp_path / "board"
    assert main(["submit", str(res), "--name", "Toy", "--method", "standard", "--backbone", "ResNet-18",
                 "--dir", str(board)]) == 0
    path = Path(capsys.readouterr().out.strip())
    model = tmp_path / "toy.onnx"
    model.write_bytes(b"not really a model")
    data = tmp_path / "data"
    (data / "coco-c").mkdir(parents=True)
    (data / "coco-c" / "manifest.json").write_bytes(b"{}")
    obj = json.loads(path.read_text())
    obj["origin"]["model_sha256"] = sha256_file(model)
    obj["origin"]["manifest_sha256"] = sha256_file(data / "coco-c" / "manifest.json")
    path.write_text(json.dumps(obj))
    return path, model, data


@pytest.fixture
def temp_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _fake_eval(tmp_path: Path, fail: bool = False):
    def run_eval(opts):
        opts.predictions_out.mkdir(parents=True)
        (opts.predictions_out / "clean.json").write_text("[]")
        write_fake_results(opts.output)
        if fail:
            raise UserError("the model could not be run")
        return json.loads(opts.output.read_text())
    return run_eval


@pytest.mark.parametrize("fail", [False, True])
def test_verify_removes_its_temporary_folder(entry, temp_root, tmp_path, monkeypatch, fail):
    import robustpose_bench.evaluation as evaluate
    from robustpose_bench.leaderboard.verify import verify_entry

    monkeypatch.setattr(evaluate, "run_eval", _fake_eval(tmp_path, fail))
    path, model, data = entry
    if fail:
        with pytest.raises(UserError):
            verify_entry(path, model, data, subset="quick", progress=False)
    else:
        report = verify_entry(path, model, data, subset="quick", progress=False)
        assert report.ok and report.results_path is None
        assert "written to" not in report.lines()[-1]
    assert list(temp_root.iterdir()) == []


def test_verify_keeps_the_folder_the_user_asked_for(entry, temp_root, tmp_path, monkeypatch):
    import robustpose_bench.evaluation as evaluate
    from robustpose_bench.leaderboard.verify import verify_entry

    monkeypatch.setattr(evaluate, "run_eval", _fake_eval(tmp_path))
    path, model, data = entry
    report = verify_entry(path, model, data, subset="quick", out_dir=tmp_path / "mine", progress=False)
    assert report.results_path == tmp_path / "mine" / "results.json" and report.results_path.is_file()
    assert list(temp_root.iterdir()) == []
