"""One spelling per idea across commands (issues 20 and 24): every old spelling is a one-line error, exit 2,
naming the new one; the shared parsers of --shard, --severities and --corruptions accept the same forms
in every command."""
from __future__ import annotations

import json

import pytest

from robustpose_bench.cli import main
from robustpose_bench.errors import UserError
from robustpose_bench.flag_values import parse_corruptions, parse_severities, parse_shard
from robustpose_bench.results import upgrade_config
from robustpose_bench.vocabulary import non_standard_text


def _run(capsys, argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv, old, new", [
    (["build", "synth-c", "--out", "{tmp}"], "--out", "--data"),
    (["verify", "synth-c", "--out", "{tmp}"], "--out", "--data"),
    (["eval", "m.onnx", "--dataset", "coco-c", "--workers", "2"], "--workers", "--jobs"),
    (["train", "--out", "{tmp}", "--workers", "2"], "--workers", "--jobs"),
    (["eval", "m.onnx", "--dataset", "coco-c", "--det-thre", "0.1"], "--det-thre", "--det-thr"),
    (["eval", "m.onnx", "--dataset", "coco-c", "--in-vis-thre", "0.1"], "--in-vis-thre", "--in-vis-thr"),
    (["eval", "m.onnx", "--dataset", "coco-c", "--oks-thre", "0.5"], "--oks-thre", "--oks-thr"),
])
def test_old_spellings_are_one_line_errors_naming_the_new_one(capsys, tmp_path, argv, old, new):
    argv = [a.replace("{tmp}", str(tmp_path / "x")) for a in argv]
    rc, out, err = _run(capsys, argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{old} is now {new}" in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("command", ["eval", "eval-external"])
def test_space_separated_corruptions_get_the_comma_form(capsys, command):
    head = [command, "m.onnx"] if command == "eval" else [command]
    tail = [] if command == "eval" else ["--", "predict", "{images}", "{out}"]
    rc, _, err = _run(capsys, [*head, "--dataset", "coco-c", "--corruptions", "snow", "fog", *tail])
    assert rc == 2 and err.count("\n") == 1
    assert "--corruptions takes one comma-separated list: --corruptions snow,fog" in err, err
    rc, _, err = _run(capsys, [*head, "--dataset", "coco-c", "--severities=1", "3", "5", *tail])
    assert rc == 2 and "--severities takes one comma-separated list: --severities 1,3,5" in err, err


def test_other_leftovers_are_still_unrecognized(capsys):
    rc, _, err = _run(capsys, ["eval", "m.onnx", "--dataset", "coco-c", "stray"])
    assert rc == 2 and "unrecognized arguments: stray" in err


@pytest.mark.parametrize("command", ["build", "eval"])
def test_unknown_corruption_names_the_closest(capsys, tmp_path, command):
    argv = (["build", "synth-c", "--data", tmp_path / "d", "--synth-count", "1", "--corruptions", "snow,fgo"]
            if command == "build" else ["eval", tmp_path / "m.onnx", "--dataset", "synth-c", "--corruptions", "snow,fgo"])
    rc, _, err = _run(capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "--corruptions" in err and "did you mean fog" in err, err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("command", ["build", "eval"])
@pytest.mark.parametrize("value, needle", [("0-6", "within 1..5"), ("x", "1-5, 3 or 1,3,5"), ("6", "within 1..5"),
                                           ("", "1-5, 3 or 1,3,5")])
def test_bad_severities_are_the_same_error_in_build_and_eval(capsys, tmp_path, command, value, needle):
    argv = (["build", "synth-c", "--data", tmp_path / "d", "--synth-count", "1", "--severities", value]
            if command == "build" else ["eval", tmp_path / "m.onnx", "--dataset", "synth-c", "--severities", value])
    rc, _, err = _run(capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "--severities" in err and needle in err, err


@pytest.mark.parametrize("command", ["build", "eval"])
def test_shard_zero_is_the_old_numbering(capsys, tmp_path, command):
    argv = (["build", "synth-c", "--data", tmp_path / "d", "--shard", "0/4"] if command == "build" else
            ["eval", tmp_path / "m.onnx", "--dataset", "synth-c", "--shard", "0/4", "-o", tmp_path / "r.json"])
    rc, _, err = _run(capsys, argv)
    assert rc == 2 and err.count("\n") == 1
    assert "--shard: shards are numbered 1..N (as in eval and merge); --shard 0/4 is now --shard 1/4" in err, err
    assert list(tmp_path.iterdir()) == []


def test_shared_parsers():
    assert parse_shard(None) is None and parse_shard("1/4") == (1, 4) and parse_shard("4/4") == (4, 4)
    for bad in ("0/4", "5/4", "1/0", "a/b", "2", "1/2/3"):
        with pytest.raises(UserError, match="--shard"):
            parse_shard(bad)
    assert parse_severities("1-5") == (1, 2, 3, 4, 5)
    assert parse_severities("3") == (3,)
    assert parse_severities("5,1,3") == (1, 3, 5)
    assert parse_severities("1-2,5") == (1, 2, 5)
    for bad in ("0", "6", "1-6", "3-1", "1-99999999999", "a", "", "1,,x"):
        with pytest.raises(UserError, match="--severities"):
            parse_severities(bad)
    assert parse_corruptions("fog,snow") == ("snow", "fog")  # registry order, whatever was typed
    assert len(parse_corruptions("benchmark")) == 15 and len(parse_corruptions("all")) == 19
    assert len(parse_corruptions("validation")) == 4
    with pytest.raises(UserError, match="did you mean fog"):
        parse_corruptions("fgo")
    with pytest.raises(UserError, match="--corruptions is empty"):
        parse_corruptions(" , ")


def test_the_api_takes_the_command_line_forms(tmp_path):
    from robustpose_bench import evaluate

    with pytest.raises(UserError, match="corruptions: unknown corruption 'fgo'"):
        evaluate(tmp_path / "m.onnx", "synth-c", corruptions="fgo")
    with pytest.raises(UserError, match="severities must be within 1..5"):
        evaluate(tmp_path / "m.onnx", "synth-c", severities="0-6")


def test_old_threshold_keys_of_results_files_are_still_read():
    old = {"det_thre": 0.0, "in_vis_thre": 0.3, "oks_nms": 0.5, "non_standard": ["in_vis", "oks_nms"]}
    new = upgrade_config(old)
    assert new == {"det_thr": 0.0, "in_vis_thr": 0.3, "oks_thr": 0.5, "non_standard": ["in_vis_thr", "oks_thr"]}
    assert non_standard_text(old) == non_standard_text(new) == "non-standard: keypoint threshold 0.3, OKS-NMS 0.5"
    assert old["oks_nms"] == 0.5  # the caller's dict is left alone


def test_shard_files_keep_their_first_numbering(capsys, tmp_path):
    """--shard 1/2 writes the files `--shard 0/2` wrote when build counted from 0, so a partial build begun
    then completes with the new numbering (and merges into the unsharded build's manifest)."""
    common = ["build", "synth-c", "--synth-count", "3", "--corruptions", "contrast", "--severities", "1",
              "--jobs", "1", "--no-progress"]
    assert _run(capsys, [*common, "--data", tmp_path / "whole"])[0] == 0
    assert _run(capsys, [*common, "--data", tmp_path / "sh", "--shard", "1/2"])[0] == 0
    ds = tmp_path / "sh" / "synth-c"
    part = json.loads((ds / "manifest.shard-0-of-2.json").read_text())
    assert part["selection"]["shard"] == [0, 2] and (ds / "build_info.shard-0-of-2.json").is_file()
    rc, out, _ = _run(capsys, [*common, "--data", tmp_path / "sh", "--shard", "2/2"])
    assert rc == 0 and "merged shards" in out
    assert (ds / "manifest.json").read_bytes() == (tmp_path / "whole" / "synth-c" / "manifest.json").read_bytes()


def test_train_jobs_is_named_by_its_flag(capsys, tmp_path):
    rc, _, err = _run(capsys, ["train", "--out", tmp_path / "t", "--jobs", "-1"])
    assert rc == 2 and err.count("\n") == 1 and "--jobs must be an integer >= 0" in err, err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("command", ["build", "verify"])
def test_build_and_verify_take_dataset_as_eval_does(capsys, tmp_path, command):
    """``--dataset NAME`` is the dataset in every command; build and verify also take it as their subject
    (``build synth-c``). Before, ``build --dataset synth-c`` was argparse's abbreviation of --dataset-card."""
    data = tmp_path / "data"
    if command == "verify":
        assert _run(capsys, ["build", "synth-c", "--synth-count", 2, "--corruptions", "fog", "--severities", 1,
                             "--data", data, "--jobs", 1, "--no-progress"])[0] == 0
    extra = ["--synth-count", 2, "--corruptions", "fog", "--severities", 1] if command == "build" else []
    runs = [_run(capsys, [command, *form, *extra, "--data", data, "--jobs", 1, "--no-progress"])
            for form in (["--dataset", "synth-c"], ["synth-c"])]
    assert [r[0] for r in runs] == [0, 0], runs
    assert (data / "synth-c" / "manifest.json").is_file()
    # the same dataset both ways: the positional build finds the --dataset build's outputs done
    assert ("(0 written," in runs[1][1]) if command == "build" else all("synth-c: OK" in r[1] for r in runs), runs
    rc, out, err = _run(capsys, [command, "synth-c", "--dataset", "synth-c", "--data", data])
    assert rc == 2 and err.count("\n") == 1 and "not allowed with" in err, err
    rc, out, err = _run(capsys, [command, "--dataset", "synthc", "--data", data])
    assert rc == 2 and err.count("\n") == 1 and "synth-c" in err, err
