"""MPII-C for a COCO-keypoint model: the real MoveNet with its preset, partial PCKh from eval to the board."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from corruptions import BENCHMARK_CORRUPTIONS
from robustpose_bench.cli import main
from robustpose_bench.metrics.pckh import MPII_JOINTS, load_mpii_gt, pckh

LACKING = ("pelv", "thor", "neck", "head")  # the MPII joints COCO has no counterpart for
MARK = "partial PCKh: 12/16 joints"


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def mpii_run(shared_dir, tmp_path_factory):
    """MPII-C of the shared 5-person sample (clean + gaussian_noise/1) and MoveNet's eval on it."""
    tmp = tmp_path_factory.mktemp("mpii_partial")
    sample = shared_dir / "data" / "mpii_sample"
    root = tmp / "mpii"
    (root / "annot").mkdir(parents=True)
    (root / "images").symlink_to(sample)
    (root / "annot" / "valid.json").symlink_to(sample / "test_mpii.json")
    (root / "annot" / "gt_valid.mat").symlink_to(sample / "gt_valid_subset5.mat")
    rc, _, err = cli("build", "mpii-c", "--root", root, "--data", tmp / "out", "--corruptions", "gaussian_noise",
                     "--severities", "1", "--jobs", "1", "--no-progress")
    assert rc == 0, err
    model = shared_dir / "models" / "movenet_lightning_int8.onnx"
    # the preset maps MoveNet onto COCO only: its MPII joints come by name, with no spec written
    rc, out, err = cli("eval", model, "--spec", "movenet", "--dataset", "mpii-c", "--root", root, "--data", tmp / "out",
                     "--partial", "--no-progress", "-o", tmp / "run" / "results.json")
    assert rc == 0, err
    return {"tmp": tmp, "root": root, "model": model, "results": tmp / "run" / "results.json", "stdout": out,
            "gt": sample / "gt_valid_subset5.mat", "manifest": tmp / "out" / "mpii-c" / "manifest.json"}


def test_eval_gives_partial_pckh_rows(mpii_run):
    res = json.loads(mpii_run["results"].read_text())
    scored = [j for j in MPII_JOINTS if j not in LACKING]
    assert res["summary"]["joints"] == scored and res["metric"] == "PCKh"
    preds = json.loads((Path(res["provenance"]["predictions"]["dir"]) / "clean" / "results.json").read_text())
    assert len(preds) == 5
    for person in preds:  # written null where the model has no joint, numbers elsewhere
        assert [MPII_JOINTS[j] for j, xy in enumerate(person) if xy is None] == list(LACKING)
    clean = {r["metric"]: r["value"] for r in res["rows"] if r["corruption"] == "clean"}
    assert {m.split("/")[1] for m in clean if m.startswith("PCKh/")} == set(scored) | {
        "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"}  # no Head group, no head or neck row
    direct = pckh(load_mpii_gt(mpii_run["gt"]), preds).metrics()
    assert clean == direct
    assert 0.0 < clean["PCKh"] <= 100.0  # MoveNet finds the limbs of these five persons
    assert {r["corruption"] for r in res["rows"]} == {"clean", "gaussian_noise"}
    assert MARK in mpii_run["stdout"]  # eval's summary line says it too


def test_table_marks_partial_pckh_in_every_format(mpii_run):
    for fmt in ("md", "csv", "latex", "json"):
        rc, out, err = cli("table", mpii_run["results"], "--format", fmt)
        assert rc == 0, err
        text = json.loads(out)[0]["Model"] if fmt == "json" else out  # pandas writes "/" as "\\/"
        assert MARK in text, fmt


def test_score_submit_check_render(mpii_run):
    """A full grid from the run's own clean predictions (scored by `score`), submitted and checked."""
    tmp = mpii_run["tmp"]
    res = json.loads(mpii_run["results"].read_text())
    clean = Path(res["provenance"]["predictions"]["dir"]) / "clean" / "results.json"
    preds = tmp / "grid"
    for key in ["clean"] + [f"{c}/{s}" for c in BENCHMARK_CORRUPTIONS for s in range(1, 6)]:
        (preds / key).mkdir(parents=True)
        shutil.copyfile(clean, preds / key / "results.json")
    full = tmp / "full.json"
    rc, _, err = cli("score", "--dataset", "mpii-c", "--ann", mpii_run["gt"], "--predictions", preds,
                     "--boxes", "gt", "--method", "MoveNet", "-o", full)
    assert rc == 0, err
    scored = json.loads(full.read_text())
    assert scored["summary"]["joints"] == res["summary"]["joints"]
    assert scored["summary"]["clean"] == res["summary"]["clean"] == scored["summary"]["mPC"]
    board = tmp / "board"
    rc, _, err = cli("submit", full, "--name", "MoveNet on MPII", "--dir", board, "--model", mpii_run["model"],
                     "--manifest", mpii_run["manifest"], "--subset")
    assert rc == 0, err
    entry = json.loads((board / "mpii-c" / "MoveNet_on_MPII.json").read_text())
    assert entry["joints"] == res["summary"]["joints"]
    rc, out, err = cli("leaderboard", "check", "--dir", board)
    assert rc == 0, out + err
    rc, _, err = cli("leaderboard", "render", "--dir", board)
    assert rc == 0, err
    for name in ("LEADERBOARD.md", "leaderboard.tex", "index.html"):
        assert MARK in (board / name).read_text("utf-8"), name
    # check re-checks it: an entry that drops the mark no longer matches its results file
    entry.pop("joints")
    (board / "mpii-c" / "MoveNet_on_MPII.json").write_text(json.dumps(entry))
    rc, out, err = cli("leaderboard", "check", "--dir", board)
    assert rc != 0 and "joints" in out + err and "scores" in out + err
    # a results file whose summary no longer lists the joints is refused outright
    scored["summary"].pop("joints")
    (tmp / "edited.json").write_text(json.dumps(scored))
    rc, _, err = cli("table", tmp / "edited.json")
    assert rc == 2 and "summary.joints" in err and len(err.strip().splitlines()) == 1


def test_ranked_apart_from_full_pckh(tmp_path):
    """A full-split partial-PCKh entry is not ranked among 16-joint rows: it gets a table of its own."""
    from results_factory import write_fake_results
    from robustpose_bench.leaderboard.render import render
    from robustpose_bench.leaderboard.submit import submit
    from robustpose_bench.results import load_results, make_results, write_results

    board = tmp_path / "board"
    full = write_fake_results(tmp_path / "full.json", dataset="mpii-c", method="Full16", clean=70.0)
    submit(full, "Full16", board, method="standard")
    # a partial run with a higher mPC than the full one: ranked above it, it would look better
    base = load_results(write_fake_results(tmp_path / "p0.json", dataset="mpii-c", method="Coco12", clean=95.0))
    joints = [j for j in MPII_JOINTS if j not in LACKING]
    rows = base["rows"] + [dict(r, metric=f"PCKh/{j}") for r in base["rows"] if r["metric"] == "PCKh"
                           for j in joints]
    obj = make_results("mpii-c", rows, provenance={k: base["provenance"][k] for k in
                                                   ("model", "manifest_sha256", "boxes", "data", "device",
                                                    "execution_provider", "flip")},
                       config=base["config"])
    assert obj["summary"]["joints"] == joints
    write_results(tmp_path / "partial.json", obj)
    submit(tmp_path / "partial.json", "Coco12", board, method="standard")
    render(board)
    md = (board / "LEADERBOARD.md").read_text("utf-8")
    ranked, _, apart = md.partition("### MPII-C: partial PCKh")
    assert "Full16" in ranked.split("## MPII-C")[1] and "Coco12" not in ranked.split("## MPII-C")[1]
    assert f"Coco12 ({MARK})" in apart
    html = (board / "index.html").read_text("utf-8")
    assert 'class="sortable partial"' in html and "PCKh joints" in html
    csv = (board / "leaderboard.csv").read_text("utf-8")
    assert " ".join(joints) in csv
