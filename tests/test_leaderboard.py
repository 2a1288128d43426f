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
    entry_files,
    load_entry,
    paper_entries_dir,
    safe_filename,
)
from robustpose_bench.leaderboard.importer import import_paper, paper_entries, split_input_size
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
               e["input_size"], e.get("notes")): e for e in entries}
    assert len(by_key) == 48
    for r in rows:
        arch = r["method"].replace("(bottom-up)", "").strip()
        size, note = split_input_size(r["input_size"] or None, arch, r["backbone"], int(r["table"]))
        e = by_key[(r["dataset"], f"Table {r['table']}", r["training"], arch, r["backbone"], size, note)]
        for col in ("clean", "mPC", "rPC"):
            assert e["scores"][col] == float(r[col]) and isinstance(e["scores"][col], float)
        if r["table"] == "1":
            assert e["scores"]["per_corruption"] == {c: float(r[c]) for c in BENCHMARK_ORDER}
        else:  # Tables 2-3: clean / mPC / rPC only
            assert "per_corruption" not in e["scores"]
        assert e["metric"] == ("PCKh" if r["dataset"] == "mpii-c" else "AP")
        assert e["origin"]["kind"] == "reported" and "2105.06152" in e["origin"]["citation"]
        # the paper's "(bottom-up)" rows are one-stage: the one word for a model that finds the persons itself
        assert e["paradigm"] == ("one-stage" if "(bottom-up)" in r["method"] else "top-down")
        assert (e["paradigm"] == "one-stage") == (e["box_source"] == "none (one-stage)")
    # names unique per dataset, and the file name is derived from the name
    for e, p in zip(entries, entry_files(board)):
        assert p.name == safe_filename(e["name"]) + ".json" and p.parent.name == e["dataset"]
    names = [(e["dataset"], e["name"]) for e in entries]
    assert len(set(names)) == len(names)
    assert ("coco-c", "SimpleBaseline-ResNet-50-256x192 (paper, Table 1)") in names
    assert ("coco-c", "HRNet-W48-256x192+AdvMix (paper, Table 2)") in names


def test_lost_input_sizes_become_sizes_and_footnotes(board):
    """'first row' / 'second row' never shows up as an input size: the surviving size, or a footnote."""
    entries = {e["name"]: e for e in (load_entry(p).data for p in entry_files(board)) if e["dataset"] == "coco-c"}
    w32 = entries["HigherHRNet-HRNet-W32 [512 (first row)] (paper, Table 1)"]
    assert w32["input_size"] == "512" and "first" in w32["notes"]
    w48 = entries["HigherHRNet-HRNet-W48 [second row] (paper, Table 1)"]
    assert w48["input_size"] is None and "second" in w48["notes"] and "lost its input size" in w48["notes"]
    assert not [e for e in entries.values() if "row" in str(e["input_size"])]
    out = render(board, board.parent / "site")
    md = out[0].read_text("utf-8")
    row = next(line for line in md.splitlines() if "W48 \\[second row\\]" in line)
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    assert cells[1:3] == ["HRNet-W48", "–"] and cells[0].startswith("HigherHRNet [")
    mark = cells[0].rsplit("[", 1)[1].rstrip("]")
    note = md.split("## MPII-C")[0]
    assert f"[{mark}] Table 1 lists two HigherHRNet HRNet-W48 rows; this is the second one." in note
    assert "first row" not in "".join(line.split(" | ")[2] for line in md.splitlines() if line.startswith("| "))


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


def test_shipped_paper_entries_match_the_paper_and_pass_check(paper_csv, tmp_path):
    """The package's 48 paper entries (what a pip user ranks beside) are a fresh import of the paper CSV."""
    shipped = paper_entries_dir()
    assert shipped.is_relative_to(REPO / "robustpose_bench")
    report = check_dir(shipped)
    assert report.ok, [str(p) for p in report.problems]
    committed = {p.relative_to(shipped): json.loads(p.read_text()) for p in entry_files(shipped)}
    fresh = paper_entries(paper_csv)
    assert len(committed) == len(fresh) == 48
    for e in fresh:
        key = Path(e["dataset"]) / (safe_filename(e["name"]) + ".json")
        assert committed.get(key) == e, f"{shipped / key} differs from a fresh import of the paper CSV"


def test_committed_renders_are_generated_not_hand_edited(tmp_path):
    """docs/leaderboard/ is the paper's board as `leaderboard render` writes it (hand-edits fail)."""
    copy = tmp_path / "leaderboard"
    shutil.copytree(paper_entries_dir(), copy)
    render(copy)
    published = REPO / "docs" / "leaderboard"
    for name in OUTPUTS:
        committed = published / name
        assert committed.is_file(), f"docs/leaderboard/{name} missing: render the shipped paper entries there"
        assert committed.read_text("utf-8") == (copy / name).read_text("utf-8"), (
            f"docs/leaderboard/{name} is not what `robustpose-bench leaderboard render` writes (hand-edited or stale)")


def test_the_default_board_is_made_in_the_working_folder_with_the_paper_entries(tmp_path, monkeypatch, capsys):
    """Issue 24: from a wheel there is no repository: the default board is ./leaderboard, made with the
    shipped paper entries when absent, and a checkout's tracked files are never the default target."""
    monkeypatch.chdir(tmp_path)
    assert main(["leaderboard", "check"]) == 0
    out, err = capsys.readouterr()
    assert err == f"created {tmp_path / 'leaderboard'} with the AdvMix paper's 48 entries\n"
    assert "checked 48 entries" in out and "OK" in out
    assert main(["leaderboard", "check"]) == 0
    assert capsys.readouterr().err == ""  # made once
    assert main(["leaderboard", "import-paper"]) == 2  # the entries are there: --overwrite to replace them
    assert "already exists: pass --overwrite" in capsys.readouterr().err
    assert main(["leaderboard", "import-paper", "--overwrite"]) == 0
    assert "wrote 48 reported entries" in capsys.readouterr().out


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
                 "--backbone", "ResNet-18", "--dir", str(board)]) == 0
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
    assert entry["input_size"] == "256x192" and entry["box_source"] == "GT boxes"
    assert entry["subset"] is False and entry["origin"]["sample"] == {"images": 5000, "persons": 6352}
    copy = path.parent / entry["origin"]["results_path"]  # always kept inside the leaderboard folder
    assert copy.read_bytes() == res.read_bytes() and copy.resolve().is_relative_to(board.resolve())

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
    dets = tmp_path / "detections.json"
    dets.write_text("[]")
    with pytest.raises(UserError, match="contradicts"):
        submit(res, "Other boxes", board, box_source=str(dets))
    with pytest.raises(UserError, match="no such detection file"):
        submit(res, "Other boxes", board, box_source=str(tmp_path / "missing.json"))
    assert sorted(entry_files(board)) == before


def test_submit_score_results_with_model_and_manifest_files(tmp_path, capsys):
    # `score` results (one-stage models) record no model or build: --model / --manifest cite them.
    from robustpose_bench.atomic import sha256_file
    from robustpose_bench.results import make_results, write_results
    from results_factory import make_rows

    board = tmp_path / "board"
    board.mkdir()
    res = tmp_path / "scored.json"
    write_results(res, make_results("coco-c", make_rows("coco-c", 0.7, 0.7, 0),
                                    provenance={"data": {"num_images": 5000, "num_persons": 6352}}))
    model, manifest = tmp_path / "model.bin", tmp_path / "manifest.json"
    model.write_bytes(b"weights of a one-stage model")
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
    path = submit(res, "Untrained", board, box_source="gt")
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
    mpcs = [float(line.split(" | ")[6]) for line in table_rows]
    assert mpcs == sorted(mpcs, reverse=True) and len(table_rows) == 32
    assert "Robust\\|Toy &amp; 100% \\[x\\]" in table_rows[0]  # a '|' in a name is escaped, the row stays intact
    assert all(len(r.replace("\\|", "").split(" | ")) == 24 for r in table_rows)
    assert "| PCKh (clean) |" in md.split("## MPII-C")[1]

    df = pd.read_csv(out / "leaderboard.csv", skiprows=1)
    assert len(df) == 49 and list(df.columns[:4]) == ["dataset", "name", "model", "method"]
    assert "origin" not in df.columns and "training" not in df.columns  # one column per fact
    row = df[df["name"] == "SimpleBaseline-ResNet-50-256x192 (paper, Table 1)"].iloc[0]
    assert (row["clean"], row["mPC"], row["rPC"], row["zoom_blur"]) == (70.4, 47.8, 67.9, 16.3)
    mine = df[df["source"] == "measured"].iloc[0]
    assert mine["mPC"] == load_entry(entry_files(board)[[p.stem for p in entry_files(board)].index(
        safe_filename("Robust|Toy & 100% [x]"))]).data["scores"]["mPC"]

    tex = (out / "leaderboard.tex").read_text("utf-8")
    assert tex.count("\\begin{table*}") == tex.count("\\end{table*}") == 3
    assert "R\\#18" in tex and "\\toprule" in tex
    # every table row has the header's number of cells
    for block in tex.split("\\midrule")[1:]:
        for line in block.split("\\bottomrule")[0].strip().splitlines():
            assert line.count(" & ") == 22, line

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
                 "--data", str(out), "--severities", "3", "--jobs", "1", "--no-progress"]) == 0
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
        "box_source": "GT boxes", "subset": True,
        "scores": {"clean": view.clean, "mPC": mpc, "rPC": 100 * mpc / view.clean, "per_corruption": per,
                   "per_severity": sev},
        "origin": {"kind": "measured", "results_sha256": view.sha256, "results_path": "../../first/results.json",
                   "model_sha256": sha256_file(model), "manifest_sha256": sha256_file(out / "coco-c" / "manifest.json"),
                   "sample": {"images": 4, "persons": 12},
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


# ------------------------------------------------------------------------------------------------
# issue 10, item 10: a forged measured entry cannot pass check


def _raise_scores(entry: dict, by: float) -> None:
    """Raise every number consistently, recomputing mPC and rPC, as a forger would."""
    s = entry["scores"]
    s["clean"] += by
    for c in s["per_severity"]:
        for k in s["per_severity"][c]:
            s["per_severity"][c][k] += by
        s["per_corruption"][c] = sum(s["per_severity"][c].values()) / 5
    s["mPC"] = sum(s["per_corruption"].values()) / 15
    s["rPC"] = 100 * s["mPC"] / s["clean"]


@pytest.fixture
def measured(tmp_path):
    board = tmp_path / "board"
    res = write_fake_results(tmp_path / "runs" / "results.json", robustness=0.7)
    path = submit(res, "Honest", board, method="standard")
    assert check_dir(board).ok
    return board, path


def test_forged_entry_without_its_results_file_fails_check(measured):
    board, path = measured
    _edit(path, lambda e: (_raise_scores(e, 5.0), e["origin"].pop("results_path")))
    report = check_dir(board)
    assert ("origin.results_path", "missing required field") in {(p.field, p.message) for p in report.problems}


def test_forged_entry_whose_results_file_is_gone_or_differs_fails_check(measured, tmp_path):
    board, path = measured
    results = path.parent / load_entry(path).data["origin"]["results_path"]
    _edit(path, lambda e: _raise_scores(e, 5.0))
    fields = {p.field for p in check_dir(board).problems}
    assert {"scores.clean", "scores.mPC"} <= fields  # the numbers no longer equal the file's

    # the forger edits the results file too (summary recomputed): its sha256 is no longer the cited one
    other = write_fake_results(tmp_path / "forged.json", clean=0.75, robustness=0.7)
    shutil.copy(other, results)
    assert "origin.results_sha256" in {p.field for p in check_dir(board).problems}

    results.unlink()
    problems = check_dir(board).problems
    assert any(p.field == "origin.results_path" and "missing" in p.message for p in problems)


def test_results_file_outside_the_leaderboard_folder_fails_check(measured, tmp_path):
    board, path = measured
    entry = load_entry(path).data
    outside = tmp_path / "elsewhere.json"
    shutil.copy(path.parent / entry["origin"]["results_path"], outside)
    _edit(path, lambda e: e["origin"].__setitem__("results_path", "../../elsewhere.json"))
    problems = check_dir(board).problems
    assert any(p.field == "origin.results_path" and "outside the leaderboard folder" in p.message for p in problems)

    # a symbolic link inside the folder that points outside is outside too
    link = path.parent / "results" / "link.json"
    link.symlink_to(outside)
    _edit(path, lambda e: e["origin"].__setitem__("results_path", "results/link.json"))
    assert any("outside the leaderboard folder" in p.message for p in check_dir(board).problems)


# ------------------------------------------------------------------------------------------------
# issue 10, item 11: sample-sized runs are marked and kept apart; boxes by name


def test_sample_sized_run_is_refused_unless_submitted_as_a_subset(board, tmp_path, capsys):
    tiny = write_fake_results(tmp_path / "tiny.json", sample=(4, 12), robustness=0.99)  # rPC near 100
    before = sorted(entry_files(board))
    assert main(["submit", str(tiny), "--name", "Tiny", "--dir", str(board)]) == 2
    err = capsys.readouterr().err
    assert "evaluated 4 images, 12 persons, fewer than the full coco-c split (5,000 images (val2017))" in err
    assert "--subset" in err and sorted(entry_files(board)) == before

    assert main(["submit", str(tiny), "--name", "Tiny", "--dir", str(board), "--subset"]) == 0
    entry = json.loads(Path(capsys.readouterr().out.strip()).read_text())
    assert entry["subset"] is True and entry["origin"]["sample"] == {"images": 4, "persons": 12}
    assert check_dir(board).ok

    # a full run cannot pose as a subset, and an entry cannot drop its subset mark
    full = write_fake_results(tmp_path / "full.json")
    with pytest.raises(UserError, match="the full coco-c split; submit it without --subset"):
        submit(full, "Full", board, subset=True)
    tiny_entry = board / "coco-c" / "Tiny.json"
    _edit(tiny_entry, lambda e: e.__setitem__("subset", False))
    assert ("subset" in {p.field for p in check_dir(board).problems})
    _edit(tiny_entry, lambda e: e.__setitem__("subset", True))

    # rendered apart: not in the ranked COCO-C table, but in its own section with the sample size
    out = tmp_path / "site"
    render(board, out)
    md = (out / "LEADERBOARD.md").read_text("utf-8")
    ranked, rest = md.split("## COCO-C\n")[1].split("### COCO-C: subset runs")
    assert "| Tiny |" not in ranked and "| Tiny |" in rest.split("## MPII-C")[0]
    assert "4 images, 12 persons" in rest
    html = (out / "index.html").read_text("utf-8")
    assert html.count('data-name="Tiny"') == 1 and 'class="sortable subset"' in html


def test_mpii_and_unknown_sample_sizes(tmp_path):
    board = tmp_path / "board"
    mpii = write_fake_results(tmp_path / "mpii.json", dataset="mpii-c", sample=(None, 2958))
    assert load_entry(submit(mpii, "Full MPII", board)).data["subset"] is False
    part = write_fake_results(tmp_path / "mpii5.json", dataset="mpii-c", sample=(None, 5))
    with pytest.raises(UserError, match="5 persons, fewer than the full mpii-c split \\(2,958 persons"):
        submit(part, "Five", board)
    unknown = write_fake_results(tmp_path / "unknown.json", sample=(None, None))
    with pytest.raises(UserError, match="record no sample size"):
        submit(unknown, "Unknown", board)
    assert load_entry(submit(unknown, "Unknown", board, subset=True)).data["origin"]["sample"] == {
        "images": None, "persons": None}
    assert check_dir(board).ok
    # a dataset holding subset entries only still gets its own section, with the subset table under it
    render(board, tmp_path / "site")
    md = (tmp_path / "site" / "LEADERBOARD.md").read_text("utf-8")
    assert "## COCO-C\n\n### COCO-C: subset runs" in md and "sample size unknown" in md
    html = (tmp_path / "site" / "index.html").read_text("utf-8")
    assert "<h2>COCO-C</h2><h3>COCO-C: subset runs</h3>" in html.replace("\n", "")


def test_sample_size_is_counted_from_the_ground_truth_when_not_recorded(tmp_path, shared_dir):
    # results written before the count was recorded: the annotation file they cite gives it
    ann = shared_dir / "data/coco_sample/test_coco.json"
    from robustpose_bench.results import make_results, write_results
    from results_factory import make_rows

    res = tmp_path / "old.json"
    write_results(res, make_results("coco-c", make_rows("coco-c", 0.7, 0.7, 0), provenance={
        "model": {"sha256": "a" * 64}, "manifest_sha256": "b" * 64, "boxes": {"source": "gt", "sha256": None},
        "scorer": {"library": "pycocotools", "annotations": {"path": str(ann), "sha256": sha256_file(ann)}}}))
    with pytest.raises(UserError, match="evaluated 4 images, 12 persons"):
        submit(res, "Old", tmp_path / "board")


def test_box_source_is_recorded_by_name_and_sha256_never_a_path(tmp_path):
    board = tmp_path / "board"
    dets = tmp_path / "private" / "home" / "COCO_val2017_detections_AP_H_56_person.json"
    dets.parent.mkdir(parents=True)
    dets.write_text("[]")
    res = write_fake_results(tmp_path / "det.json", boxes={"source": str(dets), "sha256": sha256_file(dets)})
    entry = load_entry(submit(res, "Detections", board)).data
    assert entry["box_source"] == "detections: COCO_val2017_detections_AP_H_56_person.json"
    assert entry["origin"]["box_sha256"] == sha256_file(dets)
    assert str(tmp_path) not in (board / "coco-c" / "Detections.json").read_text()
    assert check_dir(board).ok

    # `score` results without boxes: --box-source names them, a file by its name and sha256
    from robustpose_bench.results import make_results, write_results
    from results_factory import make_rows

    scored = tmp_path / "scored.json"
    write_results(scored, make_results("coco-c", make_rows("coco-c", 0.7, 0.7, 0), provenance={
        "model": {"sha256": "a" * 64}, "manifest_sha256": "b" * 64,
        "data": {"num_images": 5000, "num_persons": 6352}}))
    entry = load_entry(submit(scored, "Scored", board, box_source=str(dets))).data
    assert entry["box_source"] == "detections: COCO_val2017_detections_AP_H_56_person.json"
    assert entry["origin"]["box_sha256"] == sha256_file(dets)
    # one label for a model that finds the persons itself; the older spelling is read as it
    for given in ("none", "none (bottom-up)", "one-stage"):
        assert load_entry(submit(scored, f"Bottom-up {given}", board, box_source=given)).data[
            "box_source"] == "none (one-stage)"

    # an entry holding a path is refused by the schema
    _edit(board / "coco-c" / "Scored.json", lambda e: e.__setitem__("box_source", str(dets)))
    assert "box_source" in {p.field for p in check_dir(board).problems}
    (board / "coco-c" / "Scored.json").unlink()

    # shown in every table and on the page
    out = tmp_path / "site"
    render(board, out)
    md = (out / "LEADERBOARD.md").read_text("utf-8")
    assert r"| detections: COCO\_val2017\_detections\_AP\_H\_56\_person.json |" in md
    assert "| none (one-stage) |" in md
    html = (out / "index.html").read_text("utf-8")
    assert ">detections: COCO_val2017_detections_AP_H_56_person.json<" in html


def test_paradigm_is_one_stage_or_top_down_and_the_older_bottom_up_is_read_as_one_stage(board, tmp_path):
    """One word for a model that finds the persons itself: submit writes it from the box source, the
    paper's bottom-up rows say it, and an entry written before ('bottom-up') still checks and renders."""
    from robustpose_bench.results import make_results, write_results
    from results_factory import make_rows

    scored = tmp_path / "scored.json"
    write_results(scored, make_results("coco-c", make_rows("coco-c", 0.7, 0.7, 0), provenance={
        "model": {"sha256": "a" * 64}, "manifest_sha256": "b" * 64, "data": {"num_images": 5000, "num_persons": 6352}}))
    assert load_entry(submit(scored, "One stage", board, box_source="none")).data["paradigm"] == "one-stage"
    assert load_entry(submit(scored, "Top down", board, box_source="gt")).data["paradigm"] == "top-down"
    paper = [load_entry(p).data for p in entry_files(paper_entries_dir())]
    assert {e["paradigm"] for e in paper} == {"top-down", "one-stage"}
    assert not [p for p in entry_files(paper_entries_dir()) if "bottom-up" in p.read_text()]

    old = board / "coco-c" / "PifPaf-ResNet-50_paper_Table_1.json"
    _edit(old, lambda e: e.__setitem__("paradigm", "bottom-up"))  # as entries said before
    assert check_dir(board).ok
    render(board, tmp_path / "site")
    rows = {r["name"]: r for r in _csv_rows_skipping_header(tmp_path / "site" / "leaderboard.csv")}
    assert rows["PifPaf-ResNet-50 (paper, Table 1)"]["paradigm"] == "one-stage"
    assert rows["One stage"]["paradigm"] == "one-stage" and rows["Top down"]["paradigm"] == "top-down"
    assert "bottom-up" not in (tmp_path / "site" / "leaderboard.csv").read_text("utf-8")

    _edit(old, lambda e: e.__setitem__("paradigm", "top-down"))  # contradicts its box source
    assert [(p.field, p.message) for p in check_dir(board).problems] == [
        ("paradigm", "'top-down' but box_source 'none (one-stage)' is one-stage")]


def _csv_rows_skipping_header(path: Path) -> list[dict]:
    """leaderboard.csv's rows (its first line is the do-not-edit comment)."""
    lines = path.read_text("utf-8").splitlines()[1:]
    return list(csv.DictReader(lines))


# ------------------------------------------------------------------------------------------------
# issue 10, item 12: names are text in every output format

HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
           "=HYPERLINK(\"http://evil.example\",\"x\")", "@SUM(1+1)", "+1+cmd", "-1+cmd",
           "\\input{/etc/passwd} 100% $x$"]


def test_rendered_outputs_escape_hostile_names(board, tmp_path):
    import csv as csvmod
    import re

    for i, name in enumerate(HOSTILE):
        res = write_fake_results(tmp_path / f"r{i}.json", seed=i, method=name)
        submit(res, name, board, backbone=name, architecture=name)
    # a reported entry with a javascript: URL
    _edit(board / "coco-c" / "HRNet-W32-256x192_paper_Table_1.json",
          lambda e: e["origin"].__setitem__("url", "javascript:alert(1)"))
    out = tmp_path / "site"
    render(board, out)

    md = (out / "LEADERBOARD.md").read_text("utf-8")
    assert "<script" not in md and "<img" not in md
    assert not re.search(r"(?<!\\)\]\(javascript:", md)

    html = (out / "index.html").read_text("utf-8")
    assert html.count("<script") == 1  # the page's own, inline script
    assert "<img" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    with open(out / "leaderboard.csv", newline="") as fh:
        next(fh)  # the generated-by comment
        cells = [c for row in csvmod.reader(fh) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells and "'@SUM(1+1)" in cells

    tex = (out / "leaderboard.tex").read_text("utf-8")
    assert "\\input{" not in tex and r"\textbackslash{}input\{/etc/passwd\} 100\% \$x\$" in tex


def test_non_standard_thresholds_are_marked_in_entries_and_checked(tmp_path):
    """eval run with a threshold other than HRNet's: the entry says so beside its name, on every page."""
    board = tmp_path / "board"
    res = write_fake_results(tmp_path / "r.json", config={"non_standard": ["oks_nms"], "oks_nms": 0.5})
    loose = submit(res, "Loose NMS", board)
    entry = load_entry(loose).data
    assert entry["non_standard"] == "non-standard: OKS-NMS 0.5"
    std = load_entry(submit(write_fake_results(tmp_path / "s.json", model_byte="c"), "Standard", board)).data
    assert "non_standard" not in std
    assert check_dir(board).ok
    render(board)
    page = (board / "LEADERBOARD.md").read_text()
    assert "| Loose NMS (non-standard: OKS-NMS 0.5) |" in page and page.count("non-standard") == 1
    _edit(loose, lambda e: e.pop("non_standard"))
    assert "non_standard" in {p.field for p in check_dir(board).problems}


def test_submit_name_labels_the_row_and_the_flip_setting_is_recorded_and_checked(tmp_path):
    """Issue 24: the Model column showed the spec name, not --name; nothing said a model was not flip-tested."""
    board = tmp_path / "board"
    res = write_fake_results(tmp_path / "r.json", method="movenet_lightning_int8", config={"flip": False})
    path = submit(res, "MoveNet Lightning int8", board)
    entry = load_entry(path).data
    assert entry["architecture"] == "MoveNet Lightning int8" and entry["flip"] is False
    assert check_dir(board).ok
    render(board)
    page = (board / "LEADERBOARD.md").read_text()
    assert "| MoveNet Lightning int8 (no flip) |" in page and "movenet_lightning_int8 |" not in page
    labelled = load_entry(submit(write_fake_results(tmp_path / "s.json", model_byte="c"), "Mine", board,
                                 architecture="SimpleBaseline", method="advmix")).data
    assert labelled["architecture"] == "SimpleBaseline"  # --architecture still wins
    _edit(path, lambda e: e.update(flip=True))
    assert "flip" in {p.field for p in check_dir(board).problems}


def test_a_refused_submit_leaves_nothing_and_says_it_in_one_short_line(board, tmp_path, capsys):
    """A 15,000-character name: refused by the schema in one bounded line, and no results copy is left
    behind in the leaderboard folder (issue 19)."""
    res = write_fake_results(tmp_path / "results.json", method="ToyNet")
    before = sorted(p for p in board.rglob("*") if p.is_file())
    assert main(["submit", str(res), "--name", "x" * 15000, "--method", "advmix", "--dir", str(board)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and len(err) < 1000 and "is not valid" in err, err[:300]
    assert sorted(p for p in board.rglob("*") if p.is_file()) == before
