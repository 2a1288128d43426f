"""Issue 19, classes 3, 6 and 7 (and eval-external's share of 2, 4, 5, 9): the user's command runs in
its own process group, killed as a group; on inputs checked after every condition; with a bounded
stderr tail; and placeholders can never become shell code.

Each test reproduces a case of the issue's sweep; before the fix each lost data, hung, leaked a
process or ran injected code.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from cli_helpers import build_coco_sample, run_cli
from test_eval_external import PREDICTOR


@pytest.fixture(scope="module")
def small(shared_dir, tmp_path_factory) -> dict:
    """COCO-C of the shared sample at one condition (motion_blur 1), plus clean: 2 conditions."""
    b = build_coco_sample(shared_dir, tmp_path_factory.mktemp("ext"), "--corruptions", "motion_blur",
                          "--severities", "1", "--jobs", "1")
    scripts = tmp_path_factory.mktemp("scripts")
    b["script"] = scripts / "predict.py"
    b["script"].write_text(PREDICTOR)
    return b


def _argv(b: dict, work: Path, *extra, command=None) -> list:
    cmd = command or [sys.executable, b["script"], "{images}", "{ann}", "{out}"]
    return ["eval-external", "--dataset", "coco-c", "--images", b["images"], "--ann", b["ann"], "--data", b["data"],
            "--corruptions", "motion_blur", "--severities", "1", "--partial", "-o", work / "results.json",
            "--no-progress", *extra, "--", *cmd]


def _script(folder: Path, name: str, body: str) -> Path:
    """A predictor that writes good predictions (PREDICTOR), then does ``body``."""
    p = folder / name
    p.write_text(PREDICTOR + "\n" + body)
    return p


def _one_line(rc: int, err: str, *words: str) -> None:
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


def _dead(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_command_that_writes_into_its_inputs_fails_in_one_line(shared_dir, small, tmp_path):
    """The command got the real folders and destroyed the sources; later evals ran on the damage."""
    images = tmp_path / "images"
    import shutil

    shutil.copytree(small["images"], images, ignore=shutil.ignore_patterns("*.json"))
    vandal = _script(tmp_path, "vandal.py", "Path(images, 'extra.jpg').write_bytes(b'x')\n")
    b = dict(small, images=images)
    rc, _, err = run_cli(*_argv(b, tmp_path / "w", command=[sys.executable, vandal, "{images}", "{ann}", "{out}"]))
    _one_line(rc, err, "condition clean", "changed its inputs", "extra.jpg was added")
    assert not (tmp_path / "w" / "results.json").exists()
    assert not (tmp_path / "w" / "predictions" / "clean" / "condition.json").exists()  # not taken as done


def test_a_child_left_holding_stderr_does_not_stall_and_is_killed(small, tmp_path):
    pidfile = tmp_path / "child.pid"
    body = (f"import subprocess\np = subprocess.Popen(['sleep', '120'], stderr=sys.stderr)\n"
            f"Path({str(pidfile)!r}).write_text(str(p.pid))\n")
    leaver = _script(tmp_path, "leaver.py", body)
    t0 = time.monotonic()
    rc, _, err = run_cli(*_argv(small, tmp_path / "w", command=[sys.executable, leaver, "{images}", "{ann}", "{out}"]))
    assert rc == 0, err
    assert time.monotonic() - t0 < 60  # each of the 2 conditions used to wait for the child's 120 s
    assert _dead(int(pidfile.read_text()))


def test_timeout_kills_the_whole_group(small, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    body = (f"import subprocess, time\np = subprocess.Popen(['sleep', '120'])\n"
            f"Path({str(pidfile)!r}).write_text(str(p.pid))\ntime.sleep(120)\n")
    slow = _script(tmp_path, "slow.py", body)
    rc, _, err = run_cli(*_argv(small, tmp_path / "w", "--timeout", "3",
                                command=[sys.executable, slow, "{images}", "{ann}", "{out}"]))
    _one_line(rc, err, "timed out after 3 s")
    assert _dead(int(pidfile.read_text()))


def test_sigterm_to_the_driver_takes_the_predictor_with_it(small, tmp_path):
    pidfile, late = tmp_path / "pred.pid", tmp_path / "w" / "predictions" / "late.txt"
    body = (f"import os, time\nPath({str(pidfile)!r}).write_text(str(os.getpid()))\ntime.sleep(8)\n"
            f"Path({str(late)!r}).write_text('written after the driver ended')\n")
    slow = _script(tmp_path, "late.py", body)
    args = [sys.executable, "-m", "robustpose_bench",
            *map(str, _argv(small, tmp_path / "w", command=[sys.executable, slow, "{images}", "{ann}", "{out}"]))]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert _dead(int(pidfile.read_text()))
    time.sleep(9)  # the predictor would have written by now
    assert not late.exists()


def test_stderr_is_kept_as_a_bounded_tail(tmp_path):
    from robustpose_bench.evaluation.external import STDERR_TAIL_BYTES, _Tail, run_condition

    r, w = os.pipe()
    reader = _Tail(os.fdopen(r, "rb"))
    sizes = []
    with os.fdopen(w, "wb") as fh:
        for _ in range(200):
            fh.write(b"x" * 65535 + b"\n")  # 12.8 MB in all
            sizes.append(len(reader._buf))
        fh.write(b"the last line\n")
    text = reader.text(wait_s=10)
    assert len(text.encode()) <= STDERR_TAIL_BYTES and text.endswith("the last line\n")
    assert max(sizes) <= 2 * STDERR_TAIL_BYTES + 65536
    rc, last = run_condition([sys.executable, "-c", "import sys\nfor _ in range(300): sys.stderr.write('y' * 100000)\n"
                              "sys.stderr.write('\\nfinal words\\n')"], None, {})
    assert (rc, last) == (0, "final words")


def test_a_folder_at_out_fails_one_condition_and_blocks_nothing(small, tmp_path):
    rc, _, err = run_cli(*_argv(small, tmp_path / "w", command=[sys.executable, "-c",
                                                                 "import os, sys; os.mkdir(sys.argv[2])", "{images}",
                                                                 "{out}"]))
    _one_line(rc, err, "a folder or link, not a file, (removed)")
    rc, _, err = run_cli(*_argv(small, tmp_path / "w", "--overwrite"))
    assert rc == 0, err


def test_invalid_predictions_are_kept_under_the_name_the_error_gives(small, tmp_path):
    """Class 9: the error named our temp file, removed before the user could look at it."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nopen(sys.argv[2], 'w').write('[{\"image_id\": 1}]')\n")
    cmd = [sys.executable, bad, "{images}", "{out}"]
    rc, _, err = run_cli(*_argv(small, tmp_path / "w", command=cmd))
    _one_line(rc, err, "wrote invalid predictions (kept as ")
    kept = Path(err.split("(kept as ", 1)[1].split("):", 1)[0])
    assert kept.is_file() and kept.read_text() == '[{"image_id": 1}]' and str(kept) in err.split("): ", 1)[1]
    rc, _, err = run_cli(*_argv(small, tmp_path / "w", "--overwrite"))
    assert rc == 0, err
    assert not kept.exists()  # a later run of that condition clears it


def test_placeholders_never_become_shell_code(small, tmp_path, monkeypatch):
    import shutil

    monkeypatch.chdir(tmp_path)
    images = tmp_path / 'x;$(touch PWNED)"' / "clean"
    shutil.copytree(small["images"], images, ignore=shutil.ignore_patterns("*.json"))
    script = f'{sys.executable} {small["script"]} "{{images}}" "{{ann}}" "{{out}}"; touch $(basename "{{out}}").seen'
    rc, _, err = run_cli(*_argv(dict(small, images=images), tmp_path / "w", command=["sh", "-c", script]))
    assert rc == 0, err
    assert not list(tmp_path.rglob("PWNED")), "a folder name ran as shell code"
    assert (tmp_path / ".results.json.external.seen").exists()  # the script itself ran, values expanded
    res = json.loads((tmp_path / "w" / "results.json").read_text())
    assert set(res["config"]["conditions"]) == {"clean", "motion_blur/1"}


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "0", "-1"])
def test_timeout_values_outside_a_sane_range_are_one_line(small, tmp_path, value):
    _one_line(*run_cli(*_argv(small, tmp_path / "w", "--timeout", value))[::2], "--timeout must be")


def test_outputs_never_overwrite_the_annotation_the_script_or_the_build(small, tmp_path):
    import shutil

    ann = tmp_path / "ann.json"
    shutil.copyfile(small["ann"], ann)
    script = tmp_path / "predict.py"
    shutil.copyfile(small["script"], script)
    keep = {p: p.read_bytes() for p in (ann, script, small["data"] / "coco-c" / "manifest.json")}
    b = dict(small, ann=ann, script=script)
    cases = ((["-o", ann], "is the annotation file"), (["-o", script], "a file the command names"),
             (["-o", tmp_path / "r.json", "--predictions-out", small["data"] / "coco-c" / "p"],
              "inside the build folder"))
    for extra, words in cases:
        argv = [a for a in _argv(b, tmp_path / "w") if a not in ("-o", tmp_path / "w" / "results.json")]
        i = argv.index("--")
        _one_line(*run_cli(*argv[:i], *extra, *argv[i:])[::2], *words)
    assert {p: p.read_bytes() for p in keep} == keep


def test_boxes_and_the_script_content_are_part_of_the_identity(small, tmp_path):
    import shutil

    script = tmp_path / "predict.py"
    shutil.copyfile(small["script"], script)
    b = dict(small, script=script)
    assert run_cli(*_argv(b, tmp_path / "w", "--boxes", "gt"))[0] == 0
    _one_line(*run_cli(*_argv(b, tmp_path / "w", "--boxes", "none"))[::2], "another run's predictions", "boxes")
    script.write_text(PREDICTOR.replace("0.9", "0.8"))
    _one_line(*run_cli(*_argv(b, tmp_path / "w", "--boxes", "gt"))[::2], "another run's predictions",
              "command_files")
