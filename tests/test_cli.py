"""The command line as a user meets it: help, version, listing, and one-line errors."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from corruptions import CORRUPTIONS
from robustpose_bench import __version__
from robustpose_bench.cli import main


def test_list_corruptions_prints_every_corruption(capsys):
    assert main(["list", "corruptions"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["name", "family", "set"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows == {name: [c.family, c.set] for name, c in CORRUPTIONS.items()}


def test_list_corruptions_pattern_and_subset(capsys):
    assert main(["list", "corruptions", "*blur", "--subset", "benchmark"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()[1:]]
    assert names == ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"]


def test_console_script_version_and_help():
    out = subprocess.run([sys.executable, "-m", "robustpose_bench", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
    out = subprocess.run([sys.executable, "-m", "robustpose_bench", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("build", "verify", "download", "eval", "score", "table", "plot", "train", "export",
                    "submit", "leaderboard", "demo", "list"):
        assert command in out.stdout


@pytest.mark.parametrize("argv", [
    ["list", "corruptions", "--subset", "foggy"],
    ["table", "{missing}"],
    ["export", "{not_a_checkpoint}"],
    ["eval", "{missing}", "--dataset", "coco-c", "--data", "{tmp}"],
    ["build", "coco-c", "--root", "{missing}", "--data", "{tmp}"],
])
def test_user_mistakes_are_one_line_on_stderr(tmp_path, capsys, argv):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07 not a pickle")  # torch.load's own message for this spans many lines
    fill = {"{missing}": str(tmp_path / "absent.json"), "{not_a_checkpoint}": str(junk), "{tmp}": str(tmp_path)}
    assert main([fill.get(a, a) for a in argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith(f"robustpose-bench {argv[0]}: error: ") and "\n" not in err
    assert "Traceback" not in captured.err and captured.out == ""


def test_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    # e.g. an output folder the user may not write to: reported, not a traceback
    from robustpose_bench.commands import list_cmd

    def denied(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out"))

    monkeypatch.setattr(list_cmd, "run", denied)
    assert main(["list", "corruptions"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"robustpose-bench list: error: {tmp_path / 'out'}: Permission denied"


@pytest.mark.parametrize("argv, message", [
    (["eval", "model.onnx"], "robustpose-bench eval: error: one of the arguments --dataset --dataset-card is "
                             "required (see `robustpose-bench eval --help`)"),
    ([], "robustpose-bench: error: the following arguments are required: COMMAND (see `robustpose-bench --help`)"),
    (["build", "coco"], "robustpose-bench build: error: argument dataset: unknown dataset 'coco'; did you mean "
                        "coco-c?"),
    (["train", "--out", "x", "--lr", "fast"], "robustpose-bench train: error: argument --lr: invalid float value"),
    (["leaderboard", "verify", "e.json"], "robustpose-bench leaderboard verify: error: the following arguments "
                                          "are required: --model, --data"),
    (["verify", "coco-c", "--bogus"], "robustpose-bench verify: error: unrecognized arguments: --bogus "
                                        "(see `robustpose-bench verify --help`)"),
])
def test_usage_errors_are_one_line_with_a_hint(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith(message), err
    assert "--help`)" in err and "usage:" not in err and captured.out == ""


def test_console_script_usage_error_is_one_line():
    out = subprocess.run([sys.executable, "-m", "robustpose_bench", "score"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "(see `robustpose-bench score --help`)" in out.stderr, out.stderr


def test_eval_arg_mistakes_in_leaderboard_verify_are_one_line():
    from robustpose_bench.errors import UserError
    from robustpose_bench.leaderboard.verify import _eval_overrides

    with pytest.raises(UserError, match="unrecognized arguments: --no-such-flag") as info:
        _eval_overrides(["--no-such-flag"])
    assert "\n" not in str(info.value)
def _subparsers():
    from robustpose_bench.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


PIPELINE = ("download", "build", "verify", "inspect", "eval", "eval-external", "merge", "score", "table", "plot",
            "submit", "leaderboard", "train", "export", "demo", "list", "docs")


def test_help_lists_commands_in_pipeline_order_and_each_has_a_description():
    assert tuple(_subparsers()) == PIPELINE
    out = subprocess.run([sys.executable, "-m", "robustpose_bench", "--help"], capture_output=True, text=True).stdout
    positions = [re.search(rf"^    {re.escape(name)}(\s|$)", out, flags=re.M).start() for name in PIPELINE]
    assert positions == sorted(positions)
    for name, sub in _subparsers().items():
        assert sub.description and len(sub.description) > 40, f"`{name} --help` has no description"
    imp = next(a for a in _subparsers()["leaderboard"]._actions if a.dest == "leaderboard_command").choices
    csv_help = next(a.help for a in imp["import-paper"]._actions if a.dest == "csv")
    assert "columns" in csv_help and "paper" in csv_help  # says what the file is, not just a path
    verify_dataset = next(a for a in _subparsers()["verify"]._actions if a.dest == "dataset")
    from robustpose_bench.datasets.cards import list_datasets  # the names come from the card registry
    assert all(name in verify_dataset.help for name in list_datasets()) and verify_dataset.type("coco-c") == "coco-c"


def test_list_corruptions_with_no_match_says_so_and_suggests(capsys):
    assert main(["list", "corruptions", "gausian*"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no empty table
    assert captured.err.strip() == ("robustpose-bench list: no corruption matches 'gausian*'; "
                                    "did you mean gaussian_noise, gaussian_blur?")
    assert main(["list", "corruptions", "*blur", "--subset", "noise"]) == 1
    assert "in subset noise" in capsys.readouterr().err


def test_train_image_size_is_height_by_width_and_device_is_an_option(monkeypatch, tmp_path, capsys):
    import torch

    from robustpose_bench.advmix.trainer import pick_device
    from robustpose_bench.commands.train_cmd import parse_hxw
    from robustpose_bench.errors import UserError

    assert parse_hxw("256x192") == (256, 192)
    for bad in ("192 256", "256x190", "256", "x"):
        with pytest.raises(UserError, match="--image-size"):
            parse_hxw(bad)
    train = _subparsers()["train"]
    assert next(a for a in train._actions if a.dest == "image_size").metavar == "HxW"
    assert next(a for a in train._actions if a.dest == "device").choices == ("auto", "cpu", "cuda")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu" and pick_device("cpu").type == "cpu"
    with pytest.raises(UserError, match="no CUDA device"):
        pick_device("cuda")
