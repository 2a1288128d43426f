"""The leaderboard: paper import, check, submit, render and verify (real evaluator on real samples)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from corruptions import BENCHMARK_CORRUPTIONS
from results_factory import write_fake_results
from robustpose_bench.atomic import sha256_file
from robustpose_bench.cli import main
from robustpose_bench.errors import UserError
from robustpose_bench.leaderboard.check import check_dir
from robustpose_bench.leaderboard.entries import (
    BENCHMARK_ORDER,
    default_leaderboard_dir,
    entry_files,
    load_entry,
    safe_filename,
)
from robustpose_bench.leaderboard.importer import import_paper, paper_entries
from robustpose_bench.leaderboard.render import GENERATED, OUTPUTS, render
from robustpose_bench.leaderboard.submit import submit

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def paper_csv(shared_dir) -> Path:
    return shared_dir / "reference" / "paper_results.csv"


@pytest.fixture
def board(tmp_path, paper_csv) -> Path:
    d = tmp_path / "leaderboard"
    import_paper(paper_csv, d)
    return d


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_benchmark_order_is_the_registry_order():
    assert BENCHMARK_ORDER == tuple(BENCHMARK_CORRUPTIONS)


# ------------------------------------------------------------------------------------------------
# the paper's rows


def test_import_keeps_every_paper_number(board, paper_csv):
    rows = _csv_rows(paper_csv)
    entries = [load_entry(p).data for p in entry_files(board)]
    assert len(entries) == len(rows) == 48
    by_key = {(e["dataset"], e["origin"]["source"], e["method"], e["architecture"], e["backbone"],
               e["input_size"]): e for e in entries}
    assert len(by_key) == 48
    for r in rows:
        arch = r["method"].replace("(bottom-up)", "").strip()
        e = by_key[(r["dataset"], f"Table {r['table']}", r["training"], arch, r["backbone"], r["input_size"] or None)]
        for col in ("clean", "mPC", "rPC"):
            assert e["scores"][col] == float(r[col]) and isinstance(e["scores"][col], float)
        if r["table"] == "1":
            assert e["scores"]["per_corruption"] == {c: float(r[c]) for c in BENCHMARK_ORDER}
        else:  # Tables 2-3: clean / mPC / rPC only
            assert "per_corruption" not in e["scores"]
        assert e["metric"] == ("PCKh" if r["dataset"] == "mpii-c" else "AP")
        assert e["origin"]["kind"] == "reported" and "2105.06152" in e["origin"]["citation"]
        assert e["paradigm"] == ("bottom-up" if "bottom-up" in r["method"] else "top-down")
    # names unique per dataset, and the file name is derived from the name
    for e, p in zip(entries, entry_files(board)):
        assert p.name == safe_filename(e["name"]) + ".json" and p.parent.name == e["dataset"]
    names = [(e["dataset"], e["name"]) for e in entries]
    assert len(set(names)) == len(names)
    assert ("coco-c", "SimpleBaseline-ResNet-50-256x192 (paper, Table 1)") in names
    assert ("coco-c", "HRNet-W48-256x192+AdvMix (paper, Table 2)") in names


def test_check_passes_on_the_paper_rows_and_strict_mode_flags_rounding(board, paper_csv):
    report = check_dir(board)
    assert report.ok, [str(p) for p in report.problems]
    assert report.entries == 48

    # Without the rounding allowance, exactly the rows whose one-decimal numbers disagree by more than
    # 0.05 when recomputed naively are reported (computed independently here from the CSV).
    naive = 0
    for r in _csv_rows(paper_csv):
        clean, mpc, rpc = float(r["clean"]), float(r["mPC"]), float(r["rPC"])
        if r["table"] == "1" and abs(sum(float(r[c]) for c in BENCHMARK_ORDER) / 15 - mpc) > 0.05:
            naive += 1
        if abs(100 * mpc / clean - rpc) > 0.05:
            naive += 1
    strict = check_dir(board, strict=True)
    assert len(strict.problems) == naive == 22
    assert {p.field for p in strict.problems} == {"scores.mPC", "scores.rPC"}


def test_committed_leaderboard_matches_the_paper_and_passes_check(paper_csv, tmp_path):
    repo_board = default_leaderboard_dir()
    assert repo_board == REPO / "leaderboard"
    report = check_dir(repo_board)
    assert report.ok, [str(p) for p in report.problems]
    committed = {p.relative_to(repo_board): json.loads(p.read_text()) for p in entry_files(repo_board)}
    for e in paper_entries(paper_csv):
        key = Path(e["dataset"]) / (safe_filename(e["name"]) + ".json")
        assert committed.get(key) == e, f"leaderboard/{key} differs from a fresh import of the paper CSV"


def test_committed_renders_are_generated_not_hand_edited(tmp_path):
    repo_board = default_leaderboard_dir()
    copy = tmp_path / "leaderboard"
    shutil.copytree(repo_board, copy, ignore=shutil.ignore_patterns(*OUTPUTS))
    render(copy)
    for name in OUTPUTS:
        committed = repo_board / name
        assert committed.is_file(), f"leaderboard/{name} missing: run `robustpose-bench leaderboard render`"
        assert committed.read_text("utf-8") == (copy / name).read_text("utf-8"), (
            f"leaderboard/{name} is not what `robustpose-bench leaderboard render` writes (hand-edited or stale)")


def test_cli_check_default_dir(capsys):
    assert main(["leaderboard", "check"]) == 0
    assert "OK" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# tampering is caught, naming the file and the field


def _edit(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=2))


def test_check_names_file_and_field_of_each_tampered_entry(board, capsys):
    a = board / "coco-c" / "HRNet-W32-256x192_paper_Table_1.json"
    b = board / "mpii-c" / "HRNet-W32-256x256_paper_Table_3.json"
    c = board / "ochuman-c" / "PifPaf-ResNet-50_paper_Table_1.json"
    d = board / "coco-c" / "SimpleBaseline-ResNet-50-128x96_paper_Table_1.json"
    _edit(a, lambda e: e["scores"].__setitem__("mPC", 53.3))                 # wrong mPC
    _edit(b, lambda e: e["scores"].__setitem__("clean", "90.3"))             # a string number
    _edit(c, lambda e: e.pop("box_source"))                                  # missing field
    _edit(d, lambda e: e["scores"]["per_corruption"].__setitem__("fog", 40.0))  # per-corruption vs mPC
    report = check_dir(board)
    got = {(p.path, p.field) for p in report.problems}
    assert (a, "scores.mPC") in got and (a, "scores.rPC") in got  # 53.3 also breaks rPC 71.3
    assert (b, "scores.clean") in got
    assert (c, "box_source") in got
    assert (d, "scores.mPC") in got
    assert {p.path for p in report.problems} == {a, b, c, d}

    assert main(["leaderboard", "check", "--dir", str(board)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(report.problems)
    assert any(str(b) in line and "scores.clean" in line and "'90.3' is not of type 'number'" in line for line in err)


def test_check_catches_duplicate_names_and_misplaced_files(board):
    src = board / "coco-c" / "HRNet-W32-256x192_paper_Table_1.json"
    (board / "mpii-c" / src.name).write_text(src.read_text())               # wrong dataset folder
    shutil.copy(src, board / "coco-c" / "copy.json")                         # same name twice
    report = check_dir(board)
    fields = sorted((p.path.name, p.field) for p in report.problems)
    assert ("copy.json", "name") in fields
    assert (src.name, "dataset") in fields
    assert not report.ok


# ------------------------------------------------------------------------------------------------
# submit


def test_submit_writes_a_valid_measured_entry_equal_to_its_results(board, tmp_path, capsys):
    res = write_fake_results(tmp_path / "runs" / "toy" / "results.json", method="ToyNet", robustness=0.7)
    assert main(["submit", str(res), "--name", "ToyNet R18 (ours)", "--method", "advmix",
                 "--backbone", "ResNet-18", "--dir", str(board), "--copy-results"]) == 0
    path = Path(capsys.readouterr().out.strip())
    entry = load_entry(path).data
    raw = json.loads(res.read_text())
    s = raw["summary"]
    assert entry["origin"]["kind"] == "measured" and entry["method"] == "advmix"
    assert entry["origin"]["results_sha256"] == sha256_file(res)
    assert entry["origin"]["model_sha256"] == "a" * 64 and entry["origin"]["manifest_sha256"] == "b" * 64
    assert entry["scores"]["clean"] == s["clean"] * 100 and entry["scores"]["mPC"] == s["mPC"] * 100
    assert entry["scores"]["rPC"] == s["rPC"]
    assert entry["scores"]["per_corruption"] == {c: v * 100 for c, v in s["per_corruption"].items()}
    rows = {(r["corruption"], r["severity"]): r["value"] for r in raw["rows"] if r["metric"] == "AP"}
    assert entry["scores"]["per_severity"]["fog"]["4"] == rows[("fog", 4)] * 100
    assert entry["input_size"] == "256x192" and entry["box_source"] == "gt"
    copy = path.parent / entry["origin"]["results_path"]
    assert copy.read_bytes() == res.read_bytes()

    report = check_dir(board)
    assert report.ok and report.results_compared == 1

    # the results file at hand now says something else: check names the differing fields
    other = write_fake_results(tmp_path / "other.json", robustness=0.5, seed=3)
    shutil.copy(other, copy)
    fields = {p.field for p in check_dir(board).problems}
    assert {"origin.results_sha256", "scores.mPC", "scores.per_corruption.fog"} <= fields


def test_submit_refuses_duplicates_and_partial_results(board, tmp_path, capsys):
    res = write_fake_results(tmp_path / "results.json")
    submit(res, "Toy", board, method="standard")
    before = sorted(entry_files(board))
    with pytest.raises(UserError, match="already exists"):
        submit(res, "Toy", board)
    with pytest.raises(UserError, match="already exists"):
        submit(res, "toy", board)  # same file name on a case-insensitive file system
    # a paper entry's name is taken too
    assert main(["submit", str(res), "--name", "HRNet-W32-256x192 (paper, Table 1)", "--dir", str(board)]) == 2
    assert "already exists" in capsys.readouterr().err

    partial = write_fake_results(tmp_path / "partial.json", drop=(("snow", 5), ("fog", 1)))
    assert main(["submit", str(partial), "--name", "Partial", "--dir", str(board)]) == 2
    err = capsys.readouterr().err
    assert "partial results cannot be submitted" in err and "snow" in err and "fog" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert sorted(entry_files(board)) == before

    # results without a model (e.g. from `score`) cannot be cited by a measured entry
    from robustpose_bench.results import make_results, write_results
    from results_factory import make_rows

    nomodel = tmp_path / "nomodel.json"
    write_results(nomodel, make_results("coco-c", make_rows("coco-c", 0.7, 0.7, 0),
                                        provenance={"manifest_sha256": "b" * 64}))
    with pytest.raises(UserError, match="no model sha256"):
        submit(nomodel, "No model", board)
    with pytest.raises(UserError, match="contradicts"):
        submit(res, "Other boxes", board, box_source="detections.json")
    assert sorted(entry_files(board)) == before


def test_submit_score_results_with_model_and_manifest_files(tmp_path, capsys):
    # `score` results (bottom-up models) record no model or build: --model / --manifest cite them.
    from robustpose_bench.atomic import sha256_file
    from robustpose_bench.results import make_results, write_results
    from results_factory import make_rows

    board = tmp_path / "board"
    board.mkdir()
    res = tmp_path / "scored.json"
    write_results(res, make_results("coco-c", make_rows("coco-c", 0.7, 0.7, 0), provenance={}))
    model, manifest = tmp_path / "model.bin", tmp_path / "manifest.json"
    model.write_bytes(b"weights of a bottom-up model")
    manifest.write_text("{}")
    args = ["submit", str(res), "--name", "BottomUp", "--dir", str(board), "--box-source", "none (bottom-up)"]
    assert main(args) == 2
    assert "pass --model FILE" in capsys.readouterr().err
    assert main(args + ["--model", str(model), "--manifest", str(manifest)]) == 0
    entry = json.loads(Path(capsys.readouterr().out.strip()).read_text())
    assert entry["origin"]["model_sha256"] == sha256_file(model)
    assert entry["origin"]["manifest_sha256"] == sha256_file(manifest)

    # a file that is not the one the results were made with is refused
    recorded = tmp_path / "recorded.json"
    write_results(recorded, make_results("coco-c", make_rows("coco-c", 0.7, 0.7, 0),
                                          provenance={"model": {"sha256": "a" * 64}, "manifest_sha256": "b" * 64}))
    assert main(["submit", str(recorded), "--name", "Other", "--dir", str(board), "--box-source", "gt",
                 "--model", str(model)]) == 2
    assert "but the results were made with model sha256" in capsys.readouterr().err


def test_clean_zero_has_undefined_rpc(tmp_path):
    # A model scoring 0 on clean images has no rPC (100*mPC/0): the entry says null, and check agrees.
    board = tmp_path / "board"
    board.mkdir()
    res = write_fake_results(tmp_path / "zero.json", clean=0.0, robustness=0.0)
    path = submit(res, "Untrained", board, box_source="gt", copy_results=True)
    entry = json.loads(path.read_text())
    assert entry["scores"]["clean"] == 0 and entry["scores"]["rPC"] is None
    assert main(["leaderboard", "check", "--dir", str(board)]) == 0
    entry["scores"]["rPC"] = 0.0
    path.write_text(json.dumps(entry))
    assert main(["leaderboard", "check", "--dir", str(board)]) == 1


# ------------------------------------------------------------------------------------------------
# render


def test_render_writes_all_four_outputs(board, tmp_path):
    import pandas as pd

    res = write_fake_results(tmp_path / "runs" / "results.json", robustness=0.95)  # best mPC of COCO-C
    submit(res, "Robust|Toy & 100% [x]", board, method="advmix", backbone="R#18")
    out = tmp_path / "site"
    paths = render(board, out)
    assert [p.name for p in paths] == list(OUTPUTS)
    for p in paths:
        assert p.stat().st_size > 1000 and GENERATED in "".join(p.read_text("utf-8").splitlines()[:2])

    md = (out / "LEADERBOARD.md").read_text("utf-8")
    assert md.count("\n## ") == 3 and "## COCO-C" in md and "## MPII-C" in md and "## OCHuman-C" in md
    coco = md.split("## COCO-C")[1].split("## ")[0]
    table_rows = [line for line in coco.splitlines() if line.startswith("| ") and "---" not in line][1:]
    mpcs = [float(line.split(" | ")[4]) for line in table_rows]
    assert mpcs == sorted(mpcs, reverse=True) and len(table_rows) == 32
    assert "Robust\\|Toy & 100% [x]" in table_rows[0]  # a '|' in a name is escaped, the row stays intact
    assert all(len(r.replace("\\|", "").split(" | ")) == 23 for r in table_rows)
    assert "| PCKh (clean) |" in md.split("## MPII-C")[1]

    df = pd.read_csv(out / "leaderboard.csv", skiprows=1)
    assert len(df) == 49 and list(df.columns[:3]) == ["dataset", "name", "method"]
    row = df[df["name"] == "SimpleBaseline-ResNet-50-256x192 (paper, Table 1)"].iloc[0]
    assert (row["clean"], row["mPC"], row["rPC"], row["zoom_blur"]) == (70.4, 47.8, 67.9, 16.3)
    mine = df[df["origin"] == "measured"].iloc[0]
    assert mine["mPC"] == load_entry(entry_files(board)[[p.stem for p in entry_files(board)].index(
        safe_filename("Robust|Toy & 100% [x]"))]).data["scores"]["mPC"]

    tex = (out / "leaderboard.tex").read_text("utf-8")
    assert tex.count("\\begin{table*}") == tex.count("\\end{table*}") == 3
    assert "R\\#18" in tex and "\\toprule" in tex
    # every table row has the header's number of cells
    for block in tex.split("\\midrule")[1:]:
        for line in block.split("\\bottomrule")[0].strip().splitlines():
            assert line.count(" & ") == 20, line

    html = (out / "index.html").read_text("utf-8")
    # no network assets (links to the paper are links, not assets)
    assert "<script src" not in html and "<link " not in html and "@import" not in html

    # deterministic: rendering again gives the same bytes
    again = tmp_path / "again"
    render(board, again)
    for name in OUTPUTS:
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_render_refuses_an_empty_or_missing_leaderboard(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", "render", "--dir", str(tmp_path / "empty")]) == 2
    assert "no leaderboard entries" in capsys.readouterr().err
    assert main(["leaderboard", "check", "--dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# verify: the real evaluator, on a real model and real images


MOVENET_SPEC = {
    "format": "robustpose-model-spec/1", "name": "MoveNet-Lightning-int8",
    "input": {"name": "serving_default_input:0", "height": 192, "width": 192, "layout": "NHWC",
              "dtype": "uint8", "channel_order": "RGB"},
    "output": {"name": "StatefulPartitionedCall:0", "kind": "keypoints", "coords": "normalized", "order": "yx",
               "values_per_keypoint": 3, "score_index": 2},
    "keypoints": {"num": 17, "dataset_map": {"coco": list(range(17))}},
    "flip_pairs": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]],
}


@pytest.mark.slow
def test_verify_reevaluates_a_measured_entry(shared_dir, tmp_path):
    """Build COCO-C severity 3 of the real COCO samples, evaluate MoveNet, then verify an entry.

    A full 15 x 5 build is too slow for the test suite, so the entry is measured on the 'quick' subset
    (clean + severity 3); its other severities repeat severity 3 so that the entry is complete and
    passes check. verify's quick subset compares exactly the measured numbers.
    """
    from robustpose_bench.evaluation import EvalOptions, run_eval
    from robustpose_bench.leaderboard.verify import compare, verify_entry
    from robustpose_bench.leaderboard.results_view import read_results
    from robustpose_bench.leaderboard.entries import write_entry

    sample = shared_dir / "data" / "coco_sample"
    model = shared_dir / "models" / "movenet_lightning_int8.onnx"
    out = tmp_path / "build"
    assert main(["build", "coco-c", "--images", str(sample), "--ann", str(sample / "test_coco.json"),
                 "--out", str(out), "--severities", "3", "--jobs", "1", "--no-progress"]) == 0
    spec = tmp_path / "movenet.spec.json"
    spec.write_text(json.dumps(MOVENET_SPEC))
    first = tmp_path / "first" / "results.json"
    run_eval(EvalOptions(model=model, dataset="coco-c", data=out, images=sample, ann=sample / "test_coco.json",
                         spec=spec, severities=[3], partial=True, flip=False, output=first, progress=False))
    view = read_results(first)
    assert 30 < view.clean < 100  # MoveNet on ground-truth boxes of real COCO people

    sev = {c: {s: view.by_severity[c][3] for s in ("1", "2", "3", "4", "5")} for c in BENCHMARK_ORDER}
    per = {c: view.by_severity[c][3] for c in BENCHMARK_ORDER}
    mpc = sum(per.values()) / 15
    entry = {
        "schema_version": 1, "name": "MoveNet Lightning (quick)", "dataset": "coco-c", "metric": "AP",
        "method": "other", "architecture": "MoveNet", "backbone": "MobileNetV2", "input_size": "192x192",
        "box_source": "gt",
        "scores": {"clean": view.clean, "mPC": mpc, "rPC": 100 * mpc / view.clean, "per_corruption": per,
                   "per_severity": sev},
        "origin": {"kind": "measured", "results_sha256": view.sha256, "results_path": "../../first/results.json",
                   "model_sha256": sha256_file(model), "manifest_sha256": sha256_file(out / "coco-c" / "manifest.json"),
                   "package_version": "0.1.0", "date": "2026-01-01"},
    }
    board = tmp_path / "board"
    path = write_entry(board, entry)
    # verify reads the recorded settings (flip off, the sample images, the model spec) from the
    # results file at hand: the sidecar spec file is gone by now.
    spec.unlink()
    report = verify_entry(path, model, out, subset="quick", out_dir=tmp_path / "verify", progress=False)
    assert report.ok, report.lines()
    assert len(report.comparisons) == 16
    assert all(c.measured == c.entry for c in report.comparisons)  # same model, build, device: identical
    assert report.lines()[-1].startswith("VERIFIED")

    # a number off by more than the tolerance is reported, naming the field
    entry["scores"]["per_severity"]["fog"]["3"] += 0.5
    again = read_results(tmp_path / "verify" / "results.json")
    bad = [c for c in compare(entry, again, "quick", 0.1) if not c.ok]
    assert [c.field for c in bad] == ["scores.per_severity.fog.3"]

    # the wrong model or the wrong build is refused before any evaluation
    with pytest.raises(UserError, match="sha256"):
        verify_entry(path, shared_dir / "models" / "blazepose_landmark_lite.onnx", out, subset="quick")
    with pytest.raises(UserError, match="manifest.json"):
        verify_entry(path, model, tmp_path / "nowhere", subset="quick")
